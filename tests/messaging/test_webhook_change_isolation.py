"""Each change of a webhook body is processed on its own: one bad value never loses a STOP beside it.

Numbers out of range are kept as given (the raw body, the stored JSON) and ignored with a warning;
a change or item that fails is rolled back alone, and the event stays failed (naming it) for
``reprocess_webhooks``, which records nothing twice.
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import io
import logging
import time

import pytest
from django.core.management import call_command

from contacts.models import ConsentEvent, ConsentSource, Purpose
from contacts.selectors import has_opt_in
from messaging.models import (
    InboundMessage,
    MessageStatus,
    MessageStatusEvent,
    MessagingTier,
    WebhookEvent,
    WebhookOutcome,
)
from messaging.webhooks import processing
from messaging.webhooks.tasks import process_webhook
from tests.messaging.webhook_bodies import (
    METADATA,
    change,
    deliver,  # noqa: F401 (a fixture)
    encode,
    envelope,
    messages_change,
    outbound,
    status,
    statuses_body,
)

pytestmark = pytest.mark.django_db

WA_ID = "4915112345678"  # the `customer` fixture
PLACEHOLDER = '"__NUMBER__"'
UNQUOTED = PLACEHOLDER.strip('"')  # written as a JSON string, replaced by the bare number
OUT_OF_RANGE = ["1e400", "-1e400", "5000000000", "2147483648", "1E+999", "Infinity", "NaN", "9" * 5000]


def with_number(payload: dict, literal: str) -> bytes:
    """The body as Meta would send it, with ``literal`` written into it unquoted."""
    body = encode(payload)
    assert body.count(PLACEHOLDER.encode()) == 1
    return body.replace(PLACEHOLDER.encode(), literal.encode())


def capability_change(limit=UNQUOTED) -> dict:
    return change(
        "business_capability_update",
        {"max_daily_conversation_per_phone": limit, "max_phone_numbers_per_business": 2},
    )


def preferences_stop() -> dict:
    return change(
        "user_preferences",
        {
            "messaging_product": "whatsapp",
            "metadata": METADATA,
            "contacts": [{"profile": {"name": "Pablo"}, "wa_id": WA_ID}],
            "user_preferences": [
                {
                    "wa_id": WA_ID,
                    "detail": "User requested to stop marketing messages",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": str(int(time.time()) + 1),
                }
            ],
        },
    )


def stop_message(wamid: str = "wamid.stop.beside") -> dict:
    return {
        "from": WA_ID,
        "id": wamid,
        "timestamp": str(int(time.time()) + 1),
        "type": "text",
        "text": {"body": "STOP"},
    }


def stopped(contact) -> bool:
    return (
        not has_opt_in(contact=contact, purpose=Purpose.MARKETING)
        and ConsentEvent.objects.filter(contact=contact, action="opt_out", purpose=Purpose.MARKETING).exists()
    )


# --- Out-of-range numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("literal", OUT_OF_RANGE)
def test_an_out_of_range_messaging_limit_does_not_roll_back_the_stop_beside_it(
    deliver, customer, literal, caplog
):
    body = with_number(envelope(capability_change(UNQUOTED), preferences_stop()), literal)
    with caplog.at_level(logging.WARNING):
        assert deliver(body).status_code == 200
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body  # kept as given
    assert event.outcome == WebhookOutcome.PROCESSED, event.error
    assert stopped(customer)
    assert not MessagingTier.objects.filter(source="business_capability_update").exists()
    assert any("max_daily_conversation_per_phone" in r.getMessage() for r in caplog.records)


def test_a_messaging_limit_in_range_is_still_read(deliver, customer):
    deliver(envelope(capability_change(2000), preferences_stop()))
    assert MessagingTier.objects.get(source="business_capability_update").limit == 2000
    assert stopped(customer)


@pytest.mark.parametrize("literal", ["1e400", "5000000000", "-2147483649", "NaN"])
def test_an_out_of_range_error_code_in_a_failed_status_is_kept_and_ignored(
    deliver, customer, literal, caplog
):
    message = outbound(customer)
    wamid = message.attempts.get().wamid
    failed = status(wamid, "failed", int(time.time()), errors=[{"code": UNQUOTED, "title": "Odd"}])
    body = with_number(envelope(messages_change(statuses=[failed], messages=[stop_message()])), literal)
    with caplog.at_level(logging.WARNING):
        deliver(body)
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookOutcome.PROCESSED, event.error
    assert stopped(customer)
    history = MessageStatusEvent.objects.get(wamid=wamid)
    assert str(history.errors[0]["code"]) in (
        literal,
        "nan",
    )  # as given (a number JSON can hold, or its text)
    message.refresh_from_db()
    attempt = message.attempts.get()
    assert message.status == MessageStatus.FAILED
    assert (message.error_code, attempt.error_code) == (None, None)
    assert any("error code" in r.getMessage() for r in caplog.records)


def test_a_failed_status_with_a_real_error_code_keeps_it(deliver, customer):
    message = outbound(customer)
    wamid = message.attempts.get().wamid
    deliver(statuses_body(status(wamid, "failed", int(time.time()), errors=[{"code": 131026, "title": "x"}])))
    message.refresh_from_db()
    assert message.attempts.get().error_code == 131026


def test_reprocess_webhooks_finishes_an_event_an_out_of_range_value_failed_before(customer):
    body = with_number(envelope(capability_change(), preferences_stop()), "1e400")
    event = WebhookEvent.objects.create(body=body, outcome=WebhookOutcome.FAILED, error="OverflowError")
    out = io.StringIO()
    call_command("reprocess_webhooks", stdout=out)
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.PROCESSED
    assert event.error == ""
    assert stopped(customer)
    assert "1 processed" in out.getvalue()


# --- A change or an item that fails -------------------------------------------------------------


def test_a_change_that_fails_is_rolled_back_alone_and_the_event_kept_failed_naming_it(
    deliver, customer, monkeypatch
):
    def broken(*, change, webhook_event):
        MessagingTier.objects.create(tier="TIER_2K", limit=2000, source="business_capability_update")
        raise RuntimeError("the tier table is on fire")

    monkeypatch.setattr(processing, "apply_capability_update", broken)
    deliver(envelope(capability_change(2000), preferences_stop()))
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookOutcome.FAILED
    assert "change 0 (business_capability_update)" in event.error
    assert "RuntimeError: the tier table is on fire" in event.error
    assert not MessagingTier.objects.filter(source="business_capability_update").exists()  # rolled back
    assert stopped(customer)  # the sibling stays

    monkeypatch.undo()
    call_command("reprocess_webhooks", stdout=io.StringIO())
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.PROCESSED
    assert MessagingTier.objects.filter(source="business_capability_update").count() == 1
    assert ConsentEvent.objects.filter(contact=customer, source=ConsentSource.WHATSAPP_SIGNAL).count() == 1


def test_a_message_that_fails_does_not_lose_the_stop_in_the_same_change(deliver, customer, monkeypatch):
    receive = processing.receive_message

    def receive_or_fail(*, message, senders, webhook_event):
        if message.get("id") == "wamid.broken":
            InboundMessage.objects.create(
                wamid="wamid.half", contact=customer, type="text", sent_at=customer.created_at
            )
            raise ValueError("cannot read this one")
        return receive(message=message, senders=senders, webhook_event=webhook_event)

    monkeypatch.setattr(processing, "receive_message", receive_or_fail)
    broken = stop_message("wamid.broken")
    deliver(envelope(messages_change(messages=[broken, stop_message()])))
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookOutcome.FAILED
    assert "change 0 (messages) message 0" in event.error
    assert not InboundMessage.objects.filter(wamid="wamid.half").exists()  # nothing half-applied
    assert InboundMessage.objects.filter(wamid="wamid.stop.beside").exists()
    assert stopped(customer)


def test_statuses_that_fail_do_not_lose_the_stop_in_the_same_event(deliver, customer, monkeypatch):
    message = outbound(customer)
    wamid = message.attempts.get().wamid

    def broken(*, reports):
        if reports:
            raise RuntimeError("status table locked")

    monkeypatch.setattr(processing, "apply_status_reports", broken)
    deliver(envelope(messages_change(statuses=[status(wamid, "read")], messages=[stop_message()])))
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookOutcome.FAILED
    assert "statuses" in event.error
    assert stopped(customer)


def test_in_a_batch_a_failing_change_fails_only_its_event(customer, monkeypatch):
    message = outbound(customer)
    good = WebhookEvent.objects.create(
        body=encode(statuses_body(status(message.attempts.get().wamid, "delivered", 1_750_000_001)))
    )
    bad = WebhookEvent.objects.create(body=encode(envelope(capability_change(2000), preferences_stop())))

    def broken(*, change, webhook_event):
        raise RuntimeError("boom")

    monkeypatch.setattr(processing, "apply_capability_update", broken)
    process_webhook(good.pk)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.outcome, bad.outcome) == (WebhookOutcome.PROCESSED, WebhookOutcome.FAILED)
    assert "RuntimeError: boom" in bad.error
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert stopped(customer)
