"""Answers arriving by webhook: recorded in order, each next question a reply to the answer, the
thank-you after the last; a repeated press or a replayed webhook changes nothing."""

import pytest

from contacts.models import ActivityLogEntry
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from surveys.models import Answer, RunState
from surveys.services import start_survey
from tests.messaging.webhook_bodies import encode, sign
from tests.surveys.conftest import AGENT, answer_body, inbound_message, questions

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(customer, survey):
    return start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))


def test_answers_in_order_move_the_survey_on_and_complete_it(deliver, run, survey, customer):
    first, second = questions(survey)
    assert deliver(answer_body(run, first, "Great")).status_code == 200
    run.refresh_from_db()
    assert run.current_question == second
    pressed = InboundMessage.objects.get(type="interactive")
    follow_up = OutboundMessage.objects.get(reply_to=pressed)
    assert follow_up.is_reply and follow_up.content["type"] == "list"
    rows = follow_up.content["sections"][0]["rows"]
    assert [r["title"] for r in rows] == ["Waiting time", "Staff", "Price", "Nothing"]
    assert rows[0]["description"] == "We kept you waiting"
    assert follow_up.content["footer"] == "Question 2 of 2"

    deliver(answer_body(run, second, "Staff"))
    run.refresh_from_db()
    assert (run.state, run.current_question, run.ended_at is not None) == (RunState.COMPLETED, None, True)
    last = InboundMessage.objects.filter(type="interactive").latest("id")
    thanks = OutboundMessage.objects.get(reply_to=last)
    assert thanks.is_reply and thanks.content == {"type": "text", "body": "Thank you, that helps us a lot!"}
    answers = list(
        Answer.objects.order_by("question__position").values_list("question", "option_title", "contact")
    )
    assert answers == [(first.pk, "Great", customer.pk), (second.pk, "Staff", customer.pk)]
    assert ActivityLogEntry.objects.filter(action="survey.completed", object_id=str(run.pk)).exists()


def test_a_repeated_press_changes_nothing(deliver, run, survey):
    first, second = questions(survey)
    deliver(answer_body(run, first, "Great"))
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, first, "Poor"))  # the same question pressed again: a new message, same question
    assert list(Answer.objects.values_list("option_title", flat=True)) == ["Great"]
    assert OutboundMessage.objects.count() == sent
    run.refresh_from_db()
    assert run.current_question == second


def test_a_replayed_webhook_changes_nothing(deliver, run, survey, client):
    first, _ = questions(survey)
    body = encode(answer_body(run, first, "OK"))
    deliver(body)
    deliver(body)  # Meta delivers the same body again
    assert WebhookEvent.objects.count() == 2
    assert Answer.objects.count() == 1 and InboundMessage.objects.filter(type="interactive").count() == 1
    assert OutboundMessage.objects.count() == 2  # the first question and the second
    assert sign(body)  # signed as Meta signs


def test_an_answer_to_an_earlier_question_not_yet_answered_is_recorded_without_a_resend(deliver, run, survey):
    first, second = questions(survey)
    run.current_question = second  # as if the first question's answer had not come yet
    run.save()
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, first, "Poor"))
    assert list(Answer.objects.values_list("question", "option_title")) == [(first.pk, "Poor")]
    assert OutboundMessage.objects.count() == sent
    run.refresh_from_db()
    assert (run.state, run.current_question) == (RunState.RUNNING, second)


def test_a_refused_next_question_abandons_the_run_but_keeps_the_answer(
    deliver, run, survey, customer, monkeypatch
):
    first, _ = questions(survey)
    from surveys import services

    def refuse(**kwargs):
        from core.errors import ApplicationError

        raise ApplicationError("Sending is not possible right now.", code="tests")

    monkeypatch.setattr(services, "send_message", refuse)
    deliver(answer_body(run, first, "Great"))
    run.refresh_from_db()
    assert run.state == RunState.ABANDONED and "could not be sent" in run.end_reason
    assert Answer.objects.count() == 1
