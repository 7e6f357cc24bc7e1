"""Replies of every kind through the real send path and the sandbox: queued, dispatched, accepted,
delivered, and quoting the person's message (``context``) as the sandbox received it."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from cloud_api.backends import get_backend
from core.actors import Actor
from messaging.models import InboundMessage, MessageStatus
from messaging.sending import content
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import send_queued
from messaging.sending.service import send_message
from tests.messaging.conftest import ORDER_PARAMETERS
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.sandbox import control, wait_until

SYSTEM = Actor.system("tests")


@pytest.fixture
def whatsapp(app_sandbox, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    cache.delete(halt_module.CACHE_KEY)
    yield app_sandbox
    cache.delete(halt_module.CACHE_KEY)


def question_from(sandbox, contact, text="Can you help?") -> InboundMessage:
    """The person writes through the sandbox (their window opens there); stored as the webhook would."""
    wamid = control(sandbox, "inbound", {"from": contact.phone, "kind": "text", "body": text})["wamid"]
    now = timezone.now()
    contact.last_inbound_at = now
    contact.save(update_fields=["last_inbound_at"])
    return InboundMessage.objects.create(
        wamid=wamid, contact=contact, type="text", text=text, payload={"type": "text"}, sent_at=now
    )


def uploaded(mime_type: str) -> str:
    return get_backend().upload_media(b"\x00" * 64, mime_type=mime_type, filename="sample")


def sent_and_delivered(sandbox, webhook_receiver, message) -> dict:
    """Dispatch ``message``; the request the sandbox accepted, once it reported it delivered."""
    assert send_queued(message.pk).startswith("accepted as ")
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    wamid = message.attempts.get().wamid
    wait_until(lambda: any(s["status"] == "delivered" for s in webhook_receiver.statuses_of(wamid)))
    assert not any(s["status"] == "failed" for s in webhook_receiver.statuses_of(wamid))
    [request] = [m for m in control(sandbox, "messages")["data"] if m["wamid"] == wamid]
    return request["payload"]


KINDS = {
    "text": lambda: content.text("Happy to help!"),
    "image": lambda: content.media("image", uploaded("image/jpeg"), caption="Your parcel"),
    "video": lambda: content.media("video", uploaded("video/mp4")),
    "audio": lambda: content.media("audio", uploaded("audio/ogg")),
    "document": lambda: content.media("document", uploaded("application/pdf"), filename="invoice.pdf"),
    "sticker": lambda: content.media("sticker", uploaded("image/webp")),
    "buttons": lambda: content.buttons("Did that help?", [("yes", "Yes"), ("no", "No")], header="Support"),
    "list": lambda: content.choice_list(
        "Which day suits you?",
        "Choose a day",
        [("This week", [("mon", "Monday", "9–12"), ("tue", "Tuesday", "")])],
    ),
}
TYPES = {"text": "text", "buttons": "interactive", "list": "interactive"}


@pytest.mark.parametrize("name", KINDS)
def test_a_reply_of_each_kind_is_accepted_and_quotes_the_question(whatsapp, webhook_receiver, stranger, name):
    question = question_from(whatsapp, stranger)
    reply = send_message(contact=stranger, actor=SYSTEM, content=KINDS[name](), reply_to=question)
    request = sent_and_delivered(whatsapp, webhook_receiver, reply)
    assert request["type"] == TYPES.get(name, name)
    assert request["context"] == {"message_id": question.wamid}
    assert request["biz_opaque_callback_data"] == str(reply.public_id)


def test_a_template_reply_quotes_the_question(whatsapp, webhook_receiver, customer, order_update):
    control(whatsapp, "templates", {"templates": sandbox_templates([order_update])})
    question = question_from(whatsapp, customer, "Where is my order?")
    reply = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS, reply_to=question
    )
    request = sent_and_delivered(whatsapp, webhook_receiver, reply)
    assert request["type"] == "template" and request["context"] == {"message_id": question.wamid}


def test_media_the_sandbox_never_received_fails_with_131053(whatsapp, webhook_receiver, stranger):
    question = question_from(whatsapp, stranger)
    reply = send_message(
        contact=stranger, actor=SYSTEM, content=content.media("image", "404404404"), reply_to=question
    )
    assert send_queued(reply.pk).startswith("accepted as ")
    wamid = reply.attempts.get().wamid
    [failed] = wait_until(lambda: webhook_receiver.statuses_of(wamid))
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131053
