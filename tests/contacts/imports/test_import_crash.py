"""A real django-q2 worker killed in the middle of an import: resumed, or abandoned, nothing lost or doubled.

The worker is ``manage.py qcluster`` in its own process group against this test's database,
killed with SIGKILL (no chance to clean up) once the database shows the step half done.
"""

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from contacts.imports import tasks
from contacts.imports.applying import import_confirm
from contacts.imports.services import import_abandon, import_set_mapping, import_upload
from contacts.imports.validation import applied_rows
from contacts.models import (
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    ContactImport,
    CurrentConsent,
    ImportRow,
    ImportStatus,
    Purpose,
)
from contacts.selectors import deciding_event
from core.actors import Actor
from tests.factories import ContactFactory, make_wording, opt_out

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROWS = 3000
CHUNK = 20
WAIT = 180.0  # seconds a step may take on a busy machine before the test gives up


def worker_env() -> dict[str, str]:
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "Q_WORKERS": "1",
        "CONTACT_IMPORT_CHUNK_ROWS": str(CHUNK),
        "PYTHONPATH": ROOT,
    }


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the cluster's children die with it
    )


def kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def wait_for(condition, what: str):
    """Poll the database until ``condition()`` gives something true; return it."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def progress(import_id: int) -> ContactImport:
    return ContactImport.objects.only("status", "phase", "progress_done", "progress_total").get(pk=import_id)


def half_done(import_id: int, status: str):
    current = progress(import_id)
    if current.status == status and 0 < current.progress_done < current.progress_total:
        return current
    assert current.status in (ImportStatus.STAGING, ImportStatus.PREVIEW, ImportStatus.APPLYING), (
        current.status
    )
    return None


def uploaded(editor, wording) -> ContactImport:
    lines = ["phone,first_name,marketing,date"]
    for n in range(ROWS):
        lines.append(f"+49152{n:08d},Person {n},{'yes' if n % 10 else 'no'},2025-02-{1 + n % 27:02d}")
    contact_import = import_upload(
        file_name="crash.csv",
        data=("\n".join(lines) + "\n").encode(),
        kind="contacts",
        actor=Actor.for_user(editor),
    )
    mapping = {
        "columns": [{"column": 0, "field": "phone"}, {"column": 1, "field": "first_name"}],
        "consent": [{"column": 2, "purpose": Purpose.MARKETING, "wording": wording.pk}],
        "consent_date_column": 3,
        "consent_date": None,
        "consent_source": "Signup form",
        "region": "DE",
    }
    return import_set_mapping(contact_import=contact_import, mapping=mapping, actor=Actor.for_user(editor))


def make_stale(import_id: int) -> None:
    """What a minute or two without a heartbeat looks like: the dead worker's lease ran out."""
    ContactImport.objects.filter(pk=import_id).update(
        heartbeat_at=timezone.now() - tasks.lease() - timedelta(seconds=1)
    )


def test_a_worker_killed_mid_apply_is_resumed_and_every_row_is_applied_once(editor):
    wording = make_wording()
    # People the file knows already: some stopped on WhatsApp (their opt-in is refused), some are
    # plain contacts (updated).
    for n in range(1, ROWS, 50):
        contact = ContactFactory(phone=f"+49152{n:08d}", first_name="Old")
        if n % 100 == 1:
            opt_out(contact, Purpose.MARKETING, source=ConsentSource.KEYWORD)
    known = Contact.objects.count()

    worker = start_worker()
    try:
        contact_import = uploaded(editor, wording)  # the worker stages and validates it
        wait_for(lambda: progress(contact_import.pk).status == ImportStatus.PREVIEW, "the preview")
        contact_import.refresh_from_db()
        expected_opt_ins = contact_import.counts["opt_ins"]
        assert contact_import.counts["opt_ins_refused"] == known // 2
        import_confirm(contact_import=contact_import, actor=Actor.for_user(editor), user=editor)
        wait_for(lambda: half_done(contact_import.pk, ImportStatus.APPLYING), "applying half done")
    finally:
        kill(worker)

    stopped_at = progress(contact_import.pk)
    assert stopped_at.status == ImportStatus.APPLYING
    assert 0 < stopped_at.progress_done < ROWS
    assert applied_rows(stopped_at).count() == stopped_at.progress_done  # the killed chunk left nothing

    # Nobody resumes an import whose worker may still be alive; after its lease, the sweeper does.
    make_stale(contact_import.pk)
    assert tasks.import_resume_stalled() == "1 stalled import(s) resumed"
    worker = start_worker()
    try:
        wait_for(lambda: progress(contact_import.pk).status == ImportStatus.APPLIED, "the import applied")
    finally:
        kill(worker)

    contact_import.refresh_from_db()
    assert (contact_import.progress_done, contact_import.progress_total) == (ROWS, ROWS)
    assert applied_rows(contact_import).count() == ROWS
    assert Contact.objects.count() == ROWS
    assert contact_import.counts["contacts_created"] == ROWS - known
    assert contact_import.counts["applied_rows"] == ROWS
    imported = ConsentEvent.objects.filter(source=ConsentSource.IMPORT)
    assert imported.count() == expected_opt_ins == contact_import.counts["events_recorded"]
    assert not imported.values("contact").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert set(imported.values_list("signal_key", flat=True)) == {
        f"import:{contact_import.pk}:{line}"
        for line in ImportRow.objects.filter(
            contact_import=contact_import, opt_ins__marketing="record"
        ).values_list("line", flat=True)
    }
    assert (
        CurrentConsent.objects.filter(purpose=Purpose.MARKETING, status=ConsentStatus.OPTED_IN).count()
        == expected_opt_ins
    )
    sample = random.Random(9).sample(list(Contact.objects.all()), 60)
    for contact in sample:
        current = CurrentConsent.objects.filter(contact=contact, purpose=Purpose.MARKETING).first()
        deciding = deciding_event(contact=contact, purpose=Purpose.MARKETING)
        assert (current.event if current else None) == deciding


def test_a_worker_killed_mid_staging_then_abandoned_leaves_nothing_applied(editor):
    wording = make_wording()
    worker = start_worker()
    try:
        contact_import = uploaded(editor, wording)
        wait_for(lambda: half_done(contact_import.pk, ImportStatus.STAGING), "staging half done")
    finally:
        kill(worker)

    staged = ImportRow.objects.filter(contact_import=contact_import).count()
    assert 0 < staged < ROWS
    import_abandon(contact_import=contact_import, actor=Actor.for_user(editor))
    make_stale(contact_import.pk)
    assert tasks.import_resume_stalled() == "0 stalled import(s) resumed"
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.ABANDONED
    assert not ImportRow.objects.filter(contact_import=contact_import).exists()
    assert not Contact.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert "not applying" in tasks.import_apply(contact_import.pk)
