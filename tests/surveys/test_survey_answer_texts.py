"""An answer keeps our question text and option title as we sent them, not the title the phone
echoes back; the results page, the CSV and the contact page read those stored texts."""

import csv
import io

import pytest
from django.urls import reverse

from surveys.models import Answer, Option, Question
from surveys.questions import reply_id
from surveys.services import start_survey
from tests.messaging.webhook_bodies import inbound
from tests.surveys.conftest import AGENT, CUSTOMER_WA_ID, inbound_message, option, questions

pytestmark = pytest.mark.django_db


def test_a_forged_title_is_not_what_is_recorded(deliver, customer, survey):
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    first = questions(survey)[0]
    forged = {"id": reply_id(run.pk, first.pk, option(first, "Great").pk), "title": "=cmd|' /C calc'!A0"}
    deliver(inbound("interactive", {"type": "button_reply", "button_reply": forged}, wa_id=CUSTOMER_WA_ID))
    answer = Answer.objects.get()
    assert (answer.question_text, answer.option_title) == ("How was your visit?", "Great")


def test_results_csv_and_contact_page_read_the_stored_texts(deliver, client_for, auditor, customer, survey):
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    first = questions(survey)[0]
    great = option(first, "Great")
    identifier = reply_id(run.pk, first.pk, great.pk)
    deliver(
        inbound(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": identifier, "title": "Great"}},
            wa_id=CUSTOMER_WA_ID,
        )
    )
    # A rewording that got past the admin (straight in the database) does not rewrite the answer.
    Question.objects.filter(pk=first.pk).update(text="How bad was your visit?")
    Option.objects.filter(pk=great.pk).update(title="Terrible")
    client = client_for(auditor)
    results = client.get(reverse("admin:surveys_survey_results", args=[survey.pk]))
    first_result = results.context["results"][0]
    assert first_result.text == "How was your visit?"
    assert [(b.label, b.count) for b in first_result.bars] == [("Great", 1), ("OK", 0), ("Poor", 0)]
    export = client.get(reverse("admin:surveys_survey_export", args=[survey.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(r["question"], r["answer"]) for r in rows] == [("How was your visit?", "Great")]
    page = client.get(reverse("admin:contacts_contact_change", args=[customer.pk])).content.decode()
    assert "How was your visit?" in page and "How bad" not in page and "Terrible" not in page
