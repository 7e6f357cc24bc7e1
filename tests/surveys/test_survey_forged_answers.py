"""An answer's reply id comes from a phone: another person's run, a finished run, a question or option
not of the run, a question not asked yet — each is ignored, and the message still lands in the inbox."""

import pytest

from messaging.models import InboundMessage, OutboundMessage
from surveys.models import Answer, RunState
from surveys.services import run_abandon, start_survey
from tests.factories import ContactFactory
from tests.surveys.conftest import AGENT, answer_body, inbound_message, make_survey, option, questions

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(customer, survey):
    return start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))


def nothing_happened(run, sent_before):
    assert not Answer.objects.exists()
    assert OutboundMessage.objects.count() == sent_before
    run.refresh_from_db()
    assert run.current_question == questions(run.survey)[0]
    assert InboundMessage.objects.filter(type="interactive").exists()  # stored all the same


def test_another_persons_run_is_ignored(deliver, run, survey):
    other = ContactFactory(phone="+4915199999999")
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, questions(survey)[0], "Great", wa_id="4915199999999"))
    nothing_happened(run, sent)
    assert InboundMessage.objects.get(type="interactive").contact == other


def test_a_finished_run_is_ignored(deliver, run, survey):
    run_abandon(run=run, reason="tests")
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, questions(survey)[0], "Great"))
    assert not Answer.objects.exists() and OutboundMessage.objects.count() == sent


def test_an_unknown_option_or_another_questions_option_is_ignored(deliver, run, survey):
    first, second = questions(survey)
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, first, "Great", option_id=option(second, "Staff").pk))
    deliver(answer_body(run, first, "Great", option_id=99999999))
    nothing_happened(run, sent)


def test_a_question_of_another_survey_or_not_asked_yet_is_ignored(deliver, run, survey):
    first, second = questions(survey)
    elsewhere = questions(make_survey("Other"))[0]
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, second, "Staff"))  # not asked yet
    deliver(
        answer_body(run, first, "Great", question_id=elsewhere.pk, option_id=option(elsewhere, "Great").pk)
    )
    nothing_happened(run, sent)


def test_an_unknown_run_or_a_malformed_id_is_ignored(deliver, run, survey):
    first, _ = questions(survey)
    sent = OutboundMessage.objects.count()
    deliver(answer_body(run, first, "Great", run_id=run.pk + 1000))
    from tests.messaging.webhook_bodies import inbound

    deliver(
        inbound(
            "interactive", {"type": "button_reply", "button_reply": {"id": "survey:x:1:2", "title": "Great"}}
        )
    )
    deliver(
        inbound(
            "interactive", {"type": "button_reply", "button_reply": {"id": ["not", "text"], "title": "Great"}}
        )
    )
    nothing_happened(run, sent)
    assert run.state == RunState.RUNNING
