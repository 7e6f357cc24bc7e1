"""A marketing survey's first question is never a reply: the person's message does not stand for
their marketing opt-in. Started "as a reply" (the inbox, a trigger press) it gets the
business-initiated checks, and it goes with the marketing purpose and no quote, so the opt-in is
asked when it is queued and again when it is sent. A service survey still answers the person's
message. (Its later questions: test_survey_marketing_later_replies.py.)"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import ActivityLogEntry, Purpose
from messaging.models import InboundMessage, MessageStatus, OutboundMessage
from messaging.sending.rules import send_time_verdict
from surveys.models import RunState, SurveyRun
from surveys.services import start_survey
from tests.factories import opt_in, opt_out
from tests.surveys.conftest import AGENT, inbound_message, make_survey
from tests.surveys.test_survey_trigger import press, sent_reminder

pytestmark = pytest.mark.django_db
BACK = "/admin/inbox/conversation/1/change/"


@pytest.fixture
def product_ideas(db):
    return make_survey("Product ideas", purpose=Purpose.MARKETING, thank_you_text="Thanks, see you soon!")


def test_stop_on_monday_then_a_parcel_question_on_wednesday_gets_no_marketing_survey(
    client_for, support, stranger, product_ideas
):
    now = timezone.now()
    opt_in(stranger, Purpose.MARKETING, occurred_at=now - timedelta(days=10))
    opt_in(stranger, Purpose.SERVICE, occurred_at=now - timedelta(days=10))
    opt_out(stranger, Purpose.MARKETING, occurred_at=now - timedelta(days=2))  # Monday: STOP
    inbound_message(stranger, "Where is my parcel?")  # Wednesday: the window is open
    response = client_for(support).post(
        reverse("admin:surveys_start"), {"contact": stranger.pk, "survey": product_ideas.pk, "next": BACK}
    )
    assert response.status_code == 302 and response["Location"] == BACK
    [shown] = [str(m) for m in response.wsgi_request._messages]
    assert "“Product ideas” was not started" in shown and "no current opt-in for marketing" in shown
    assert "never a reply" in shown
    assert not SurveyRun.objects.exists() and not OutboundMessage.objects.exists()


def test_started_as_a_reply_with_the_opt_in_it_goes_business_initiated(
    client_for, support, customer, product_ideas
):
    latest = inbound_message(customer, "Happy to help with ideas")
    client_for(support).post(
        reverse("admin:surveys_start"), {"contact": customer.pk, "survey": product_ideas.pk, "next": BACK}
    )
    run = SurveyRun.objects.get()
    first = run.first_message
    assert (first.is_reply, first.reply_to, first.purpose) == (False, None, Purpose.MARKETING)
    assert send_time_verdict(first).go
    assert run.started_from is None and run.last_question_message == first
    details = ActivityLogEntry.objects.get(action="survey.started").details
    assert (details["as_reply_to"], details["prompted_by"]) == (None, latest.pk)


def test_a_trigger_press_without_the_marketing_opt_in_starts_nothing(deliver, stranger, demo_templates):
    reminder = demo_templates["appointment_reminder"]
    survey = make_survey(
        "Offers you may like",
        purpose=Purpose.MARKETING,
        trigger_template=reminder,
        trigger_button_text="Confirm",
    )
    sent = sent_reminder(stranger, reminder)
    deliver(press(sent, "Confirm"))
    assert not SurveyRun.objects.exists()
    assert list(OutboundMessage.objects.exclude(pk=sent.pk)) == []
    refused = ActivityLogEntry.objects.get(action="survey.start_refused")
    assert refused.object_id == str(survey.pk) and refused.details["code"] == "survey_no_consent"
    assert refused.details["inbound_message"] == InboundMessage.objects.get(type="button").pk


def test_a_first_question_already_claimed_meets_the_opt_in_again_when_it_is_sent(customer, product_ideas):
    run = start_survey(
        contact=customer, survey=product_ideas, actor=AGENT, reply_to=inbound_message(customer)
    )
    OutboundMessage.objects.filter(pk=run.first_message_id).update(status=MessageStatus.SENDING)
    first = OutboundMessage.objects.get(pk=run.first_message_id)
    assert send_time_verdict(first).go
    opt_out(customer, Purpose.MARKETING)
    first.refresh_from_db()
    run.refresh_from_db()
    assert run.state == RunState.ABANDONED
    assert first.status == MessageStatus.SENDING  # past recall: the send-time rules decide it
    assert not send_time_verdict(first).go


def test_a_service_survey_still_answers_the_persons_message(customer, survey):
    message = inbound_message(customer, "Thanks!")
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=message)
    assert (run.first_message.is_reply, run.first_message.reply_to, run.started_from) == (
        True,
        message,
        message,
    )
