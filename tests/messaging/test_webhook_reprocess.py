"""manage.py reprocess_webhooks: failed (and, asked for, pending or all) events processed again."""

import io

import pytest
from django.core.management import CommandError, call_command

from cloud_api.signatures import signature_header
from messaging.models import InboundMessage, WebhookEvent, WebhookOutcome
from tests.messaging.webhook_bodies import encode, text_message

pytestmark = pytest.mark.django_db


def stored(payload, outcome=WebhookOutcome.PENDING) -> WebhookEvent:
    body = encode(payload)
    return WebhookEvent.objects.create(body=body, signature=signature_header(body, "x"), outcome=outcome)


def run(*args) -> str:
    out = io.StringIO()
    call_command("reprocess_webhooks", *args, stdout=out)
    return out.getvalue()


def test_failed_events_are_processed_again(customer):
    event = stored(text_message("hello", wamid="wamid.r1"), outcome=WebhookOutcome.FAILED)
    output = run()
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.PROCESSED
    assert InboundMessage.objects.filter(wamid="wamid.r1").exists()
    assert "Reprocessed 1 webhook events: 1 processed." in output


def test_pending_events_only_with_the_flag(customer):
    event = stored(text_message("hello", wamid="wamid.r2"))
    run()
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.PENDING
    run("--pending")
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.PROCESSED


def test_an_event_that_still_fails_stays_failed_with_its_error():
    event = stored(b"not json", outcome=WebhookOutcome.FAILED)
    output = run()
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.FAILED
    assert "not JSON" in event.error
    assert event.attempts == 1
    assert "still fail" in output


def test_all_by_id_range_is_idempotent(customer):
    events = [stored(text_message(f"m{i}", wamid=f"wamid.r3.{i}")) for i in range(4)]
    run("--all", "--from", str(events[1].pk), "--to", str(events[2].pk))
    assert set(InboundMessage.objects.values_list("wamid", flat=True)) == {"wamid.r3.1", "wamid.r3.2"}
    run("--all")
    run("--all")
    assert InboundMessage.objects.count() == 4
    assert set(WebhookEvent.objects.values_list("outcome", flat=True)) == {WebhookOutcome.PROCESSED}


def test_a_reversed_range_is_refused():
    with pytest.raises(CommandError, match="--from 5 is after --to 2"):
        run("--from", "5", "--to", "2")
