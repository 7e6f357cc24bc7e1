"""send_message: what it refuses (with a code a client can act on) and what it queues."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageKind, MessageStatus, OutboundMessage
from messaging.sending.enqueue import DISPATCH_TASK
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")


def refusal(**kwargs) -> ApplicationError:
    count = OutboundMessage.objects.count()
    with pytest.raises(ApplicationError) as info:
        send_message(actor=SYSTEM, **kwargs)
    assert OutboundMessage.objects.count() == count, "a refusal must leave nothing behind"
    assert info.value.message
    return info.value


def open_window(contact, minutes_ago=5):
    contact.last_inbound_at = timezone.now() - timedelta(minutes=minutes_ago)
    contact.save(update_fields=["last_inbound_at"])


def test_a_marketing_template_is_queued_with_its_version_purpose_and_text(customer, promotion, editor):
    message = send_message(
        contact=customer, actor=Actor.for_user(editor), template=promotion, parameters=PROMOTION_PARAMETERS
    )
    assert message.status == MessageStatus.QUEUED
    assert message.kind == MessageKind.TEMPLATE
    assert message.purpose == Purpose.MARKETING
    assert message.template_version == promotion.approved_version
    assert message.parameters == PROMOTION_PARAMETERS
    assert "Hi Pablo, spring is here" in message.rendered_text
    assert message.actor_user == editor and message.actor_label == editor.username
    assert not message.is_reply and message.authorising_event is None  # set only when it is sent


def test_a_utility_template_needs_service_consent(customer, order_update):
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert message.purpose == Purpose.SERVICE


def test_the_dispatcher_is_woken_after_commit(
    customer, order_update, django_capture_on_commit_callbacks, monkeypatch
):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = send_message(
            contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
        )
    assert calls == []
    for callback in callbacks:
        callback()
    assert calls == [(DISPATCH_TASK, 0)]  # a dispatcher, not a task for this message
    assert message.pk


def test_no_consent_is_refused(stranger, promotion):
    error = refusal(contact=stranger, template=promotion, parameters=PROMOTION_PARAMETERS)
    assert error.code == "no_consent"
    assert "marketing" in error.message


def test_an_opt_out_is_refused(customer, promotion):
    opt_out(customer, Purpose.MARKETING)
    error = refusal(contact=customer, template=promotion, parameters=PROMOTION_PARAMETERS)
    assert error.code == "opted_out"


def test_consent_for_another_purpose_is_refused(stranger, promotion):
    opt_in(stranger, Purpose.SERVICE)
    error = refusal(contact=stranger, template=promotion, parameters=PROMOTION_PARAMETERS)
    assert error.code == "consent_wrong_purpose"
    assert "service" in error.message and "marketing" in error.message


def test_a_template_that_is_not_approved_is_refused(customer, promotion):
    promotion.status = "PAUSED"
    promotion.save(update_fields=["status"])
    error = refusal(contact=customer, template=promotion, parameters=PROMOTION_PARAMETERS)
    assert error.code == "template_not_sendable"


def test_parameters_that_do_not_fit_are_refused(customer, promotion):
    error = refusal(
        contact=customer, template=promotion, parameters={**PROMOTION_PARAMETERS, "body": ["Pablo"]}
    )
    assert error.code == "template_parameters_invalid"


def test_free_form_outside_the_window_is_refused(customer):
    error = refusal(contact=customer, text="Hello!")
    assert error.code == "window_closed"
    open_window(customer, minutes_ago=24 * 60 + 1)
    assert refusal(contact=customer, text="Hello!").code == "window_closed"


def test_free_form_inside_the_window_is_queued(customer):
    open_window(customer)
    message = send_message(contact=customer, actor=SYSTEM, text="  Your parcel left today.  ")
    assert message.kind == MessageKind.TEXT
    assert message.content == {"type": "text", "body": "Your parcel left today."}
    assert message.rendered_text == "Your parcel left today."


def test_a_reply_needs_no_opt_in_but_an_open_window(stranger, order_update):
    inbound = InboundMessage.objects.create(
        wamid="wamid.in1", contact=stranger, type="text", text="Hi", payload={}, sent_at=timezone.now()
    )
    # The message is stored but the contact's window was never opened (last_inbound_at is empty).
    assert refusal(contact=stranger, text="Thanks for writing!", reply_to=inbound).code == "window_closed"
    open_window(stranger)
    message = send_message(contact=stranger, actor=SYSTEM, text="Thanks for writing!", reply_to=inbound)
    assert message.is_reply and message.reply_to == inbound
    # A utility template reply inside the window needs no opt-in either (a MARKETING one is refused:
    # tests/messaging/test_replies.py).
    reply = send_message(
        contact=stranger, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS, reply_to=inbound
    )
    assert reply.is_reply and reply.status == MessageStatus.QUEUED


def test_a_reply_to_someone_else_is_refused(customer, stranger):
    open_window(customer)
    inbound = InboundMessage.objects.create(
        wamid="wamid.in2", contact=stranger, type="text", text="Hi", payload={}, sent_at=timezone.now()
    )
    assert refusal(contact=customer, text="Hi", reply_to=inbound).code == "reply_to_other_contact"


def test_a_contact_not_on_whatsapp_is_refused(customer, order_update):
    customer.not_on_whatsapp_since = timezone.now()
    customer.save(update_fields=["not_on_whatsapp_since"])
    error = refusal(contact=customer, template=order_update, parameters=ORDER_PARAMETERS)
    assert error.code == "not_on_whatsapp"


def test_a_contact_known_only_by_user_id_cannot_be_sent_to(db, order_update):
    contact = ContactFactory(phone=None, user_id="BSUID.1")
    opt_in(contact, Purpose.SERVICE)
    error = refusal(contact=contact, template=order_update, parameters=ORDER_PARAMETERS)
    assert error.code == "no_whatsapp_address"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"text": "Hi", "template": "promotion"}, {"text": "   "}],
    ids=["neither", "both", "empty text"],
)
def test_content_must_be_one_template_or_one_text(customer, promotion, kwargs):
    open_window(customer)
    if kwargs.get("template"):
        kwargs = {**kwargs, "template": promotion, "parameters": PROMOTION_PARAMETERS}
    assert refusal(contact=customer, **kwargs).code == "message_content_invalid"


def test_a_second_send_with_the_same_idempotency_key_queues_nothing_more(customer, order_update):
    first = send_message(
        contact=customer,
        actor=Actor.system("tests"),
        template=order_update,
        parameters=ORDER_PARAMETERS,
        idempotency_key="admin-send:abc",
    )
    again = send_message(
        contact=customer,
        actor=Actor.system("tests"),
        template=order_update,
        parameters=ORDER_PARAMETERS,
        idempotency_key="admin-send:abc",
    )
    assert again.pk == first.pk
    assert OutboundMessage.objects.filter(contact=customer).count() == 1
