"""The import's tasks: time-boxed runs that hand on, one task per import, failures, the sweepers."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from contacts.imports import tasks
from contacts.imports.services import import_abandon
from contacts.models import (
    ActivityLogEntry,
    ConsentEvent,
    Contact,
    ContactImport,
    ImportFile,
    ImportRow,
    ImportStatus,
    Purpose,
)
from core.actors import Actor
from tests.contacts.imports.test_applying import confirm, consent_mapping, plain_import, staged_import
from tests.factories import make_wording

pytestmark = pytest.mark.django_db

CSV = "phone,first_name\n" + "".join(f"+49151000000{n:02d},P{n}\n" for n in range(5))


@pytest.fixture
def queued(monkeypatch):
    """The tasks queued, as (task, import id), instead of django-q2's queue."""
    calls = []
    monkeypatch.setattr(tasks, "async_task", lambda func, import_id, **kw: calls.append((func, import_id)))
    return calls


@pytest.fixture
def clock(monkeypatch):
    """A monotonic clock that jumps a minute at each look: every task runs out of time at once."""
    now = [0.0]

    def monotonic():
        now[0] += 60.0
        return now[0]

    monkeypatch.setattr(tasks.time, "monotonic", monotonic)


def staging_import(editor, text=CSV) -> ContactImport:
    """An import mapped and waiting for its staging task (status STAGING, no rows yet)."""
    contact_import = plain_import(editor, text)
    ImportRow.objects.filter(contact_import=contact_import).delete()
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ImportStatus.STAGING, counts={}, progress_done=0, heartbeat_at=None
    )
    return contact_import


def applying_import(editor, text=CSV) -> ContactImport:
    contact_import = plain_import(editor, text)
    confirm(contact_import, editor)
    return contact_import


def test_staging_runs_to_the_preview(editor, queued):
    contact_import = staging_import(editor)
    assert tasks.import_stage(contact_import.pk) == f"import {contact_import.pk}: staged and validated"
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW
    assert contact_import.counts["new"] == 5
    assert queued == []


def test_staging_out_of_time_hands_on_to_a_task_that_claims_at_once(editor, settings, queued, clock):
    settings.CONTACT_IMPORT_CHUNK_ROWS = 2
    contact_import = staging_import(editor)
    assert "handed on" in tasks.import_stage(contact_import.pk)
    assert queued == [(tasks.STAGE_TASK, contact_import.pk)]
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.STAGING
    assert ImportRow.objects.filter(contact_import=contact_import).count() == 2
    assert contact_import.heartbeat_at < timezone.now() - tasks.lease()  # released
    while "handed on" in tasks.import_stage(contact_import.pk):
        pass
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.PREVIEW
    assert len(queued) == 2  # three tasks: rows 1-2 and 3-4 hand on, the third stages 5 and validates


def test_applying_out_of_time_hands_on(editor, settings, queued, clock):
    settings.CONTACT_IMPORT_CHUNK_ROWS = 2
    contact_import = applying_import(editor)
    queued.clear()
    assert "handed on" in tasks.import_apply(contact_import.pk)
    assert queued == [(tasks.APPLY_TASK, contact_import.pk)]
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.progress_done) == (ImportStatus.APPLYING, 2)
    while "handed on" in tasks.import_apply(contact_import.pk):
        pass
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.progress_done) == (ImportStatus.APPLIED, 5)
    assert Contact.objects.count() == 5


def test_a_second_task_for_a_running_import_backs_off(editor, queued):
    contact_import = applying_import(editor)
    # Another worker holds the import: its heartbeat is fresh.
    ContactImport.objects.filter(pk=contact_import.pk).update(heartbeat_at=timezone.now())
    assert "another task has it" in tasks.import_apply(contact_import.pk)
    assert not Contact.objects.exists()
    contact_import.refresh_from_db()
    assert contact_import.progress_done == 0
    # Once its lease has run out (the worker died), a task takes over.
    ContactImport.objects.filter(pk=contact_import.pk).update(
        heartbeat_at=timezone.now() - tasks.lease() - timedelta(seconds=1)
    )
    assert tasks.import_apply(contact_import.pk) == f"import {contact_import.pk}: applied"
    assert Contact.objects.count() == 5


def test_tasks_run_twice_do_nothing_twice(editor, queued):
    contact_import = applying_import(editor)
    tasks.import_apply(contact_import.pk)
    assert "not applying" in tasks.import_apply(contact_import.pk)
    assert "not staging" in tasks.import_stage(contact_import.pk)
    assert Contact.objects.count() == 5
    assert ActivityLogEntry.objects.filter(action="import.applied").count() == 1


def test_an_unexpected_error_while_staging_fails_the_import(editor, queued, monkeypatch):
    contact_import = staging_import(editor)

    def broken(**kwargs):
        raise ValueError("disk on fire")

    monkeypatch.setattr(tasks.staging, "stage_chunk", broken)
    assert tasks.import_stage(contact_import.pk) == f"import {contact_import.pk}: failed"
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.FAILED
    assert contact_import.error == "An unexpected error stopped checking the rows: ValueError: disk on fire"
    assert contact_import.finished_at is not None
    entry = ActivityLogEntry.objects.get(action="import.failed")
    assert entry.details == {"error": contact_import.error}


def test_an_error_while_applying_keeps_the_import_applying_and_it_resumes(editor, queued, monkeypatch):
    contact_import = applying_import(editor)

    def broken(**kwargs):
        raise RuntimeError("deadlock detected")

    monkeypatch.setattr(tasks, "apply_chunk", broken)
    assert "retried later" in tasks.import_apply(contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.APPLYING
    assert "RuntimeError: deadlock detected" in contact_import.error
    # Not stalled yet: the sweeper leaves it for a lease, then resumes it.
    queued.clear()
    tasks.import_resume_stalled()
    assert queued == []
    ContactImport.objects.filter(pk=contact_import.pk).update(
        heartbeat_at=timezone.now() - tasks.lease() - timedelta(seconds=1)
    )
    tasks.import_resume_stalled()
    assert queued == [(tasks.APPLY_TASK, contact_import.pk)]
    monkeypatch.undo()
    assert tasks.import_apply(contact_import.pk) == f"import {contact_import.pk}: applied"
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.error) == (ImportStatus.APPLIED, "")


def test_the_sweeper_resumes_imports_no_task_holds(editor, queued):
    stale = timezone.now() - tasks.lease() - timedelta(seconds=1)
    staging_dead = staging_import(editor)
    ContactImport.objects.filter(pk=staging_dead.pk).update(heartbeat_at=stale)
    staging_never_started = staging_import(editor)  # no heartbeat: its task never ran
    applying_dead = applying_import(editor)
    ContactImport.objects.filter(pk=applying_dead.pk).update(heartbeat_at=stale)
    applying_alive = applying_import(editor)
    ContactImport.objects.filter(pk=applying_alive.pk).update(heartbeat_at=timezone.now())
    previewed = plain_import(editor, CSV)
    ContactImport.objects.filter(pk=previewed.pk).update(heartbeat_at=stale)
    queued.clear()

    assert tasks.import_resume_stalled() == "3 stalled import(s) resumed"
    assert sorted(queued) == sorted(
        [
            (tasks.STAGE_TASK, staging_dead.pk),
            (tasks.STAGE_TASK, staging_never_started.pk),
            (tasks.APPLY_TASK, applying_dead.pk),
        ]
    )


def test_files_past_retention_are_deleted_and_the_import_says_when(editor, settings, queued):
    settings.CONTACT_IMPORT_FILE_RETENTION_DAYS = 30
    old = plain_import(editor, CSV)
    recent = plain_import(editor, CSV)
    old_staging = staging_import(editor)
    long_ago = timezone.now() - timedelta(days=31)
    ContactImport.objects.filter(pk__in=[old.pk, old_staging.pk]).update(created_at=long_ago)

    assert tasks.import_files_purge() == "1 file(s) deleted"
    old.refresh_from_db()
    assert old.file_purged_at is not None
    assert not ImportFile.objects.filter(contact_import=old).exists()
    assert old.file_sha256 and old.file_name == "customers.csv"  # the record stays
    assert ImportRow.objects.filter(contact_import=old).count() == 5
    assert ImportFile.objects.filter(contact_import__in=[recent, old_staging]).count() == 2
    entry = ActivityLogEntry.objects.get(action="import.file_purged")
    assert (entry.object_id, entry.actor_kind) == (str(old.pk), "system")
    assert entry.details == {"file_name": old.file_name, "file_sha256": old.file_sha256, "retention_days": 30}
    assert tasks.import_files_purge() == "no file past retention"


def test_an_import_abandoned_before_confirming_writes_nothing(editor, queued):
    wording = make_wording()
    header = "phone,marketing"
    contact_import = staged_import(
        editor, f"{header}\n+4915111111111,yes\n", consent_mapping(header, {Purpose.MARKETING: wording})
    )
    import_abandon(contact_import=contact_import, actor=Actor.for_user(editor))
    assert "not applying" in tasks.import_apply(contact_import.pk)
    tasks.import_resume_stalled()
    assert queued == []
    assert not Contact.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_the_sweepers_are_scheduled():
    resume = Schedule.objects.get(name=tasks.RESUME_SCHEDULE_NAME)
    assert (resume.func, resume.schedule_type, resume.minutes, resume.repeats) == (
        "contacts.imports.tasks.import_resume_stalled",
        Schedule.MINUTES,
        1,
        -1,
    )
    purge = Schedule.objects.get(name=tasks.PURGE_SCHEDULE_NAME)
    assert (purge.func, purge.schedule_type, purge.repeats) == (
        "contacts.imports.tasks.import_files_purge",
        Schedule.DAILY,
        -1,
    )
