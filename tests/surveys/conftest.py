"""The surveys world: an active service survey (reply buttons, then a list), a customer inside their
window, and helpers that answer as WhatsApp would (a signed webhook through ``deliver``)."""

import pytest

from contacts.models import Purpose
from core.actors import Actor
from surveys.models import Option, Question, QuestionKind, Survey, SurveyRun
from surveys.questions import reply_id
from tests.messaging.conftest import customer, demo_templates, inbound_message, stranger  # noqa: F401
from tests.messaging.webhook_bodies import deliver, inbound  # noqa: F401

AGENT = Actor.system("tests")
CUSTOMER_WA_ID = "4915112345678"


def make_survey(name="Visit feedback", *, purpose=Purpose.SERVICE, active=True, **fields) -> Survey:
    survey = Survey.objects.create(
        name=name,
        purpose=purpose,
        language="en",
        active=False,
        intro_text=fields.pop("intro_text", "Thanks for visiting our Berlin store."),
        thank_you_text=fields.pop("thank_you_text", "Thank you, that helps us a lot!"),
        **fields,
    )
    first = Question.objects.create(
        survey=survey, position=1, text="How was your visit?", kind=QuestionKind.BUTTONS
    )
    for position, title in enumerate(["Great", "OK", "Poor"], start=1):
        Option.objects.create(question=first, position=position, title=title)
    second = Question.objects.create(
        survey=survey, position=2, text="What could be better?", kind=QuestionKind.LIST, list_button="Choose"
    )
    for position, (title, description) in enumerate(
        [("Waiting time", "We kept you waiting"), ("Staff", ""), ("Price", ""), ("Nothing", "All good")],
        start=1,
    ):
        Option.objects.create(question=second, position=position, title=title, description=description)
    if active:
        survey.active = True
        survey.save()
    return survey


@pytest.fixture
def survey(db) -> Survey:
    return make_survey()


def questions(survey: Survey) -> list[Question]:
    return list(survey.questions.order_by("position"))


def option(question: Question, title: str) -> Option:
    return question.options.get(title=title)


def answer_body(
    run: SurveyRun, question: Question, title: str, *, wa_id: str = CUSTOMER_WA_ID, kind=None, **ids
):
    """The person's answer: a button_reply (buttons) or list_reply (list) carrying the option's reply id."""
    chosen = option(question, title)
    identifier = reply_id(
        ids.get("run_id", run.pk), ids.get("question_id", question.pk), ids.get("option_id", chosen.pk)
    )
    kind = kind or ("button_reply" if question.kind == QuestionKind.BUTTONS else "list_reply")
    return inbound("interactive", {"type": kind, kind: {"id": identifier, "title": title}}, wa_id=wa_id)
