"""django-q2 tasks for the webhook: a processor woken by the view, and a sweeper for stragglers.

The stored ``WebhookEvent`` rows are the queue. Queueing one django-q2 task per POST cost the view
two thirds of its throughput (measured: 18–34% of a trivial view instead of 46–53% for storing
alone, bench/bench_webhook.py), so the view only *wakes* a processor when none is awake: a flag
added atomically in the shared cache. The processor drains pending events in batches until none
are left, then goes back to sleep, checking once more after dropping its flag so an event stored
in between is never stranded. A backlog wakes a second processor. Should a worker die, the flag
expires and the per-minute sweep wakes a processor for events left pending.

The sweep also retries *failed* events: a STOP whose processing met a transient error (a deadlock
between a merge and a consent write, a lock timeout) must not wait for someone to run
``reprocess_webhooks`` while marketing goes on. Each failed event is retried 1, 5 and 30 minutes
after it failed, then hourly, up to ``MAX_ATTEMPTS`` processing attempts in all; then it stays
failed and is logged at ERROR, once. Processing is idempotent, so a retry records nothing twice. A
body that is not a WhatsApp envelope (``UnreadableWebhook``) fails the same way every time and is
never retried.
"""

import logging
import time
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from messaging.models import WebhookEvent, WebhookOutcome
from messaging.statuses import apply_waiting_statuses
from messaging.webhooks.processing import (
    EVENTS_PER_RUN,
    UnreadableWebhook,
    commit_without_waiting_for_disk,
    process_batch,
    process_pending_events,
    process_webhook_event,
)

logger = logging.getLogger(__name__)

DRAIN_TASK = "messaging.webhooks.tasks.drain_webhooks"
PROCESSORS = 2  # at most this many drain at once (Q_WORKERS' default)
AWAKE_SECONDS = 30  # a processor's flag outlives its silence by this much, then expires
DRAIN_SECONDS = 40.0  # well below django-q2's task timeout (60 s): then a fresh task takes over
STALE_AFTER = timedelta(seconds=30)
WAITING_LOOKBACK = timedelta(minutes=10)
# Under load every POST would read the flag (a database round trip with the database cache, half
# the cost of storing the event). A process that saw a processor awake trusts that for this long;
# a processor going to sleep waits longer than this before its last look for pending events, so
# an event whose POST trusted a stale sighting is still picked up.
SIGHTING_SECONDS = 0.05
SLEEP_GRACE_SECONDS = 0.15
_last_sighting = 0.0  # monotonic time this process last saw slot 0 awake: a hint, never the truth
SWEEP_SCHEDULE_NAME = "webhooks: wake the processor for stale events"
# A failed event is retried this long after its n-th attempt failed (the last delay repeats),
# until it has been processed MAX_ATTEMPTS times: about six and a half hours in all.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=1))
MAX_ATTEMPTS = 10
RETRIES_PER_SWEEP = EVENTS_PER_RUN
# How process_webhook_event records an unreadable body's error ("<exception class>: <why>").
UNREADABLE_ERROR_PREFIX = f"{UnreadableWebhook.__name__}: "


def _awake_key(slot: int) -> str:
    return f"webhooks:processor-awake:{slot}"


def wake_processor(slot: int = 0) -> bool:
    """Queue a processor for ``slot`` unless one is awake there; True when one was queued."""
    global _last_sighting
    if slot == 0 and time.monotonic() - _last_sighting < SIGHTING_SECONDS:
        return False
    key = _awake_key(slot)
    # A plain read before the atomic add: under load the processor is awake, and reading is much
    # cheaper than adding (the database cache counts its table on every write).
    if cache.get(key) or not cache.add(key, True, AWAKE_SECONDS):
        if slot == 0:
            _last_sighting = time.monotonic()
        return False
    with transaction.atomic():
        # The queue row need not wait for the disk: the event it points at is stored durably.
        commit_without_waiting_for_disk()
        async_task(DRAIN_TASK, slot, task_name=f"webhooks {slot}", group="webhooks")
    return True


def drain_webhooks(slot: int = 0) -> str:
    """Process pending events until none are left (or time is up), then sleep again."""
    key = _awake_key(slot)
    started = time.monotonic()
    processed = 0
    while time.monotonic() - started < DRAIN_SECONDS:
        count, _ = process_batch()
        if count:
            processed += count
            cache.set(key, True, AWAKE_SECONDS)  # still awake
            if count >= EVENTS_PER_RUN and slot + 1 < PROCESSORS:
                wake_processor(slot + 1)  # a backlog: a second processor helps
            continue
        cache.delete(key)
        time.sleep(SLEEP_GRACE_SECONDS)  # outlast any sighting of this processor still trusted
        if not _pending().exists() or not cache.add(key, True, AWAKE_SECONDS):
            return f"{processed} webhooks processed"
    cache.delete(key)
    wake_processor(slot)
    return f"{processed} webhooks processed; handed over to a fresh task"


def process_webhook(event_id: int) -> str:
    """Process one stored event now (with the oldest others pending): for reprocessing and tests."""
    return process_pending_events(first_id=event_id)


def sweep_webhooks(now: datetime | None = None) -> str:
    """Scheduled: retry failed events that are due, wake a processor for events left pending (a
    lost task, a worker that died), and apply statuses that waited for an attempt the send path
    recorded meanwhile (the one race ``apply_pending_statuses`` cannot close alone)."""
    now = now or timezone.now()
    caught_up = apply_waiting_statuses(since=WAITING_LOOKBACK)
    retried = webhook_retry_failed(now=now)
    done = f"{caught_up} attempts caught up; retried {retried} failed webhooks"
    if not _pending().filter(received_at__lt=now - STALE_AFTER).exists():
        return f"no stale webhooks; {done}"
    for slot in range(PROCESSORS):
        cache.delete(_awake_key(slot))
    wake_processor(0)
    return f"woke the webhook processor for stale events; {done}"


def webhook_retry_due(*, now: datetime) -> list[WebhookEvent]:
    """Failed events whose next attempt is due at ``now``, oldest first (at most RETRIES_PER_SWEEP).

    An event that failed for the n-th time waits ``RETRY_DELAYS[n - 1]`` (the last one repeats)
    after ``processed_at``, when that attempt finished. Rows without a time or a count (written
    before attempts were counted, or by hand) are due at once.
    """
    due = Q(processed_at__isnull=True) | Q(attempts=0)
    for attempts, delay in enumerate(RETRY_DELAYS, start=1):
        counted = Q(attempts__gte=attempts) if attempts == len(RETRY_DELAYS) else Q(attempts=attempts)
        due |= counted & Q(processed_at__lte=now - delay)
    return list(
        WebhookEvent.objects.filter(due, outcome=WebhookOutcome.FAILED, attempts__lt=MAX_ATTEMPTS)
        .exclude(error__startswith=UNREADABLE_ERROR_PREFIX)
        .order_by("pk")
        .only("pk", "attempts", "processed_at")[:RETRIES_PER_SWEEP]
    )


def webhook_retry_claim(*, event: WebhookEvent, now: datetime) -> bool:
    """Take ``event`` for a retry: a conditional UPDATE of the attempt it was seen after.

    Two sweeps that read the same due event cannot both retry it: the second finds ``processed_at``
    moved (to ``now``, which also holds the event back by the next delay if this one dies).
    """
    return (
        WebhookEvent.objects.filter(
            pk=event.pk,
            outcome=WebhookOutcome.FAILED,
            attempts=event.attempts,
            processed_at=event.processed_at,
        ).update(processed_at=now)
        == 1
    )


def webhook_retry_failed(*, now: datetime) -> int:
    """Retry the failed events that are due; returns how many were retried.

    One that fails again waits for its next delay; one that has now been tried ``MAX_ATTEMPTS``
    times stays failed for ``reprocess_webhooks`` and is logged at ERROR (only then, once). A
    retry that itself breaks (the database went away) is logged and leaves the others to run.
    """
    retried = 0
    for event in webhook_retry_due(now=now):
        if not webhook_retry_claim(event=event, now=now):
            continue  # another sweep took it
        retried += 1
        try:
            process_webhook_event(event_id=event.pk)
        except Exception:
            logger.exception("retrying webhook %s failed before it was processed", event.pk)
            # Count the attempt all the same (processing never got to), so the limit holds.
            WebhookEvent.objects.filter(
                pk=event.pk, outcome=WebhookOutcome.FAILED, attempts=event.attempts, processed_at=now
            ).update(attempts=F("attempts") + 1)
            continue
        after = WebhookEvent.objects.filter(pk=event.pk).values("outcome", "attempts", "error").first()
        if after and after["outcome"] == WebhookOutcome.FAILED and after["attempts"] >= MAX_ATTEMPTS:
            logger.error(
                "webhook %s still failed after %d attempts; gave up retrying it - fix the cause and "
                "run reprocess_webhooks: %s",
                event.pk,
                after["attempts"],
                after["error"][:1000],
            )
    return retried


def _pending():
    return WebhookEvent.objects.filter(outcome=WebhookOutcome.PENDING)
