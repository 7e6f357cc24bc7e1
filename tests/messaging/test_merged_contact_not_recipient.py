"""A merged-away contact (``merged_into`` set) is never a recipient: the survivor stands for the person.

``send_message`` refuses it naming the survivor; a message queued before the merge is skipped at
send time, replies included.
"""

import pytest
from django.utils import timezone

from contacts.models import Contact, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.rules import SkipReason, send_time_verdict
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in
from tests.messaging.conftest import ORDER_PARAMETERS, inbound_message

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


@pytest.fixture
def survivor(db):
    contact = ContactFactory(phone="+4915100004242", first_name="Pablo", last_name="Survivor")
    opt_in(contact, Purpose.SERVICE)
    return contact


def merge(contact, into) -> None:
    Contact.objects.filter(pk=contact.pk).update(merged_into=into, merged_at=timezone.now())


def order(contact) -> OutboundMessage:
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.get(name="order_update")
    return send_message(contact=contact, actor=SYSTEM, template=template, parameters=ORDER_PARAMETERS)


def test_send_message_refuses_a_merged_away_contact_naming_the_survivor(customer, survivor, order_update):
    merge(customer, survivor)
    customer.refresh_from_db()
    with pytest.raises(ApplicationError) as refused:
        order(customer)
    assert refused.value.code == "contact_merged"
    assert str(survivor) in refused.value.message
    assert not OutboundMessage.objects.exists()


def test_send_message_refuses_even_with_a_stale_contact_object(customer, survivor, order_update):
    merge(customer, survivor)  # the caller's object still says "not merged"
    assert customer.merged_into_id is None
    with pytest.raises(ApplicationError) as refused:
        order(customer)
    assert refused.value.code == "contact_merged"


def test_a_message_queued_before_the_merge_is_skipped_naming_the_survivor(
    backend, customer, survivor, order_update
):
    message = order(customer)
    merge(customer, survivor)
    send_queued(message.pk)
    message.refresh_from_db()
    assert (message.status, message.error_class) == (MessageStatus.SKIPPED, SkipReason.CONTACT_MERGED)
    assert str(survivor) in message.error_text
    assert not message.attempts.exists() and backend.sent == []


def test_a_reply_to_a_merged_away_contact_is_skipped_too(customer, survivor):
    reply = send_message(
        contact=customer, actor=SYSTEM, text="Happy to help!", reply_to=inbound_message(customer)
    )
    merge(customer, survivor)
    verdict = send_time_verdict(OutboundMessage.objects.select_related("contact").get(pk=reply.pk))
    assert verdict.skipped and verdict.reason == SkipReason.CONTACT_MERGED


def test_the_survivor_is_still_a_recipient(backend, customer, survivor, order_update):
    merge(customer, survivor)
    message = order(survivor)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
