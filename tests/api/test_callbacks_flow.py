"""A key's transactional send, end to end through the callbacks: queued under the key, accepted by
the dispatcher, delivered per WhatsApp's webhook, the person's reply and STOP — each reaching the
key's receiver, signed, in one run of the deliverer after the changes."""
# ruff: noqa: F811 (fixtures are imported, then named as test arguments)

import pytest

from api.callbacks import delivery
from api.models import CallbackEvent, CallbackState, KeyContact
from api.tasks import deliver_callbacks
from contacts.models import Purpose
from core.actors import Actor
from messaging.sending import batch as batches
from messaging.sending.service import send_message
from templates_app.demo import seed_templates
from tests.api.callback_world import make_key, receiver  # noqa: F401 (a fixture)
from tests.factories import ContactFactory, opt_in
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    status,
    statuses_body,
    text_message,
)

pytestmark = pytest.mark.django_db

ORDER_PARAMETERS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-9271"],
    "buttons": {"0": "ORD-9271"},
}


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    calls = []
    monkeypatch.setattr(delivery, "async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def test_a_keys_send_its_statuses_the_reply_and_the_opt_out_reach_its_receiver(
    receiver, deliver, memory_backend, queued_tasks, django_capture_on_commit_callbacks
):
    order_update = {t.name: t for t in seed_templates(actor=Actor.system("tests"))}["order_update"]
    customer = ContactFactory(phone="+4915112345678", first_name="Pablo")
    opt_in(customer, Purpose.MARKETING)
    opt_in(customer, Purpose.SERVICE)
    key = make_key(callback_url=receiver.url)
    KeyContact.objects.create(key=key, contact=customer)

    message = send_message(
        contact=customer, actor=key.actor, template=order_update, parameters=ORDER_PARAMETERS
    )
    with django_capture_on_commit_callbacks(execute=True):
        batches.send_batch(batches.claim_batch())
    wamid = message.attempts.get().wamid
    deliver(statuses_body(status(wamid, "sent"), status(wamid, "delivered")))
    deliver(text_message("Thanks! Saturday?", context={"id": wamid}))
    deliver(text_message("STOP"))
    assert queued_tasks == [(delivery.DELIVER_TASK,)]  # one wake-up while events piled up

    assert deliver_callbacks().startswith("5 delivered")
    told = [
        (r.json["type"], r.json["data"].get("state") or r.json["data"].get("purpose"))
        for r in receiver.requests
    ]
    assert told == [
        ("message.status", "accepted"),
        # sent and delivered came in one webhook, applied in one transaction: told as the furthest.
        ("message.status", "delivered"),
        ("message.received", None),
        ("message.received", None),  # the STOP itself …
        ("consent.opt_out", Purpose.MARKETING),  # … and what it recorded
    ]
    assert {
        r.json["data"].get("message_id") for r in receiver.requests if r.json["type"] == "message.status"
    } == {str(message.public_id)}
    reply = next(
        r.json
        for r in receiver.requests
        if r.json["data"].get("message", {}).get("text") == "Thanks! Saturday?"
    )
    assert reply["data"]["in_reply_to"] == str(message.public_id)
    assert all(r.headers["X-Signature-256"].startswith("sha256=") for r in receiver.requests)
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {CallbackState.DELIVERED}
