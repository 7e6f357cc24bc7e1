"""The rarer state changes of a key's message reach its outbox too: a claim the sweeper finds
stale becomes ``unknown``, staff resend it (``queued``) or mark it failed, a failure WhatsApp
reports after acceptance puts it back in the queue — while a hold before any request is no news."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import CallbackEvent
from contacts.models import Purpose
from core.actors import Actor
from messaging.models import HoldReason, MessageStatus, OutboundMessage
from messaging.sending.dispatch import claim_message, start_attempt
from messaging.sending.review import message_mark_failed, message_resend
from messaging.sending.service import send_message
from messaging.sending.states import message_hold, message_retry_or_fail
from messaging.sending.sweeper import CLAIM_TIMEOUT, sweep
from templates_app.demo import seed_templates
from tests.api.callback_world import make_key
from tests.factories import ContactFactory, opt_in

pytestmark = pytest.mark.django_db

ORDER_PARAMETERS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-9271"],
    "buttons": {"0": "ORD-9271"},
}


@pytest.fixture(autouse=True)
def quiet_tasks(monkeypatch, memory_backend):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    monkeypatch.setattr("api.callbacks.delivery.async_task", lambda *args, **kwargs: None)


@pytest.fixture
def shop(db):
    return make_key("Shop", callback_url="https://shop.example/hooks")


@pytest.fixture
def message(shop):
    order_update = {t.name: t for t in seed_templates(actor=Actor.system("tests"))}["order_update"]
    customer = ContactFactory(phone="+4915112345678", first_name="Pablo")
    opt_in(customer, Purpose.SERVICE)
    return send_message(
        contact=customer, actor=shop.actor, template=order_update, parameters=ORDER_PARAMETERS
    )


def told(shop) -> list[str]:
    return [
        e.payload["state"]
        for e in CallbackEvent.objects.filter(key=shop, type="message.status").order_by("pk")
    ]


def unknown(message) -> OutboundMessage:
    start_attempt(claim_message(message.pk))  # the request may have left; then the worker died
    sweep(timezone.now() + CLAIM_TIMEOUT + timedelta(seconds=1))
    return OutboundMessage.objects.get(pk=message.pk)


def test_a_stale_claim_made_unknown_by_the_sweeper_is_told(shop, message):
    assert unknown(message).status == MessageStatus.UNKNOWN
    assert told(shop) == ["unknown"]
    (event,) = CallbackEvent.objects.filter(key=shop)
    assert event.payload["error"]["class"] == "unknown"


def test_staff_resending_an_unknown_message_puts_it_back_in_the_queue(shop, message, administrator):
    message_resend(message=unknown(message), actor=Actor.for_user(administrator))
    assert told(shop) == ["unknown", "queued"]


def test_staff_marking_an_unknown_message_failed_is_told(shop, message, administrator):
    message_mark_failed(message=unknown(message), actor=Actor.for_user(administrator))
    assert told(shop) == ["unknown", "failed"]
    assert CallbackEvent.objects.filter(key=shop).last().payload["error"]["class"] == "marked_failed"


def test_a_retry_after_acceptance_is_news_a_hold_before_any_request_is_not(shop, message):
    error = {"error_code": 131000, "error_class": "transient", "error_text": "Something went wrong"}
    claimed = claim_message(message.pk).message  # sending: nothing told yet
    assert message_hold(claimed, reason=HoldReason.RETRY, until=timezone.now(), error=error)
    assert told(shop) == []

    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.ACCEPTED)
    accepted = OutboundMessage.objects.get(pk=message.pk)
    status = message_retry_or_fail(
        accepted, attempt_number=1, error=error, expected=[MessageStatus.ACCEPTED], delay=timedelta(minutes=1)
    )
    assert status == MessageStatus.QUEUED
    assert told(shop) == ["queued"]
    assert CallbackEvent.objects.get(key=shop).payload["error"]["code"] == 131000
