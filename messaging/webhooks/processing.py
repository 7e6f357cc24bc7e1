"""A stored webhook event, processed: every entry, change, status and message, all or nothing.

The view stores the raw body first (``receiving.webhook_event_receive``) and processing runs from
that row, so a crash, a bug or a deploy loses nothing: ``reprocess_webhooks`` runs it again.
Processing is idempotent (statuses deduplicate by wamid, status and time; inbound messages by
wamid; signals by their time), because a queued task may run twice and Meta delivers twice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import WebhookEvent, WebhookOutcome
from messaging.statuses import StatusReport, apply_status_reports
from messaging.webhooks.account import apply_capability_update, apply_template_change
from messaging.webhooks.consent import act_on_inbound, apply_user_preferences
from messaging.webhooks.envelope import Change, as_list, changes_of, needs_cleaning, storable
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
                summary = _process_alone(event)
        except Exception as exc:
            # Kept with the error; everything it changed was rolled back with the savepoint.
            if not isinstance(exc, UnreadableWebhook):
                logger.exception("webhook %s failed", event_id)
            _finish(event_id, WebhookOutcome.FAILED, f"{type(exc).__name__}: {exc}"[:5000])
            return f"webhook {event_id}: failed ({exc})"
        _finish(event_id, WebhookOutcome.PROCESSED, "")
    return f"webhook {event_id}: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.items())) or "nothing")


def process_pending_events(*, first_id: int | None = None, limit: int = EVENTS_PER_RUN) -> str:
    """Process ``first_id`` and the oldest other pending events, up to ``limit``; a summary line."""
    return process_batch(first_id=first_id, limit=limit)[1]


def process_batch(*, first_id: int | None = None, limit: int = EVENTS_PER_RUN) -> tuple[int, str]:
    """Process ``first_id`` and the oldest other pending events, up to ``limit``, in one transaction.

    Statuses of all of them are applied together (one set-based pass instead of one per event), so
    Meta's one-status-per-POST deliveries cost about what one batched POST costs. Events another
    worker holds are skipped (``skip_locked``). If any event fails, each is processed on its own,
    so one bad body holds back none of the others. Returns (events taken, summary).
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
                for event in events:
                    summary += _process(event, reports)
                apply_status_reports(reports=reports)
        except Exception:
            logger.info("a batch of %d webhooks failed; processing them one by one", len(events))
            for event in events:
                process_webhook_event(event_id=event.pk)
            return len(events), f"{len(events)} webhooks, one by one"
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            outcome=WebhookOutcome.PROCESSED,
            error="",
            processed_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    return len(events), f"{len(events)} webhooks: " + (
        ", ".join(f"{k} {v}" for k, v in sorted(summary.items())) or "nothing"
    )


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


def _process_alone(event: WebhookEvent) -> Counter:
    reports: list[StatusReport] = []
    summary = _process(event, reports)
    apply_status_reports(reports=reports)
    return summary


def _process(event: WebhookEvent, reports: list[StatusReport]) -> Counter:
    """Everything in the event but its statuses, which go to ``reports`` to be applied together."""
    try:
        body = bytes(event.body)
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableWebhook(f"the body is not JSON ({exc})") from exc
    if needs_cleaning(body):
        payload = storable(payload)
    if not isinstance(payload, dict):
        raise UnreadableWebhook(f"the body is JSON but not an object ({type(payload).__name__})")
    summary: Counter = Counter()
    if payload.get("object") != WHATSAPP_OBJECT:
        summary["ignored object"] += 1
        return summary
    for change in changes_of(payload):
        _process_change(change, event, summary, reports)
    return summary


def _process_change(change: Change, event: WebhookEvent, summary: Counter, reports: list) -> None:
    if change.field == "messages":
        _messages(change, event, summary, reports)
    elif change.field == "user_preferences":
        apply_user_preferences(value=change.value, webhook_event=event)
        summary["user preferences"] += len(as_list(change.value.get("user_preferences")))
    elif change.field in TEMPLATE_FIELDS:
        known = apply_template_change(change=change)
        summary["template updates" if known else "unknown templates"] += 1
    elif change.field == "business_capability_update":
        tier = apply_capability_update(change=change, webhook_event=event)
        summary["tier updates" if tier else "capability updates without a tier"] += 1
    else:
        summary[f"ignored {change.field or 'unnamed'} changes"[:60]] += 1


def _messages(change: Change, event: WebhookEvent, summary: Counter, reports: list) -> None:
    value = change.value
    found = [
        report
        for item in as_list(value.get("statuses"))
        if (report := StatusReport.from_webhook(item, webhook_event_id=event.pk)) is not None
    ]
    reports.extend(found)
    summary["statuses"] += len(found)
    senders = senders_of(value)
    for item in as_list(value.get("messages")):
        inbound = receive_message(message=item, senders=senders, webhook_event=event)
        if inbound is None:
            summary["messages skipped"] += 1
            continue
        summary["messages"] += 1
        if act_on_inbound(inbound=inbound, webhook_event=event):
            summary["consent changes"] += 1
