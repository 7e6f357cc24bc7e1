"""A stored webhook event, processed: every entry, change, status and message, each on its own.

The view stores the raw body first (``receiving.webhook_event_receive``) and processing runs from
that row, so a crash, a bug or a deploy loses nothing: ``reprocess_webhooks`` runs it again.
Processing is idempotent (statuses deduplicate by wamid, status and time; inbound messages by
wamid; consent signals by their key in the ledger), because a queued task may run twice and Meta
delivers twice.

Each change, and each message and ``user_preferences`` item in it, is processed in its own
savepoint: one that fails is rolled back alone and named in the event's error, and the event stays
``failed`` for ``reprocess_webhooks`` — while the STOP beside it is recorded. A person's opt-out
must never be lost because Meta put an unreadable number next to it.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import WebhookEvent, WebhookOutcome
from messaging.statuses import StatusReport, apply_status_reports
from messaging.webhooks.account import apply_capability_update, apply_template_change
from messaging.webhooks.consent import act_on_inbound, apply_user_preference
from messaging.webhooks.envelope import Change, as_list, changes_of, needs_cleaning, read_json, storable
from messaging.webhooks.inbound import receive_message, senders_of

logger = logging.getLogger(__name__)

WHATSAPP_OBJECT = "whatsapp_business_account"
# Events one task run processes together: enough to amortise the per-transaction cost over
# one-status POSTs, few enough that a run stays well under django-q2's timeout.
EVENTS_PER_RUN = 100
TEMPLATE_FIELDS = {
    "message_template_status_update",
    "message_template_quality_update",
    "template_category_update",
}


class UnreadableWebhook(ValueError):
    """A signed body that is not a WhatsApp webhook envelope; kept, failed, for reprocess_webhooks."""


@dataclass
class _Processed:
    """What processing one event did: counts for the summary, and the parts that failed."""

    summary: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def attempt(self, where: str, work: Callable[[Counter], None], counts: Counter) -> bool:
        """Run ``work`` in its own savepoint; a failure is rolled back alone and noted by ``where``.

        ``work`` counts what it did in a fresh counter, added to ``counts`` only when it went through.
        """
        mine: Counter = Counter()
        try:
            with transaction.atomic():
                work(mine)
        except Exception as exc:
            logger.exception("webhook processing: %s failed", where)
            self.failures.append(f"{where}: {type(exc).__name__}: {exc}"[:1000])
            return False
        counts.update(mine)
        return True

    @property
    def error(self) -> str:
        return "; ".join(self.failures)[:5000]


def process_webhook_event(*, event_id: int, again: bool = False) -> str:
    """Process one stored event; returns a summary. A processed event is skipped unless ``again``."""
    with transaction.atomic():
        commit_without_waiting_for_disk()
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return f"webhook {event_id}: not found"
        if event.outcome == WebhookOutcome.PROCESSED and not again:
            return f"webhook {event_id}: already processed"
        try:
            with transaction.atomic():
                done = _process_alone(event)
        except Exception as exc:
            # Kept with the error; everything it changed was rolled back with the savepoint.
            if not isinstance(exc, UnreadableWebhook):
                logger.exception("webhook %s failed", event_id)
            _finish(event_id, WebhookOutcome.FAILED, f"{type(exc).__name__}: {exc}"[:5000])
            return f"webhook {event_id}: failed ({exc})"
        if done.failures:
            # What succeeded stays; the event stays failed so reprocess_webhooks finishes the rest.
            _finish(event_id, WebhookOutcome.FAILED, done.error)
            return f"webhook {event_id}: partly failed ({done.error})"
        _finish(event_id, WebhookOutcome.PROCESSED, "")
    return f"webhook {event_id}: " + _summary_line(done.summary)


def process_pending_events(*, first_id: int | None = None, limit: int = EVENTS_PER_RUN) -> str:
    """Process ``first_id`` and the oldest other pending events, up to ``limit``; a summary line."""
    return process_batch(first_id=first_id, limit=limit)[1]


def process_batch(*, first_id: int | None = None, limit: int = EVENTS_PER_RUN) -> tuple[int, str]:
    """Process ``first_id`` and the oldest other pending events, up to ``limit``, in one transaction.

    Statuses of all of them are applied together (one set-based pass instead of one per event), so
    Meta's one-status-per-POST deliveries cost about what one batched POST costs. Events another
    worker holds are skipped (``skip_locked``). A change or item that fails fails only its own event,
    which keeps the rest of its work; if anything else fails (a body that is not JSON, applying the
    statuses), each event is processed on its own, so one bad body holds back none of the others.
    Returns (events taken, summary).
    """
    with transaction.atomic():
        commit_without_waiting_for_disk()
        pending = WebhookEvent.objects.select_for_update(skip_locked=True).filter(
            outcome=WebhookOutcome.PENDING
        )
        events = list(pending.filter(pk=first_id)) if first_id is not None else []
        events += list(pending.exclude(pk__in=[e.pk for e in events]).order_by("pk")[: limit - len(events)])
        if not events:
            return 0, "no pending webhooks"
        try:
            with transaction.atomic():
                reports: list[StatusReport] = []
                summary: Counter = Counter()
                failed: dict[int, str] = {}
                for event in events:
                    done = _process(event, reports)
                    summary += done.summary
                    if done.failures:
                        failed[event.pk] = done.error
                apply_status_reports(reports=reports)
        except Exception:
            logger.info("a batch of %d webhooks failed; processing them one by one", len(events))
            for event in events:
                process_webhook_event(event_id=event.pk)
            return len(events), f"{len(events)} webhooks, one by one"
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events if e.pk not in failed]).update(
            outcome=WebhookOutcome.PROCESSED,
            error="",
            processed_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
        for event_id, error in failed.items():
            _finish(event_id, WebhookOutcome.FAILED, error)
    line = f"{len(events)} webhooks: " + _summary_line(summary)
    return len(events), line + (f"; {len(failed)} partly failed" if failed else "")


def commit_without_waiting_for_disk() -> None:
    """Let the current transaction commit without waiting for its WAL flush (PostgreSQL only).

    Safe here and only here: what processing writes can be rebuilt from the stored raw event, which
    was committed durably before Meta got its 200. A crash may lose the last few milliseconds of
    processing; those events are then still pending and ``reprocess_webhooks --pending`` redoes
    them. Measured on this machine: a commit waits ~2 ms for the disk, more than the work itself.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def reprocess_webhook_events(
    *, outcomes: Iterable[str], first_id: int | None = None, last_id: int | None = None
) -> Counter:
    """Process stored events again (oldest first), e.g. after fixing the bug that failed them."""
    events = WebhookEvent.objects.filter(outcome__in=list(outcomes))
    if first_id is not None:
        events = events.filter(pk__gte=first_id)
    if last_id is not None:
        events = events.filter(pk__lte=last_id)
    results: Counter = Counter()
    for event_id in events.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=1000):
        process_webhook_event(event_id=event_id, again=True)
        results[WebhookEvent.objects.values_list("outcome", flat=True).get(pk=event_id)] += 1
    return results


def _finish(event_id: int, outcome: str, error: str) -> None:
    WebhookEvent.objects.filter(pk=event_id).update(
        outcome=outcome, error=error, processed_at=timezone.now(), attempts=F("attempts") + 1
    )


def _summary_line(summary: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(summary.items())) or "nothing"


def _process_alone(event: WebhookEvent) -> _Processed:
    reports: list[StatusReport] = []
    done = _process(event, reports)
    done.attempt("statuses", lambda _: apply_status_reports(reports=reports), done.summary)
    return done


def _process(event: WebhookEvent, reports: list[StatusReport]) -> _Processed:
    """Everything in the event but its statuses, which go to ``reports`` to be applied together.

    Raises ``UnreadableWebhook`` for a body that is not an envelope; any other failure is confined
    to the change or item it happened in (see the module docstring).
    """
    body = bytes(event.body)
    try:
        payload = read_json(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableWebhook(f"the body is not JSON ({exc})") from exc
    if needs_cleaning(body):
        payload = storable(payload)
    if not isinstance(payload, dict):
        raise UnreadableWebhook(f"the body is JSON but not an object ({type(payload).__name__})")
    done = _Processed()
    if payload.get("object") != WHATSAPP_OBJECT:
        done.summary["ignored object"] += 1
        return done
    for change in changes_of(payload):
        found: list[StatusReport] = []
        where = f"change {change.index} ({change.field or 'unnamed'})"[:80]
        work = functools.partial(_process_change, change, event, found, done, where)
        if done.attempt(where, work, done.summary):
            reports.extend(found)  # only a change that went through has its statuses applied
    return done


def _process_change(
    change: Change, event: WebhookEvent, reports: list, done: _Processed, where: str, counts: Counter
) -> None:
    if change.field == "messages":
        _messages(change, event, reports, done, where, counts)
    elif change.field == "user_preferences":
        _user_preferences(change, event, done, where, counts)
    elif change.field in TEMPLATE_FIELDS:
        known = apply_template_change(change=change)
        counts["template updates" if known else "unknown templates"] += 1
    elif change.field == "business_capability_update":
        tier = apply_capability_update(change=change, webhook_event=event)
        counts["tier updates" if tier else "capability updates without a tier"] += 1
    else:
        counts[f"ignored {change.field or 'unnamed'} changes"[:60]] += 1


def _messages(
    change: Change, event: WebhookEvent, reports: list, done: _Processed, where: str, counts: Counter
) -> None:
    value = change.value
    found = [
        report
        for item in as_list(value.get("statuses"))
        if (report := StatusReport.from_webhook(item, webhook_event_id=event.pk)) is not None
    ]
    reports.extend(found)
    counts["statuses"] += len(found)
    senders = senders_of(value)
    for index, item in enumerate(as_list(value.get("messages"))):
        # Each message on its own: storing it and acting on its keyword or button go together.
        work = functools.partial(_message, item, senders, event)
        done.attempt(f"{where} message {index}", work, counts)


def _message(item, senders: dict, event: WebhookEvent, counts: Counter) -> None:
    inbound = receive_message(message=item, senders=senders, webhook_event=event)
    if inbound is None:
        counts["messages skipped"] += 1
        return
    counts["messages"] += 1
    if act_on_inbound(inbound=inbound, webhook_event=event):
        counts["consent changes"] += 1


def _user_preferences(
    change: Change, event: WebhookEvent, done: _Processed, where: str, counts: Counter
) -> None:
    senders = senders_of(change.value)
    for index, item in enumerate(as_list(change.value.get("user_preferences"))):
        work = functools.partial(_user_preference, item, index, change, senders, event)
        done.attempt(f"{where} item {index}", work, counts)


def _user_preference(
    item, index: int, change: Change, senders: dict, event: WebhookEvent, counts: Counter
) -> None:
    apply_user_preference(item=item, change=change, item_index=index, senders=senders, webhook_event=event)
    counts["user preferences"] += 1
