"""The send task over real HTTP against the sandbox: accepted, refused, outage, hang and drop."""

import pytest
from django.core.cache import cache

from contacts.models import Purpose
from core.actors import Actor
from messaging.models import AttemptOutcome, HoldReason, MessageStatus, OutboundMessage, SendingHalt
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import send_queued
from messaging.sending.service import send_message
from tests.factories import opt_in
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS, inbound_message
from tests.sandbox import control

SYSTEM = Actor.system("tests")


def sandbox_templates(templates) -> list[dict]:
    """Our approved templates as the sandbox's seed (same Meta ids and content)."""
    return [
        {
            "id": t.meta_template_id,
            "name": t.name,
            "language": t.language,
            "category": t.category,
            "parameter_format": t.parameter_format,
            "components": t.approved_version.components,
            "status": "APPROVED",
        }
        for t in templates
    ]


@pytest.fixture
def whatsapp(app_sandbox, demo_templates, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.WHATSAPP_READ_TIMEOUT = 0.5
    settings.MARKETING_SENDING_HOURS = ""
    cache.delete(halt_module.CACHE_KEY)
    control(app_sandbox, "templates", {"templates": sandbox_templates(demo_templates.values())})
    yield app_sandbox
    cache.delete(halt_module.CACHE_KEY)


def received(sandbox) -> list[dict]:
    return control(sandbox, "messages")["data"]


def queue_order(contact, order_update):
    return send_message(contact=contact, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)


def test_a_template_reaches_the_sandbox_with_its_public_id(whatsapp, customer, order_update, promotion):
    order = queue_order(customer, order_update)
    promo = send_message(contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS)
    assert send_queued(order.pk).startswith("accepted")
    assert send_queued(promo.pk).startswith("accepted")
    by_id = {m["biz_opaque_callback_data"]: m for m in received(whatsapp)}
    for message in (order, promo):
        message.refresh_from_db()
        assert message.status == MessageStatus.ACCEPTED
        assert by_id[str(message.public_id)]["wamid"] == message.attempts.get().wamid


def test_a_free_form_reply_reaches_the_sandbox_inside_the_window(whatsapp, stranger):
    control(whatsapp, "window", {"wa_id": stranger.phone.lstrip("+"), "open": True})
    reply = send_message(
        contact=stranger, actor=SYSTEM, text="Happy to help!", reply_to=inbound_message(stranger)
    )
    assert send_queued(reply.pk).startswith("accepted")
    (sent,) = received(whatsapp)
    assert sent["type"] == "text" and sent["payload"]["text"]["body"] == "Happy to help!"


def test_a_refusal_code_from_the_sandbox_is_classified(whatsapp, customer, order_update):
    control(whatsapp, "config", {"error_rate": 1.0, "error_codes": [131000]})
    message = queue_order(customer, order_update)
    send_queued(message.pk)
    message.refresh_from_db()
    assert (message.status, message.hold_reason, message.error_code) == (
        MessageStatus.QUEUED,
        HoldReason.RETRY,
        131000,
    )
    assert received(whatsapp) == []


def test_an_account_level_code_from_the_sandbox_halts_sending(whatsapp, customer, stranger, order_update):
    control(whatsapp, "config", {"error_rate": 1.0, "error_codes": [131031]})
    message = queue_order(customer, order_update)
    send_queued(message.pk)
    assert SendingHalt.objects.get(active=True).error_code == 131031
    control(whatsapp, "config", {"error_rate": 0.0})
    opt_in(stranger, Purpose.SERVICE)
    other = queue_order(stranger, order_update)
    send_queued(other.pk)
    assert OutboundMessage.objects.get(pk=other.pk).hold_reason == HoldReason.HALT
    assert received(whatsapp) == []


def test_an_outage_is_not_sent_and_retried(whatsapp, customer, order_update):
    # Longer than any stall of a busy machine before the send: a 1 s outage could be over by then.
    control(whatsapp, "outage", {"seconds": 600})
    message = queue_order(customer, order_update)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.hold_reason == HoldReason.RETRY
    assert message.attempts.get().outcome == AttemptOutcome.NOT_SENT


@pytest.mark.parametrize("mode", ["hang", "drop"])
def test_a_hang_or_a_drop_is_an_unknown_outcome(whatsapp, customer, order_update, mode):
    control(whatsapp, "config", {"unknown_rate": 1.0, "unknown_mode": mode})
    message = queue_order(customer, order_update)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.UNKNOWN
    attempt = message.attempts.get()
    assert attempt.outcome == AttemptOutcome.UNKNOWN and attempt.reconcile_by and not attempt.wamid
    # The sandbox did accept it: that is exactly why it is never resent blindly.
    assert [m["biz_opaque_callback_data"] for m in received(whatsapp)] == [str(message.public_id)]
    send_queued(message.pk)
    assert len(received(whatsapp)) == 1
