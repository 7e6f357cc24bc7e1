"""django-q2 tasks for the webhook: a processor woken by the view, and a sweeper for stragglers.

The stored ``WebhookEvent`` rows are the queue. Queueing one django-q2 task per POST cost the view
two thirds of its throughput (measured: 18–34% of a trivial view instead of 46–53% for storing
alone, bench/bench_webhook.py), so the view only *wakes* a processor when none is awake: a flag
added atomically in the shared cache. The processor drains pending events in batches until none
are left, then goes back to sleep, checking once more after dropping its flag so an event stored
in between is never stranded. A backlog wakes a second processor. Should a worker die, the flag
expires and the per-minute sweep wakes a processor for events left pending.
"""

import logging
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from messaging.models import WebhookEvent, WebhookOutcome
from messaging.statuses import apply_waiting_statuses
from messaging.webhooks.processing import (
    EVENTS_PER_RUN,
    commit_without_waiting_for_disk,
    process_batch,
    process_pending_events,
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


def sweep_webhooks() -> str:
    """Scheduled: wake a processor for events left pending (a lost task, a worker that died), and
    apply statuses that waited for an attempt the send path recorded meanwhile (the one race
    ``apply_pending_statuses`` cannot close alone)."""
    caught_up = apply_waiting_statuses(since=WAITING_LOOKBACK)
    if not _pending().filter(received_at__lt=timezone.now() - STALE_AFTER).exists():
        return f"no stale webhooks; {caught_up} attempts caught up"
    for slot in range(PROCESSORS):
        cache.delete(_awake_key(slot))
    wake_processor(0)
    return "woke the webhook processor for stale events"


def _pending():
    return WebhookEvent.objects.filter(outcome=WebhookOutcome.PENDING)
