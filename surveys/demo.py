"""A demo survey for `make run`: delivery feedback (service), a buttons question then a list, so an
agent can start it from a conversation and watch a sandbox person answer it. Safe to run twice."""

from __future__ import annotations

from contacts.models import Purpose
from surveys.models import Option, Question, QuestionKind, Survey

NAME = "Delivery feedback"


def seed_survey() -> Survey:
    survey = Survey.objects.filter(name=NAME).first()
    if survey is not None:
        return survey
    # Made inactive, then switched on once its questions exist (an active survey must have them).
    survey = Survey.objects.create(
        name=NAME,
        purpose=Purpose.SERVICE,
        language="en",
        active=False,
        intro_text="Thanks for your order! Two quick questions about the delivery.",
        thank_you_text="Thank you, that helps us a lot!",
    )
    first = Question.objects.create(
        survey=survey, position=1, text="How was your delivery?", kind=QuestionKind.BUTTONS
    )
    for position, title in enumerate(["Great", "OK", "Poor"], start=1):
        Option.objects.create(question=first, position=position, title=title)
    second = Question.objects.create(
        survey=survey,
        position=2,
        text="What could we do better?",
        kind=QuestionKind.LIST,
        list_button="Choose",
    )
    rows = [
        ("Faster delivery", ""),
        ("Packaging", "It arrived damaged"),
        ("Tracking", ""),
        ("Nothing", "All good"),
    ]
    for position, (title, description) in enumerate(rows, start=1):
        Option.objects.create(question=second, position=position, title=title, description=description)
    survey.active = True
    survey.save()
    return survey
