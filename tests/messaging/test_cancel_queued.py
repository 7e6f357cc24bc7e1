"""Queued messages can be withdrawn; one already claimed or sent is left exactly as it was."""

import pytest

from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.cancel import messages_cancel_queued
from messaging.sending.service import send_message
from tests.messaging.conftest import inbound_message

pytestmark = pytest.mark.django_db


def test_only_queued_messages_are_cancelled(stranger):
    question = inbound_message(stranger)
    queued, claimed = (
        send_message(contact=stranger, actor=Actor.system("tests"), text=text, reply_to=question)
        for text in ("Question 2", "Question 3")
    )
    OutboundMessage.objects.filter(pk=claimed.pk).update(status=MessageStatus.SENDING)
    done = messages_cancel_queued(
        message_ids=[queued.pk, claimed.pk], reason="survey_abandoned", detail="The person ended the survey."
    )
    assert done == [queued.pk]
    queued.refresh_from_db()
    assert (queued.status, queued.error_class, queued.next_attempt_at) == (
        MessageStatus.CANCELLED,
        "survey_abandoned",
        None,
    )
    assert OutboundMessage.objects.get(pk=claimed.pk).status == MessageStatus.SENDING
    assert messages_cancel_queued(message_ids=[], reason="x", detail="") == []
