"""Starting a survey for someone whose running run is stuck (its question never reached them, or
their window closed with it unanswered) abandons that run first, without waiting for the hourly
sweep; a live run still refuses the start, and a start refused for another reason leaves the stuck
run as it was."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from contacts.models import ActivityLogEntry
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageStatus, OutboundMessage
from surveys.models import RunState, SurveyRun
from surveys.services import start_survey
from tests.surveys.conftest import AGENT, inbound_message, make_survey
from tests.surveys.test_survey_trigger import press, sent_reminder

pytestmark = pytest.mark.django_db


@pytest.fixture
def stuck(customer, survey):
    return start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))


def a_day_ago(run) -> None:
    """Everything so far happened 25 hours ago: the person's window closed with the question unanswered."""
    back = timedelta(hours=25)
    InboundMessage.objects.filter(contact=run.contact).update(sent_at=F("sent_at") - back)
    OutboundMessage.objects.filter(contact=run.contact).update(created_at=F("created_at") - back)
    SurveyRun.objects.filter(pk=run.pk).update(started_at=F("started_at") - back)
    type(run.contact).objects.filter(pk=run.contact_id).update(last_inbound_at=F("last_inbound_at") - back)
    run.contact.refresh_from_db()


def test_an_agent_starts_a_survey_over_a_run_whose_question_was_skipped(customer, stuck):
    OutboundMessage.objects.filter(pk=stuck.first_message_id).update(status=MessageStatus.SKIPPED)
    other = make_survey("Delivery feedback")
    run = start_survey(contact=customer, survey=other, actor=AGENT, reply_to=inbound_message(customer))
    stuck.refresh_from_db()
    assert (stuck.state, run.state, run.survey) == (RunState.ABANDONED, RunState.RUNNING, other)
    entry = ActivityLogEntry.objects.get(action="survey.abandoned")
    assert (entry.object_id, entry.actor_label, entry.details["stuck"]) == (
        str(stuck.pk),
        AGENT.label,
        MessageStatus.SKIPPED,
    )


def test_a_trigger_press_after_a_closed_window_starts_its_survey_over_the_unanswered_one(
    deliver, customer, stuck, demo_templates
):
    reminder = demo_templates["appointment_reminder"]
    make_survey("Appointment confirmed", trigger_template=reminder, trigger_button_text="Confirm")
    a_day_ago(stuck)
    deliver(press(sent_reminder(customer, reminder), "Confirm"))  # reopens the window
    stuck.refresh_from_db()
    assert stuck.state == RunState.ABANDONED and "window closed" in stuck.end_reason
    assert OutboundMessage.objects.get(pk=stuck.first_message_id).status == MessageStatus.CANCELLED
    started = SurveyRun.objects.get(state=RunState.RUNNING)
    assert started.survey.name == "Appointment confirmed"
    assert not ActivityLogEntry.objects.filter(action="survey.start_refused").exists()


def test_a_live_run_still_refuses_another_start(customer, stuck):
    OutboundMessage.objects.filter(pk=stuck.first_message_id).update(status=MessageStatus.DELIVERED)
    with pytest.raises(ApplicationError) as refused:
        start_survey(
            contact=customer, survey=make_survey("Other"), actor=AGENT, reply_to=inbound_message(customer)
        )
    assert refused.value.code == "survey_already_running" and "Visit feedback" in refused.value.message
    stuck.refresh_from_db()
    assert stuck.state == RunState.RUNNING


def test_a_start_refused_after_the_stuck_run_was_ended_leaves_it_as_it_was(customer, stuck):
    OutboundMessage.objects.filter(pk=stuck.first_message_id).update(status=MessageStatus.FAILED)
    answering = inbound_message(customer)
    customer.not_on_whatsapp_since = timezone.now()  # send_message refuses the new first question
    customer.save(update_fields=["not_on_whatsapp_since"])
    logged = ActivityLogEntry.objects.count()
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=make_survey("Other"), actor=AGENT, reply_to=answering)
    assert refused.value.code == "not_on_whatsapp"
    stuck.refresh_from_db()
    assert (stuck.state, stuck.end_reason) == (RunState.RUNNING, "")
    assert ActivityLogEntry.objects.count() == logged
    assert SurveyRun.objects.count() == 1
