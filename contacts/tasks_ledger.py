"""The consent ledger verifies itself daily: one django-q2 task per chunk (docs/consent-chain.md).

``ledger_verify_start`` (the daily schedule) takes the run's lock and enqueues the first chunk;
each ``ledger_verify_chunk`` verifies one chunk of contacts (``verify_chunk``, well under a second
at 2,000 contacts, far inside Q_CLUSTER's 60-second timeout) and enqueues the next one after the
last contact it verified, carrying the counts along. The last chunk, or the first that fails,
records the result through ``record_verification`` as ``manage.py verify_ledger`` does, so
``last_verification`` (the Auditor's page) reads either. A failure is also logged at ERROR.

Two runs never interleave: the lock is a cache entry added only if absent (``cache.add``), holding
the run's id, and each chunk renews it. It expires ``LOCK_SECONDS`` after the last chunk touched
it, so a run whose worker died mid-chunk (killed at the timeout, or the machine lost) stops
holding it and the next day's run starts. A chunk that finds the lock expired takes it again if
nobody else did; one that finds another run's id stops without recording, leaving that run to
finish.
"""

import logging
import uuid
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone
from django_q.tasks import async_task

from contacts.ledger_verify import (
    VERIFY_CHUNK_CONTACTS,
    Verification,
    conclude,
    record_verification,
    verify_chunk,
)

logger = logging.getLogger(__name__)

VERIFY_SCHEDULE_NAME = "consent chain: daily verification"
CHUNK_TASK = "contacts.tasks_ledger.ledger_verify_chunk"
LOCK_KEY = "consent-chain:verification-run"
# Far longer than a chunk takes plus the time its task may wait in a busy queue; short enough that
# a run whose worker died leaves the lock long before the next day's run.
LOCK_SECONDS = 30 * 60


def ledger_verify_start() -> str:
    """Scheduled daily: start a run unless one is running."""
    run_id = uuid.uuid4().hex
    started_at = timezone.now().isoformat()
    if not cache.add(LOCK_KEY, run_id, LOCK_SECONDS):
        logger.info("Consent ledger verification not started: run %s is still running.", cache.get(LOCK_KEY))
        return "already running"
    _enqueue(run_id, started_at, after_contact_id=0, contacts=0, events=0)
    return f"started run {run_id}"


def ledger_verify_chunk(
    run_id: str, started_at: str, after_contact_id: int, contacts: int, events: int
) -> str:
    """Verify the chunk after ``after_contact_id``; hand on to the next chunk, or record the result."""
    if not _hold(run_id):
        logger.warning("Consent ledger verification run %s stopped: another run holds the lock.", run_id)
        return "stopped: another run holds the lock"
    result = verify_chunk(after_contact_id=after_contact_id, contacts=VERIFY_CHUNK_CONTACTS)
    contacts += result.contacts
    events += result.events
    if result.failure is None and result.last_contact_id is not None:
        _enqueue(
            run_id, started_at, after_contact_id=result.last_contact_id, contacts=contacts, events=events
        )
        return f"verified through contact {result.last_contact_id}"
    through = after_contact_id or None  # the last contact of the chunks verified before this one
    if result.failure is None:
        verification = conclude(
            from_contact_id=0, through_contact_id=through, contacts=contacts, events=events
        )
    else:
        verification = Verification(False, contacts, events, 0, through, result.failure, None)
    record_verification(verification, started_at=datetime.fromisoformat(started_at))
    _release(run_id)
    if verification.ok:
        return f"verified {events} events of {contacts} contacts"
    failure = verification.failure
    logger.error(
        "The consent ledger does not verify at contact %s, event %s (%s): %s",
        failure.contact_id,
        failure.event_id,
        failure.reason,
        failure.detail,
    )
    return f"failed at event {failure.event_id} ({failure.reason})"


def _enqueue(run_id: str, started_at: str, *, after_contact_id: int, contacts: int, events: int) -> None:
    async_task(
        CHUNK_TASK,
        run_id,
        started_at,
        after_contact_id,
        contacts,
        events,
        task_name=f"verify ledger after contact {after_contact_id}",
        group="consent-chain",
    )


def _hold(run_id: str) -> bool:
    """Renew this run's lock; take it again if it expired meanwhile; False if another run has it."""
    holder = cache.get(LOCK_KEY)
    if holder is None:
        return cache.add(LOCK_KEY, run_id, LOCK_SECONDS)
    return holder == run_id and cache.touch(LOCK_KEY, LOCK_SECONDS)


def _release(run_id: str) -> None:
    if cache.get(LOCK_KEY) == run_id:
        cache.delete(LOCK_KEY)
