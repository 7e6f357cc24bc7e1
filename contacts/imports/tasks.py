"""django-q2 tasks of contact imports: staging and applying in time-boxed runs, and their sweepers.

A file of 100,000 rows takes longer than django-q2 lets one task run (``Q_CLUSTER["timeout"]``),
so each task works chunk by chunk for ``CONTACT_IMPORT_TASK_SECONDS``, then queues a fresh task
for the rest and returns. Every chunk commits on its own (``staging.stage_chunk``,
``applying.apply_chunk``) and the import's ``heartbeat_at`` moves with it.

**One task per import at a time.** A task *claims* the import with a conditional UPDATE of
``heartbeat_at``: it succeeds only when no task holds the import's lease (no heartbeat, or one
older than ``lease()``). A second task for the same import — queued twice, or woken by the
sweeper while the first still runs — finds the lease taken and returns without doing anything.
A task handing on releases the lease (its heartbeat set back by a lease) so the task it queues can
claim at once.

**Crashes.** A worker killed mid-chunk loses only that chunk's transaction: the rows it had not
committed are still unapplied (or unstaged). Its heartbeat stops, and after the lease
``import_resume_stalled`` (every minute) queues a task that claims the import and carries on.
An unexpected error while staging fails the import (``FAILED``, the error kept: staging is
started again by uploading the file again); while applying, the import stays ``APPLYING`` with the
error noted and is retried after the lease: the file's rows are half applied, and stopping there
would leave it so without anyone resuming it.

**Retention.** ``import_files_purge`` (daily) deletes uploaded files older than
``CONTACT_IMPORT_FILE_RETENTION_DAYS``; the import keeps the name and SHA-256 and records when the
bytes went.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from contacts.imports import staging, validation
from contacts.imports.applying import apply_chunk
from contacts.models import ContactImport, ImportFile, ImportStatus
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

STAGE_TASK = "contacts.imports.tasks.import_stage"
APPLY_TASK = "contacts.imports.tasks.import_apply"
RESUME_SCHEDULE_NAME = "imports: resume stalled imports"
RESUME_EVERY_MINUTES = 1
PURGE_SCHEDULE_NAME = "imports: delete uploaded files past retention"
SYSTEM = Actor.system("imports")


def lease() -> timedelta:
    """How long a heartbeat holds an import for its task: two task budgets and a margin, so a
    slow chunk at the end of a run is never mistaken for a dead worker."""
    return timedelta(seconds=2 * settings.CONTACT_IMPORT_TASK_SECONDS + 30)


def enqueue_stage(import_id: int) -> None:
    async_task(STAGE_TASK, import_id, task_name=f"import {import_id}: stage", group="imports")


def enqueue_apply(import_id: int) -> None:
    async_task(APPLY_TASK, import_id, task_name=f"import {import_id}: apply", group="imports")


def import_stage(import_id: int) -> str:
    """Stage the import's file chunk by chunk, then validate it (PREVIEW); hands on when out of time."""
    contact_import = _claim(import_id, ImportStatus.STAGING)
    if contact_import is None:
        return f"import {import_id}: not staging, or another task has it"
    deadline = time.monotonic() + settings.CONTACT_IMPORT_TASK_SECONDS
    try:
        while not staging.stage_chunk(contact_import=contact_import):
            if time.monotonic() >= deadline:
                _hand_on(contact_import, enqueue_stage)
                return f"import {import_id}: staging, handed on"
            _heartbeat(contact_import)
        validation.validate_import(contact_import=contact_import)
    except Exception as exc:
        _staging_failed(contact_import, exc)
        return f"import {import_id}: failed"
    return f"import {import_id}: staged and validated"


def import_apply(import_id: int) -> str:
    """Apply the confirmed import chunk by chunk until it is APPLIED; hands on when out of time."""
    contact_import = _claim(import_id, ImportStatus.APPLYING)
    if contact_import is None:
        return f"import {import_id}: not applying, or another task has it"
    deadline = time.monotonic() + settings.CONTACT_IMPORT_TASK_SECONDS
    try:
        while not apply_chunk(contact_import=contact_import):
            if time.monotonic() >= deadline:
                _hand_on(contact_import, enqueue_apply)
                return f"import {import_id}: applying, handed on"
    except Exception as exc:
        # Chunks applied so far stay (each committed with its rows' applied flags); the failed one
        # rolled back. Kept APPLYING: the sweeper retries after the lease, from the first unapplied row.
        logger.exception("Applying import %s failed; it is retried after the lease", import_id)
        ContactImport.objects.filter(pk=import_id, status=ImportStatus.APPLYING).update(
            error=_describe(exc, "applying the rows") + " It is retried automatically.",
            heartbeat_at=timezone.now(),
        )
        return f"import {import_id}: failed, retried later"
    return f"import {import_id}: applied"


def import_resume_stalled() -> str:
    """Scheduled: queue a task for every staging or applying import that no task holds.

    That is an import whose worker died (its heartbeat older than the lease) or whose queued task
    never ran. A duplicate — a task is queued already — finds the lease taken and returns.
    """
    stale = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=timezone.now() - lease())
    stalled = list(
        ContactImport.objects.filter(stale, status__in=[ImportStatus.STAGING, ImportStatus.APPLYING])
        .order_by("pk")
        .values_list("pk", "status")
    )
    for import_id, status in stalled:
        (enqueue_stage if status == ImportStatus.STAGING else enqueue_apply)(import_id)
    return f"{len(stalled)} stalled import(s) resumed"


def import_files_purge() -> str:
    """Scheduled daily: delete uploaded files older than the retention period.

    Skips an import still staging (it is reading its file; the next day's run takes it). The
    staged rows, the counts and the file's name and hash stay; ``file_purged_at`` says when the
    bytes went, and the activity log has one entry per import. The imports are locked while their
    files go (``import_set_mapping`` takes the same lock), so a mapping saved at that moment
    either starts staging first — and the file stays — or is told the file is gone; an import
    someone holds is left for the next run.
    """
    now = timezone.now()
    cutoff = now - timedelta(days=settings.CONTACT_IMPORT_FILE_RETENTION_DAYS)
    with transaction.atomic():
        expired = list(
            ContactImport.objects.select_for_update(skip_locked=True)
            .filter(created_at__lt=cutoff, file_purged_at__isnull=True)
            .exclude(status=ImportStatus.STAGING)
            .order_by("pk")
        )
        if not expired:
            return "no file past retention"
        ids = [contact_import.pk for contact_import in expired]
        ImportFile.objects.filter(contact_import_id__in=ids).delete()
        ContactImport.objects.filter(pk__in=ids).update(file_purged_at=now)
    for contact_import in expired:
        log_activity(
            actor=SYSTEM,
            action="import.file_purged",
            obj=contact_import,
            details={
                "file_name": contact_import.file_name,
                "file_sha256": contact_import.file_sha256,
                "retention_days": settings.CONTACT_IMPORT_FILE_RETENTION_DAYS,
            },
        )
    return f"{len(ids)} file(s) deleted"


def _claim(import_id: int, status: str) -> ContactImport | None:
    """Take the import's lease (a conditional UPDATE of its heartbeat); None when not ours to run."""
    now = timezone.now()
    free = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - lease())
    if not ContactImport.objects.filter(free, pk=import_id, status=status).update(heartbeat_at=now):
        return None
    return ContactImport.objects.get(pk=import_id)


def _heartbeat(contact_import: ContactImport) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(heartbeat_at=timezone.now())


def _hand_on(contact_import: ContactImport, enqueue) -> None:
    """Release the lease and queue the next task, which claims the import at once."""
    released = timezone.now() - lease() - timedelta(seconds=1)
    ContactImport.objects.filter(pk=contact_import.pk).update(heartbeat_at=released)
    enqueue(contact_import.pk)


def _staging_failed(contact_import: ContactImport, exc: Exception) -> None:
    if not isinstance(exc, ApplicationError):
        logger.exception("Staging import %s failed", contact_import.pk)
    error = _describe(exc, "checking the rows")
    failed = ContactImport.objects.filter(pk=contact_import.pk, status=ImportStatus.STAGING).update(
        status=ImportStatus.FAILED, error=error, phase="", finished_at=timezone.now()
    )
    if failed:
        log_activity(actor=SYSTEM, action="import.failed", obj=contact_import, details={"error": error})


def _describe(exc: Exception, doing: str) -> str:
    """The error as staff read it: a refusal's own sentence, or what failed and the error's type."""
    if isinstance(exc, ApplicationError):
        return exc.message
    return f"An unexpected error stopped {doing}: {type(exc).__name__}: {exc}"[:2000]
