"""A marketing survey's later questions and its thank-you are replies to the person's answer
(service purpose, quoting it): their answer is the conversation going on. So they count against no
marketing frequency cap — the whole survey is one marketing message — while a STOP still wins: an
opt-out abandons the run and withdraws its queued question, and one already claimed is skipped at
send time as a reply overtaken by the opt-out."""

import pytest

from contacts.models import Purpose
from messaging.models import HoldReason, MessageStatus, OutboundMessage
from messaging.sending.rules import SkipReason, send_time_verdict
from messaging.sending.service import send_message
from messaging.tasks import dispatch
from surveys.models import RunState
from surveys.services import start_survey
from tests.messaging.webhook_bodies import text_message
from tests.surveys.conftest import AGENT, answer_body, inbound_message, make_survey, questions

pytestmark = pytest.mark.django_db


@pytest.fixture
def product_ideas(db):
    return make_survey("Product ideas", purpose=Purpose.MARKETING, thank_you_text="Thanks, see you soon!")


@pytest.fixture
def run(customer, product_ideas):
    return start_survey(
        contact=customer, survey=product_ideas, actor=AGENT, reply_to=inbound_message(customer)
    )


def test_every_later_question_and_the_thank_you_reply_to_the_answer(deliver, run, product_ideas):
    first, second = questions(product_ideas)
    deliver(answer_body(run, first, "Great"))
    run.refresh_from_db()
    follow_up = run.last_question_message
    assert follow_up != run.first_message and follow_up.content["type"] == "list"
    assert (follow_up.is_reply, follow_up.reply_to, follow_up.purpose) == (
        True,
        run.answers.get().inbound,
        Purpose.SERVICE,
    )
    deliver(answer_body(run, second, "Price"))
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED
    thanks = OutboundMessage.objects.latest("id")
    assert thanks.content == {"type": "text", "body": "Thanks, see you soon!"}
    assert (thanks.is_reply, thanks.reply_to, thanks.purpose) == (
        True,
        run.answers.get(question=second).inbound,
        Purpose.SERVICE,
    )


def test_the_whole_survey_goes_under_a_cap_of_one_marketing_message(
    settings, memory_backend, deliver, customer, run, product_ideas
):
    settings.MARKETING_FREQUENCY_CAP = 1
    first, second = questions(product_ideas)
    dispatch()
    deliver(answer_body(run, first, "OK"))
    dispatch()
    deliver(answer_body(run, second, "Staff"))
    dispatch()
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED
    ours = OutboundMessage.objects.filter(contact=customer)  # the two questions and the thank-you
    assert sorted(ours.values_list("status", flat=True)) == [MessageStatus.ACCEPTED] * 3
    assert ours.filter(purpose=Purpose.MARKETING, is_reply=False).get() == run.first_message
    # The cap is full: the next business-initiated marketing message waits, the survey did not.
    offer = send_message(contact=customer, actor=AGENT, text="20% off", purpose=Purpose.MARKETING)
    verdict = send_time_verdict(offer)
    assert (verdict.go, verdict.reason) == (False, HoldReason.FREQUENCY_CAP)


def test_a_stop_withdraws_the_queued_later_question(deliver, run, product_ideas):
    deliver(answer_body(run, questions(product_ideas)[0], "Great"))
    run.refresh_from_db()
    queued = run.last_question_message
    deliver(text_message("STOP"))
    run.refresh_from_db()
    queued.refresh_from_db()
    assert run.state == RunState.ABANDONED
    assert (queued.status, queued.error_class) == (MessageStatus.CANCELLED, "survey_abandoned")


def test_a_later_question_already_claimed_is_skipped_after_a_stop_all(deliver, customer, run, product_ideas):
    deliver(answer_body(run, questions(product_ideas)[0], "Great"))
    run.refresh_from_db()
    claimed = run.last_question_message
    OutboundMessage.objects.filter(pk=claimed.pk).update(status=MessageStatus.SENDING)
    deliver(text_message("STOP ALL"))
    claimed.refresh_from_db()
    assert claimed.status == MessageStatus.SENDING  # past recall
    verdict = send_time_verdict(claimed)
    assert (verdict.go, verdict.reason) == (False, SkipReason.OPTED_OUT)
