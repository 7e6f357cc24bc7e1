"""Starting a survey: business-initiated needs the opt-in and the window; a reply needs neither
opt-in nor anything but the window; one survey at a time; every refusal stores nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ActivityLogEntry, Purpose
from core.errors import ApplicationError
from messaging.models import MessageKind, OutboundMessage
from surveys.models import RunState, SurveyRun
from surveys.services import start_survey
from tests.factories import opt_out
from tests.surveys.conftest import AGENT, inbound_message, make_survey, questions

pytestmark = pytest.mark.django_db


def test_a_business_initiated_survey_sends_its_first_question_with_the_intro(customer, survey):
    inbound_message(customer)  # the window is open
    run = start_survey(contact=customer, survey=survey, actor=AGENT)
    assert (run.state, run.current_question, run.started_from) == (
        RunState.RUNNING,
        questions(survey)[0],
        None,
    )
    message = run.first_message
    assert (message.kind, message.is_reply, message.reply_to) == (MessageKind.INTERACTIVE, False, None)
    assert message.content["type"] == "buttons"
    assert message.content["body"] == "Thanks for visiting our Berlin store.\n\nHow was your visit?"
    assert [b["title"] for b in message.content["buttons"]] == ["Great", "OK", "Poor"]
    assert all(b["id"].startswith(f"survey:{run.pk}:") for b in message.content["buttons"])
    entry = ActivityLogEntry.objects.get(action="survey.started")
    assert entry.object_id == str(run.pk) and entry.details["as_reply_to"] is None


def test_business_initiated_needs_a_current_opt_in_for_the_surveys_purpose(stranger):
    marketing = make_survey("Product ideas", purpose=Purpose.MARKETING)
    inbound_message(stranger)
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=stranger, survey=marketing, actor=AGENT)
    assert refused.value.code == "survey_no_consent" and "marketing" in refused.value.message
    assert not SurveyRun.objects.exists() and not OutboundMessage.objects.exists()


def test_a_marketing_survey_needs_the_marketing_opt_in_alone(stranger):
    from tests.factories import opt_in

    marketing = make_survey("Product ideas", purpose=Purpose.MARKETING)
    opt_in(stranger, Purpose.MARKETING)  # no service opt-in
    inbound_message(stranger)
    message = start_survey(contact=stranger, survey=marketing, actor=AGENT).first_message
    assert (message.purpose, message.is_reply) == (Purpose.MARKETING, False)


def test_business_initiated_after_an_opt_out_is_refused(customer, survey):
    inbound_message(customer, at=timezone.now() - timedelta(minutes=5))
    opt_out(customer, Purpose.SERVICE)
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=survey, actor=AGENT)
    assert refused.value.code == "survey_no_consent"
    assert not SurveyRun.objects.exists()


def test_outside_the_window_a_survey_starts_only_from_a_template(customer, survey):
    inbound_message(customer, at=timezone.now() - timedelta(hours=25))
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=survey, actor=AGENT)
    assert refused.value.code == "survey_window_closed"
    assert (
        "can only start from a template" in refused.value.message and "it closed at" in refused.value.message
    )
    assert not SurveyRun.objects.exists() and not OutboundMessage.objects.exists()


def test_as_a_reply_to_the_persons_message_no_opt_in_is_needed(stranger, survey):
    question = inbound_message(stranger, "I was in your shop today")
    run = start_survey(contact=stranger, survey=survey, actor=AGENT, reply_to=question)
    message = run.first_message
    assert (message.is_reply, message.reply_to, run.started_from) == (True, question, question)
    assert message.authorising_event is None


def test_a_reply_to_a_message_written_before_an_opt_out_is_refused(customer, survey):
    before = inbound_message(customer, "Hi", at=timezone.now() - timedelta(minutes=5))
    opt_out(customer, Purpose.MARKETING)
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=before)
    assert refused.value.code == "survey_after_opt_out"
    after = inbound_message(customer, "Actually, one question")
    assert (
        start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=after).state == RunState.RUNNING
    )


def test_one_running_survey_per_person(customer, survey):
    other = make_survey("Delivery feedback")
    message = inbound_message(customer)
    start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=message)
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=other, actor=AGENT, reply_to=message)
    assert refused.value.code == "survey_already_running" and "“Visit feedback”" in refused.value.message
    assert SurveyRun.objects.count() == 1 and OutboundMessage.objects.count() == 1


def test_an_inactive_or_unsendable_survey_is_refused(customer, survey):
    message = inbound_message(customer)
    draft = make_survey("Draft", active=False)
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=draft, actor=AGENT, reply_to=message)
    assert refused.value.code == "survey_inactive"
    questions(survey)[1].options.all().delete()
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=message)
    assert (
        refused.value.code == "survey_invalid"
        and "Question 2: The question has no options" in refused.value.message
    )
    assert not SurveyRun.objects.exists()


def test_a_refusal_of_the_send_path_leaves_no_run(customer, survey):
    message = inbound_message(customer)
    customer.not_on_whatsapp_since = timezone.now()
    customer.save()
    with pytest.raises(ApplicationError) as refused:
        start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=message)
    assert refused.value.code == "not_on_whatsapp"
    assert not SurveyRun.objects.exists()
