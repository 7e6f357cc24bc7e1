"""A reply queued before the person opted out of its purpose does not go after it: their opt-out
made after writing the message it answers outvotes the reply. The confirmation answering the
opt-out itself, and a reply to a message written after it, still go (docs/consent.md)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ConsentSource, Purpose
from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.rules import SkipReason, recheck_before_request, send_time_verdict
from messaging.sending.service import send_message
from tests.factories import opt_in, opt_out
from tests.messaging.conftest import inbound_message

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def reply_to(message, text="Happy to help") -> OutboundMessage:
    return send_message(contact=message.contact, actor=SYSTEM, text=text, reply_to=message)


def test_a_reply_queued_before_stop_all_is_skipped_when_its_turn_comes(memory_backend, stranger):
    question = inbound_message(stranger, "Where is my order?", at=timezone.now() - timedelta(minutes=5))
    reply = reply_to(question)
    for purpose in (Purpose.MARKETING, Purpose.SERVICE):  # "STOP ALL", a minute later
        opt_out(stranger, purpose, occurred_at=timezone.now() - timedelta(minutes=4))
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert (reply.status, reply.error_class) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert memory_backend.sent == []


def test_the_last_look_before_the_request_sees_an_opt_out_recorded_after_the_claim(stranger):
    question = inbound_message(stranger, "Hi", at=timezone.now() - timedelta(minutes=5))
    reply = reply_to(question)
    assert send_time_verdict(OutboundMessage.objects.get(pk=reply.pk)).go
    opt_out(stranger, Purpose.SERVICE, occurred_at=timezone.now() - timedelta(minutes=1))
    verdict = recheck_before_request(OutboundMessage.objects.get(pk=reply.pk), merged_into_id=None)
    assert (verdict.go, verdict.reason) == (False, SkipReason.OPTED_OUT)


def stop_all_by_keyword(contact, stop):
    """The webhook's record of a STOP ALL keyword: at the message's own time, the message as evidence."""
    for purpose in (Purpose.MARKETING, Purpose.SERVICE):
        opt_out(
            contact,
            purpose,
            occurred_at=stop.sent_at,
            source=ConsentSource.KEYWORD,
            evidence={"inbound_message_id": stop.pk, "wamid": stop.wamid},
        )


def test_the_confirmation_answering_the_opt_out_itself_goes(memory_backend, stranger):
    stop = inbound_message(
        stranger, "STOP ALL", at=timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    )
    stop_all_by_keyword(stranger, stop)
    confirmation = reply_to(stop, "You will get no more messages from us. Reply START to undo.")
    send_queued(confirmation.pk)
    confirmation.refresh_from_db()
    assert confirmation.status == MessageStatus.ACCEPTED
    assert len(memory_backend.sent) == 1


def test_a_message_in_the_same_second_before_the_stop_is_not_answered(memory_backend, stranger):
    """Meta's whole seconds: "thanks" and "STOP ALL" sent together — the reply to "thanks" is outvoted."""
    second = timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    thanks = inbound_message(stranger, "thanks", at=second)
    reply = reply_to(thanks, "You're welcome!")
    stop = inbound_message(stranger, "STOP ALL", at=second)
    stop_all_by_keyword(stranger, stop)
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert (reply.status, reply.error_class) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)


def test_an_opt_out_recorded_by_staff_in_the_messages_second_outvotes_its_reply(stranger):
    second = timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    question = inbound_message(stranger, "Hi", at=second)
    reply = reply_to(question)
    opt_out(stranger, Purpose.SERVICE, occurred_at=second)  # no message of its own: counts as after
    verdict = recheck_before_request(OutboundMessage.objects.get(pk=reply.pk), merged_into_id=None)
    assert (verdict.go, verdict.reason) == (False, SkipReason.OPTED_OUT)


def test_a_message_written_after_the_opt_out_can_be_answered(memory_backend, stranger):
    opt_out(stranger, Purpose.SERVICE, occurred_at=timezone.now() - timedelta(hours=1))
    later = inbound_message(stranger, "One more question, please", at=timezone.now() - timedelta(minutes=1))
    reply = reply_to(later)
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert reply.status == MessageStatus.ACCEPTED


def test_an_opt_out_of_marketing_alone_leaves_a_service_reply_alone(memory_backend, stranger):
    question = inbound_message(stranger, "Where is my order?", at=timezone.now() - timedelta(minutes=5))
    reply = reply_to(question)
    opt_out(stranger, Purpose.MARKETING, occurred_at=timezone.now() - timedelta(minutes=1))
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert reply.status == MessageStatus.ACCEPTED


def test_opting_back_in_lets_the_reply_go_again(memory_backend, stranger):
    question = inbound_message(stranger, "Hi", at=timezone.now() - timedelta(minutes=10))
    reply = reply_to(question)
    opt_out(stranger, Purpose.SERVICE, occurred_at=timezone.now() - timedelta(minutes=5))
    opt_in(
        stranger,
        Purpose.SERVICE,
        occurred_at=timezone.now() - timedelta(minutes=1),
        evidence={"note": "asked for updates again on the phone, ticket 4711"},
    )
    send_queued(reply.pk)
    reply.refresh_from_db()
    assert reply.status == MessageStatus.ACCEPTED
