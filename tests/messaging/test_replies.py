"""A reply is a message that answers an inbound message of its contact inside the window, and never
a MARKETING template. Only such a message skips consent, quiet hours, the cap and the budget, and
goes through a halt started by hand; no flag makes anything else a reply."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import HoldReason, InboundMessage, MessageKind, MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.halt import active_halt, sending_halt_start
from messaging.sending.rules import SkipReason, recheck_before_request, send_time_verdict
from messaging.sending.service import send_message
from templates_app.models import Category
from tests.factories import ContactFactory, UserFactory, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS, inbound_message

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def refusal(**kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        send_message(actor=SYSTEM, **kwargs)
    assert not OutboundMessage.objects.exists(), "a refusal must leave nothing behind"
    return info.value


def halt_by_hand():
    sending_halt_start(actor=Actor.for_user(UserFactory(role="Administrator")), reason="Checking a complaint")


# --- Queue time -------------------------------------------------------------------------------------


def test_a_marketing_template_is_never_a_reply(customer, promotion):
    """The person sent STOP (which opened their window) and staff halted sending: a promotion
    "answering" the STOP is refused, whatever it claims to answer."""
    opt_out(customer, Purpose.MARKETING)
    stop = inbound_message(customer, "STOP")
    halt_by_hand()
    error = refusal(contact=customer, template=promotion, parameters=PROMOTION_PARAMETERS, reply_to=stop)
    assert error.code == "marketing_not_a_reply"
    assert "marketing" in error.message.lower()


def test_there_is_no_reply_flag_without_the_message_it_answers(customer):
    with pytest.raises(TypeError):
        send_message(contact=customer, actor=SYSTEM, text="Happy to help", is_reply=True)


def test_a_free_form_text_without_reply_to_is_business_initiated(stranger):
    """No opt-in: a text that answers nothing needs the window *and* a service opt-in."""
    inbound_message(stranger)
    assert refusal(contact=stranger, text="Happy to help").code == "no_consent"


def test_a_reply_answers_a_message_of_that_contact_and_needs_no_opt_in(stranger, order_update):
    question = inbound_message(stranger, "Where is my parcel?")
    text = send_message(contact=stranger, actor=SYSTEM, text="It left today.", reply_to=question)
    utility = send_message(
        contact=stranger, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS, reply_to=question
    )
    for message in (text, utility):
        assert message.is_reply and message.reply_to == question
        assert send_time_verdict(message).go


def test_a_reply_to_someone_elses_message_is_refused(customer, stranger):
    inbound_message(customer)
    theirs = inbound_message(stranger)
    assert refusal(contact=customer, text="Hi", reply_to=theirs).code == "reply_to_other_contact"


def test_a_reply_to_a_message_from_before_the_window_is_refused(stranger):
    old = inbound_message(stranger, "Hello?", at=timezone.now() - timedelta(hours=25))
    inbound_message(stranger, "Anyone there?")  # the window is open, but not for that message
    error = refusal(contact=stranger, text="Sorry for the wait", reply_to=old)
    assert error.code == "reply_to_outside_window"
    assert error.field == "reply_to"


@pytest.mark.parametrize(
    "reply_to",
    [
        lambda contact: InboundMessage(contact=contact, wamid="wamid.unsaved", sent_at=timezone.now()),
        lambda contact: OutboundMessage(pk=1, contact=contact, kind=MessageKind.TEXT),
        lambda contact: "wamid.in.1",
    ],
    ids=["unsaved", "an outbound message", "a string"],
)
def test_reply_to_must_be_a_stored_inbound_message(stranger, reply_to):
    inbound_message(stranger)
    error = refusal(contact=stranger, text="Hi", reply_to=reply_to(stranger))
    assert (error.code, error.field) == ("reply_to_invalid", "reply_to")


def test_a_reply_to_a_message_deleted_meanwhile_is_refused(stranger):
    question = inbound_message(stranger)
    gone = InboundMessage(pk=question.pk + 1000, contact=stranger, wamid="wamid.gone", sent_at=timezone.now())
    error = refusal(contact=stranger, text="Hi", reply_to=gone)
    assert error.code == "reply_to_invalid"


def test_the_reply_follows_the_message_it_answers_to_the_surviving_contact(stranger):
    """After a merge the inbound message belongs to the survivor; an old object of it still works."""
    question = inbound_message(stranger)
    survivor = ContactFactory()
    InboundMessage.objects.filter(pk=question.pk).update(contact=survivor)
    inbound_message(survivor)
    message = send_message(contact=survivor, actor=SYSTEM, text="Happy to help", reply_to=question)
    assert message.is_reply and message.contact == survivor


# --- The database --------------------------------------------------------------------------------


def test_the_database_refuses_a_reply_without_the_message_it_answers(stranger):
    reply = send_message(contact=stranger, actor=SYSTEM, text="Hi", reply_to=inbound_message(stranger))
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.filter(pk=reply.pk).update(reply_to=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.create(
            contact=stranger, kind=MessageKind.TEXT, purpose="service", is_reply=True
        )
    assert OutboundMessage.objects.get(pk=reply.pk).reply_to_id is not None


def test_the_database_refuses_a_marketing_reply(customer, promotion):
    business = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    question = inbound_message(customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.filter(pk=business.pk).update(is_reply=True, reply_to=question)
    assert not OutboundMessage.objects.get(pk=business.pk).is_reply


# --- Send time -------------------------------------------------------------------------------------


def flagged_without_reply_to(contact) -> OutboundMessage:
    """What the database refuses to store: the rules must not trust the flag on an object either."""
    return OutboundMessage(contact=contact, kind=MessageKind.TEXT, purpose=Purpose.SERVICE, is_reply=True)


def test_the_send_time_rules_ask_consent_of_a_flag_without_reply_to(stranger):
    inbound_message(stranger)
    message = flagged_without_reply_to(stranger)
    verdict = send_time_verdict(message)
    assert verdict.skipped and verdict.reason == SkipReason.NO_CONSENT
    assert recheck_before_request(message, merged_into_id=None).reason == SkipReason.NO_CONSENT


def test_a_manual_halt_holds_a_flag_without_reply_to(stranger):
    halt_by_hand()
    assert active_halt().holds(flagged_without_reply_to(stranger))


def test_a_manual_halt_lets_a_real_reply_go(memory_backend, stranger):
    reply = send_message(contact=stranger, actor=SYSTEM, text="Hi", reply_to=inbound_message(stranger))
    halt_by_hand()
    assert not active_halt().holds(reply)
    send_queued(reply.pk)
    assert OutboundMessage.objects.get(pk=reply.pk).status == MessageStatus.ACCEPTED


def test_a_reply_whose_template_became_marketing_is_skipped(memory_backend, stranger, order_update):
    """Meta re-categorised the template after the reply was queued: a promotion is never a reply."""
    reply = send_message(
        contact=stranger,
        actor=SYSTEM,
        template=order_update,
        parameters=ORDER_PARAMETERS,
        reply_to=inbound_message(stranger),
    )
    order_update.category = Category.MARKETING
    order_update.save(update_fields=["category"])
    verdict = send_time_verdict(reply)
    assert verdict.skipped and verdict.reason == SkipReason.MARKETING_NOT_A_REPLY
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert (reply.status, reply.error_class) == (MessageStatus.SKIPPED, SkipReason.MARKETING_NOT_A_REPLY)
    assert memory_backend.sent == []


def test_a_business_message_during_a_manual_halt_still_waits(customer, order_update):
    business = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    inbound_message(customer)  # an open window does not make it a reply
    halt_by_hand()
    verdict = send_time_verdict(business)
    assert verdict.held and verdict.reason == HoldReason.HALT
