"""An opt-out that abandons a run withdraws the run's question still queued (cancelled, never sent);
a question the dispatcher already claimed is left to the send-time rules."""

import pytest

from contacts.models import ActivityLogEntry, Purpose
from messaging.models import MessageStatus, OutboundMessage
from surveys.models import RunState
from surveys.services import run_abandon, start_survey
from tests.factories import opt_out
from tests.messaging.webhook_bodies import text_message
from tests.surveys.conftest import AGENT, answer_body, inbound_message, questions

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(customer, survey):
    return start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))


def test_a_stop_withdraws_the_next_question_still_queued(deliver, run, survey):
    deliver(answer_body(run, questions(survey)[0], "Great"))
    run.refresh_from_db()
    queued = run.last_question_message
    assert queued.status == MessageStatus.QUEUED and queued.is_reply
    deliver(text_message("STOP"))
    run.refresh_from_db()
    queued.refresh_from_db()
    assert run.state == RunState.ABANDONED
    assert (queued.status, queued.error_class) == (MessageStatus.CANCELLED, "survey_abandoned")
    assert f"Survey run #{run.pk} was abandoned" in queued.error_text and queued.finished_at is not None
    # (The first question is still queued too here: no dispatcher runs in this test.)
    cancelled = ActivityLogEntry.objects.get(action="survey.abandoned").details["cancelled_messages"]
    assert sorted(cancelled) == sorted([run.first_message_id, queued.pk])
    # The STOP's own confirmation is not the survey's: it still goes.
    confirmation = OutboundMessage.objects.get(reply_to__text="STOP")
    assert confirmation.status == MessageStatus.QUEUED


def test_an_opt_out_by_staff_withdraws_the_first_question(run, customer):
    opt_out(customer, Purpose.SERVICE)
    run.first_message.refresh_from_db()
    assert run.first_message.status == MessageStatus.CANCELLED


def test_a_question_already_claimed_is_left_as_it_is(run):
    OutboundMessage.objects.filter(pk=run.first_message_id).update(status=MessageStatus.SENDING)
    assert run_abandon(run=run, reason="The person opted out.")
    run.first_message.refresh_from_db()
    assert run.first_message.status == MessageStatus.SENDING
    assert ActivityLogEntry.objects.get(action="survey.abandoned").details["cancelled_messages"] == []


def test_a_run_no_longer_running_withdraws_nothing(run):
    assert run_abandon(run=run, reason="first")
    OutboundMessage.objects.filter(pk=run.first_message_id).update(status=MessageStatus.QUEUED)
    assert not run_abandon(run=run, reason="second")
    run.first_message.refresh_from_db()
    assert run.first_message.status == MessageStatus.QUEUED
