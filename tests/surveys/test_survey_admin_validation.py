"""Editing surveys in the admin: Meta's limits named per option, a trigger that must be a quick reply
of its template (never the opt-out button), an active survey that must be sendable."""

import pytest
from django.urls import reverse

from surveys.models import Option, Question, Survey
from tests.surveys.conftest import make_survey, questions

pytestmark = pytest.mark.django_db


def option_form(question, rows):
    data = {
        "survey": question.survey_id,
        "position": question.position,
        "text": question.text,
        "kind": question.kind,
        "list_button": question.list_button,
        "options-TOTAL_FORMS": str(len(rows)),
        "options-INITIAL_FORMS": "0",
        "options-MIN_NUM_FORMS": "0",
        "options-MAX_NUM_FORMS": "1000",
    }
    for i, (title, description) in enumerate(rows):
        data |= {
            f"options-{i}-position": str(i + 1),
            f"options-{i}-title": title,
            f"options-{i}-description": description,
            f"options-{i}-question": question.pk,
        }
    return data


@pytest.fixture
def fresh_question(survey):
    question = Question.objects.create(survey=survey, position=3, text="Would you come again?")
    return question


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([("A", ""), ("B", ""), ("C", ""), ("D", "")], "at most 3 reply buttons"),
        ([("Twenty-two characters!", "")], "reply buttons allow at most 20"),
        ([("Yes", ""), ("YES", "")], "repeats another option"),
        ([("Yes", "with a description")], "only list rows show one"),
    ],
)
def test_meta_limits_on_options_are_named(client_for, editor, fresh_question, rows, words):
    url = reverse("admin:surveys_question_change", args=[fresh_question.pk])
    response = client_for(editor).post(url, option_form(fresh_question, rows))
    assert response.status_code == 200 and words in response.content.decode()
    assert not fresh_question.options.exists()


def test_options_within_the_limits_are_saved(client_for, editor, fresh_question):
    url = reverse("admin:surveys_question_change", args=[fresh_question.pk])
    response = client_for(editor).post(url, option_form(fresh_question, [("Yes", ""), ("No", "")]))
    assert response.status_code == 302
    assert list(fresh_question.options.values_list("title", flat=True)) == ["Yes", "No"]


def survey_form(survey, **changes):
    data = {
        "name": survey.name,
        "purpose": survey.purpose,
        "language": survey.language,
        "active": "on" if survey.active else "",
        "intro_text": survey.intro_text,
        "thank_you_text": survey.thank_you_text,
        "trigger_template": "",
        "trigger_button_text": "",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    existing = questions(survey)
    data["questions-TOTAL_FORMS"] = data["questions-INITIAL_FORMS"] = str(len(existing))
    for i, q in enumerate(existing):
        data |= {
            f"questions-{i}-id": q.pk,
            f"questions-{i}-survey": survey.pk,
            f"questions-{i}-position": q.position,
            f"questions-{i}-text": q.text,
            f"questions-{i}-kind": q.kind,
            f"questions-{i}-list_button": q.list_button,
        }
    return data | changes


def test_turning_a_list_with_four_options_into_buttons_is_refused(client_for, editor, survey):
    response = client_for(editor).post(
        reverse("admin:surveys_survey_change", args=[survey.pk]),
        survey_form(survey, **{"questions-1-kind": "buttons"}),
    )
    assert response.status_code == 200 and "at most 3 reply buttons" in response.content.decode()
    assert questions(survey)[1].kind == "list"


def test_the_trigger_must_be_a_quick_reply_of_the_template_and_not_its_opt_out(
    client_for, editor, survey, demo_templates
):
    url = reverse("admin:surveys_survey_change", args=[survey.pk])
    client = client_for(editor)
    promotion = demo_templates["spring_promotion"]
    for label, words in (
        ("Stop promotions", "is not a quick-reply button"),
        ("Nope", "its buttons are: Show me offers"),
    ):
        response = client.post(
            url, survey_form(survey, trigger_template=promotion.pk, trigger_button_text=label)
        )
        assert response.status_code == 200 and words in response.content.decode()
    response = client.post(
        url, survey_form(survey, trigger_template=promotion.pk, trigger_button_text="Show me offers")
    )
    assert response.status_code == 302
    survey.refresh_from_db()
    assert survey.trigger_button_text == "Show me offers"


def test_two_active_surveys_may_not_share_a_trigger(client_for, editor, survey, demo_templates):
    reminder = demo_templates["appointment_reminder"]
    make_survey("First", trigger_template=reminder, trigger_button_text="Confirm")
    response = client_for(editor).post(
        reverse("admin:surveys_survey_change", args=[survey.pk]),
        survey_form(survey, trigger_template=reminder.pk, trigger_button_text="confirm"),
    )
    assert response.status_code == 200 and "already starts from this template" in response.content.decode()


def test_an_active_survey_needs_questions_with_options(client_for, editor):
    client = client_for(editor)
    blank = Survey(name="Blank", purpose="service", language="en", active=True)
    response = client.post(reverse("admin:surveys_survey_add"), survey_form_for_new(blank))
    assert (
        response.status_code == 200
        and "An active survey needs at least one question." in response.content.decode()
    )
    assert not Survey.objects.filter(name="Blank").exists()
    inactive = make_survey("Draft", active=False)
    Option.objects.filter(question__survey=inactive).delete()
    response = client.post(
        reverse("admin:surveys_survey_change", args=[inactive.pk]), survey_form(inactive, active="on")
    )
    assert response.status_code == 200 and "The question has no options" in response.content.decode()


def survey_form_for_new(survey):
    return {
        "name": survey.name,
        "purpose": survey.purpose,
        "language": survey.language,
        "active": "on",
        "intro_text": "",
        "thank_you_text": "",
        "trigger_template": "",
        "trigger_button_text": "",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
