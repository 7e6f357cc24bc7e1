"""Once a survey has been started, what its recorded answers mean cannot change: its purpose,
questions and options are read-only in the admin (a posted change is ignored or refused), and the
models' ``clean`` refuses a change that reaches them another way. A survey never started stays
editable."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from surveys.models import Option, Question
from surveys.services import start_survey
from tests.surveys.conftest import AGENT, inbound_message, option, questions
from tests.surveys.test_survey_admin_validation import option_form, survey_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(customer, survey):
    start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    return survey


def texts(survey):
    return [(q.text, q.kind, [o.title for o in q.options.all()]) for q in questions(survey)]


def test_the_survey_page_ignores_posted_changes_to_its_questions_and_purpose(client_for, editor, started):
    before = texts(started)
    page = client_for(editor).get(reverse("admin:surveys_survey_change", args=[started.pk]))
    assert 'id="survey-started-note"' in page.content.decode()
    response = client_for(editor).post(
        reverse("admin:surveys_survey_change", args=[started.pk]),
        survey_form(
            started,
            purpose="marketing",
            name="Visit feedback (2027)",
            **{
                "questions-0-text": "How bad was your visit?",
                "questions-0-DELETE": "on",
                "questions-TOTAL_FORMS": "3",
                "questions-2-survey": started.pk,
                "questions-2-position": "3",
                "questions-2-text": "Smuggled in",
                "questions-2-kind": "buttons",
                "questions-2-list_button": "Choose",
            },
        ),
    )
    assert response.status_code == 302
    started.refresh_from_db()
    assert (started.name, started.purpose) == ("Visit feedback (2027)", "service")  # the name may change
    assert texts(started) == before


def test_an_intro_that_no_longer_fits_above_the_first_question_is_named(client_for, editor, started):
    response = client_for(editor).post(
        reverse("admin:surveys_survey_change", args=[started.pk]), survey_form(started, intro_text="x" * 1100)
    )
    assert response.status_code == 200
    assert "Question 1: With the survey&#x27;s intro, the question has" in response.content.decode()


def test_the_question_page_is_read_only_and_refuses_a_post(client_for, editor, started):
    first = questions(started)[0]
    url = reverse("admin:surveys_question_change", args=[first.pk])
    page = client_for(editor).get(url)
    assert page.status_code == 200 and 'id="survey-started-note"' in page.content.decode()
    assert (
        'name="text"' not in page.content.decode() and 'name="options-0-title"' not in page.content.decode()
    )
    data = option_form(first, [("Terrible", "")]) | {"text": "How bad was it?"}
    assert client_for(editor).post(url, data).status_code == 403
    delete = reverse("admin:surveys_question_delete", args=[first.pk])
    assert client_for(editor).post(delete, {"post": "yes"}).status_code == 403
    assert texts(started)[0] == ("How was your visit?", "buttons", ["Great", "OK", "Poor"])


def test_a_question_cannot_be_added_to_a_started_survey(client_for, editor, started):
    response = client_for(editor).post(
        reverse("admin:surveys_question_add"),
        {
            "survey": started.pk,
            "position": "3",
            "text": "One more?",
            "kind": "buttons",
            "list_button": "Choose",
        }
        | {"options-TOTAL_FORMS": "0", "options-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 200 and "This survey has been started" in response.content.decode()
    assert started.questions.count() == 2


def test_clean_refuses_a_change_made_another_way(started):
    first = questions(started)[0]
    first.text = "How bad was your visit?"
    with pytest.raises(ValidationError) as refused:
        first.full_clean()
    assert set(refused.value.message_dict) == {"text"}
    great = option(first, "Great")
    great.title = "Terrible"
    with pytest.raises(ValidationError) as refused:
        great.full_clean()
    assert set(refused.value.message_dict) == {"title"}
    with pytest.raises(ValidationError):
        Option(question=first, position=4, title="Meh").full_clean()
    started.purpose = "marketing"
    with pytest.raises(ValidationError) as refused:
        started.full_clean()
    assert set(refused.value.message_dict) == {"purpose"}


def test_a_survey_never_started_stays_editable(survey):
    first = questions(survey)[0]
    first.text = "How did we do?"
    first.full_clean()
    great = option(first, "Great")
    great.title = "Excellent"
    great.full_clean()
    Question(survey=survey, position=3, text="More?").full_clean()
    survey.purpose = "marketing"
    survey.full_clean()
