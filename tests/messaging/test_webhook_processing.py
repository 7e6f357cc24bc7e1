"""A task run processes its event with the oldest other pending ones; a bad one holds none back."""

import pytest

from messaging.models import InboundMessage, MessageStatus, WebhookEvent, WebhookOutcome
from messaging.webhooks.tasks import process_webhook
from tests.messaging.webhook_bodies import encode, outbound, status, statuses_body, text_message

pytestmark = pytest.mark.django_db


def stored(payload) -> WebhookEvent:
    return WebhookEvent.objects.create(body=encode(payload), signature="sha256=stored-by-the-view")


def test_one_run_processes_pending_events_together(customer):
    messages = [outbound(customer) for _ in range(3)]
    events = [
        stored(statuses_body(status(m.attempts.get().wamid, "delivered", 1_750_000_001))) for m in messages
    ]
    events.append(stored(text_message("hello", wamid="wamid.p1")))
    summary = process_webhook(events[2].pk)
    assert summary.startswith("4 webhooks")
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookOutcome.PROCESSED}
    for message in messages:
        message.refresh_from_db()
        assert message.status == MessageStatus.DELIVERED
    assert InboundMessage.objects.filter(wamid="wamid.p1").exists()
    assert process_webhook(events[0].pk) == "no pending webhooks"  # a task that runs twice


def test_a_bad_event_in_the_run_is_failed_alone(customer):
    message = outbound(customer)
    good = stored(statuses_body(status(message.attempts.get().wamid, "read", 1_750_000_001)))
    bad = WebhookEvent.objects.create(body=b"{not json", signature="sha256=x")
    process_webhook(bad.pk)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.outcome, bad.outcome) == (WebhookOutcome.PROCESSED, WebhookOutcome.FAILED)
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
