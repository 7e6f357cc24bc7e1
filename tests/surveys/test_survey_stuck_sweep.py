"""The hourly sweep ends every run that can no longer move on — its latest question skipped, failed
or withdrawn, or the person's window closed (now, or and reopened since the question) with it
unanswered — as abandoned, logged with the reason, its question still queued withdrawn; live runs
stay running. Set-based: the same queries for one stuck run as for many."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from contacts.models import ActivityLogEntry
from messaging.models import FINAL_STATUSES, InboundMessage, MessageStatus, OutboundMessage
from surveys.apps import ensure_schedules
from surveys.models import RunState, SurveyRun
from surveys.services import start_survey
from surveys.stuck import REASONS, WINDOW_CLOSED, runs_abandon_stuck
from surveys.tasks import SWEEP_SCHEDULE_NAME, sweep_stuck_runs
from tests.factories import ContactFactory
from tests.surveys.conftest import AGENT, inbound_message, make_survey

pytestmark = pytest.mark.django_db

LATER = timedelta(hours=24, minutes=1)


def running(count=1, *, survey=None):
    survey = survey or make_survey("Visit feedback")
    runs = []
    for _ in range(count):
        person = ContactFactory()
        message = inbound_message(person)
        runs.append(start_survey(contact=person, survey=survey, actor=AGENT, reply_to=message))
    return runs


def ended(run, status):
    OutboundMessage.objects.filter(pk=run.last_question_message_id).update(
        status=status, error_class="window_closed" if status == MessageStatus.SKIPPED else "131026"
    )


@pytest.mark.parametrize("status", [MessageStatus.SKIPPED, MessageStatus.FAILED, MessageStatus.CANCELLED])
def test_a_run_whose_question_ended_without_reaching_the_person_is_abandoned(status):
    run, live = running(2)
    ended(run, status)
    assert runs_abandon_stuck() == {status: 1}
    run.refresh_from_db()
    assert (run.state, run.current_question, run.ended_at is not None) == (RunState.ABANDONED, None, True)
    assert "latest question" in run.end_reason
    entry = ActivityLogEntry.objects.get(action="survey.abandoned")
    assert (entry.object_id, entry.actor_label) == (str(run.pk), "survey sweeper")
    assert entry.details["reason"] == run.end_reason and entry.details["stuck"] == status
    assert entry.details["question_message_status"] == status
    assert entry.details["question_message"] == str(run.last_question_message.public_id)
    live.refresh_from_db()
    assert live.state == RunState.RUNNING


def test_every_final_status_of_a_message_is_a_reason():
    assert {reason.code for reason in REASONS} == {*FINAL_STATUSES, WINDOW_CLOSED}


def test_a_run_whose_window_closed_with_the_question_unanswered_is_abandoned_and_its_question_withdrawn():
    (run,) = running()
    assert runs_abandon_stuck(now=timezone.now() + timedelta(hours=23)) == {}
    assert runs_abandon_stuck(now=timezone.now() + LATER) == {WINDOW_CLOSED: 1}
    run.refresh_from_db()
    assert run.state == RunState.ABANDONED and "window closed" in run.end_reason
    question = OutboundMessage.objects.get(pk=run.first_message_id)
    assert (question.status, question.error_class) == (MessageStatus.CANCELLED, "survey_abandoned")
    entry = ActivityLogEntry.objects.get(action="survey.abandoned")
    assert entry.details["cancelled_messages"] == [question.pk]


def test_a_window_that_closed_and_reopened_since_the_question_ends_the_run_too():
    (run,) = running()
    inbound_message(run.contact, "Hello again", at=timezone.now() + LATER)  # after a day's silence
    assert runs_abandon_stuck(now=timezone.now() + LATER) == {WINDOW_CLOSED: 1}


def test_a_window_kept_open_by_the_persons_messages_keeps_the_run():
    (run,) = running()
    for hours in (20, 40):
        inbound_message(run.contact, "Still there", at=timezone.now() + timedelta(hours=hours))
    assert runs_abandon_stuck(now=timezone.now() + timedelta(hours=50)) == {}
    run.refresh_from_db()
    assert run.state == RunState.RUNNING


def test_a_delivered_or_queued_question_inside_the_window_keeps_the_run():
    delivered = running(2)[0]  # the other's question is still queued
    OutboundMessage.objects.filter(pk=delivered.first_message_id).update(status=MessageStatus.DELIVERED)
    assert runs_abandon_stuck() == {}
    assert set(SurveyRun.objects.values_list("state", flat=True)) == {RunState.RUNNING}


def test_a_run_already_ended_is_left_alone_and_the_sweep_repeats_safely():
    run, done = running(2)
    SurveyRun.objects.filter(pk=done.pk).update(state=RunState.COMPLETED, current_question=None)
    ended(done, MessageStatus.FAILED)
    ended(run, MessageStatus.FAILED)
    assert runs_abandon_stuck() == {MessageStatus.FAILED: 1}
    assert runs_abandon_stuck() == {}
    assert ActivityLogEntry.objects.filter(action="survey.abandoned").count() == 1
    done.refresh_from_db()
    assert done.state == RunState.COMPLETED


def test_the_sweep_is_set_based():
    survey = make_survey("Visit feedback")

    def queries_for(count):
        runs = running(count, survey=survey)
        for run in runs:
            ended(run, MessageStatus.SKIPPED)
        with CaptureQueriesContext(connection) as captured:
            assert runs_abandon_stuck() == {MessageStatus.SKIPPED: count}
        return len(captured)

    assert queries_for(1) == queries_for(6)


def test_the_task_reports_and_its_hourly_schedule_exists_once():
    run, other = running(2)
    ended(run, MessageStatus.SKIPPED)
    ended(other, MessageStatus.FAILED)
    assert sweep_stuck_runs() == "2 stuck survey runs abandoned (skipped: 1, failed: 1)"
    assert sweep_stuck_runs() == "0 stuck survey runs abandoned"
    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    schedule = Schedule.objects.get(name=SWEEP_SCHEDULE_NAME)  # created after migrate, once
    assert (schedule.func, schedule.schedule_type) == ("surveys.tasks.sweep_stuck_runs", Schedule.HOURLY)


def test_a_legacy_run_without_its_latest_question_counts_from_its_start():
    (run,) = running()
    SurveyRun.objects.filter(pk=run.pk).update(last_question_message=None)
    assert runs_abandon_stuck() == {}
    InboundMessage.objects.create(
        wamid="wamid.legacy", contact=run.contact, type="text", sent_at=timezone.now() + LATER
    )
    assert runs_abandon_stuck(now=timezone.now() + LATER) == {WINDOW_CLOSED: 1}
