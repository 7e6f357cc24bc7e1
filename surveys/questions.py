"""A question as the message the person reads, the ids its answers carry, and Meta's limits on both.

Each option's reply id names the run, the question and the option (``survey:<run>:<question>:<option>``),
so an answer finds its way back without any state kept between messages. The id comes back from
the person's phone and is never trusted for more than a lookup: ``services`` checks that the run
is theirs and running and that the question and option belong to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from messaging.sending import content
from surveys import limits
from surveys.models import Option, Question, QuestionKind, Survey

REPLY_PREFIX = "survey:"
_REPLY_ID = re.compile(r"survey:([0-9]{1,18}):([0-9]{1,18}):([0-9]{1,18})")


@dataclass(frozen=True)
class ReplyId:
    run_id: int
    question_id: int
    option_id: int


def reply_id(run_id: int, question_id: int, option_id: int) -> str:
    return f"{REPLY_PREFIX}{run_id}:{question_id}:{option_id}"


def parse_reply_id(value: object) -> ReplyId | None:
    """The ids a survey answer carries; None for anything else (another button, a forged shape)."""
    if not isinstance(value, str):
        return None
    match = _REPLY_ID.fullmatch(value)
    if match is None:
        return None
    return ReplyId(*(int(part) for part in match.groups()))


def question_body(question: Question, *, intro: str = "") -> str:
    """What the message says: the survey's intro above the first question."""
    return f"{intro.strip()}\n\n{question.text.strip()}" if intro.strip() else question.text.strip()


def question_content(
    question: Question, options: Sequence[Option], *, run_id: int, total: int, intro: str = ""
) -> dict:
    """The question as free-form content for ``send_message``: reply buttons or a one-section list."""
    body = question_body(question, intro=intro)
    footer = f"Question {question.position} of {total}" if total > 1 else ""
    if question.kind == QuestionKind.BUTTONS:
        return content.buttons(
            body, [(reply_id(run_id, question.pk, o.pk), o.title) for o in options], footer=footer
        )
    rows = [(reply_id(run_id, question.pk, o.pk), o.title, o.description) for o in options]
    return content.choice_list(body, question.list_button, [(question.list_button, rows)], footer=footer)


def question_problems(
    *, kind: str, text: str, list_button: str, options: Sequence[tuple[str, str]], intro: str = ""
) -> list[tuple[str, str]]:
    """What Meta would refuse in a question with these options, as ``(field, message)`` pairs.

    ``options`` are ``(title, description)`` in order; a field ``option <n>`` names the nth's title,
    ``option <n> description`` its description.
    """
    problems: list[tuple[str, str]] = []
    body = f"{intro.strip()}\n\n{text.strip()}" if intro.strip() else text.strip()
    if not text.strip():
        problems.append(("text", "The question has no text."))
    if kind == QuestionKind.BUTTONS:
        most, title_max, body_max = limits.MAX_BUTTONS, limits.BUTTON_TITLE_MAX, limits.BUTTONS_BODY_MAX
        what = "reply buttons"
    else:
        most, title_max, body_max = limits.MAX_LIST_ROWS, limits.ROW_TITLE_MAX, limits.LIST_BODY_MAX
        what = "list rows"
        if not list_button.strip():
            problems.append(("list_button", "A list needs the label of the button that opens it."))
        elif len(list_button) > limits.LIST_BUTTON_MAX:
            problems.append(
                (
                    "list_button",
                    f"The list's button label has {len(list_button)} characters; WhatsApp allows at most "
                    f"{limits.LIST_BUTTON_MAX}.",
                )
            )
    if len(body) > body_max:
        where = "With the survey's intro, the" if intro.strip() else "The"
        problems.append(
            (
                "text",
                f"{where} question has {len(body)} characters; WhatsApp allows at most {body_max} "
                f"with {what}.",
            )
        )
    if not options:
        problems.append(("options", f"The question has no options: give 1 to {most} {what}."))
    elif len(options) > most:
        problems.append(
            ("options", f"The question has {len(options)} options; WhatsApp allows at most {most} {what}.")
        )
    seen: set[str] = set()
    for number, (title, description) in enumerate(options, start=1):
        field = f"option {number}"
        if not title.strip():
            problems.append((field, f"Option {number} has no title."))
        elif len(title) > title_max:
            problems.append(
                (
                    field,
                    f"Option {number} (“{title}”) has {len(title)} characters; {what} allow at most "
                    f"{title_max}.",
                )
            )
        if title.strip().casefold() in seen:
            problems.append(
                (field, f"Option {number} (“{title}”) repeats another option's title; titles must be unique.")
            )
        seen.add(title.strip().casefold())
        if description and kind == QuestionKind.BUTTONS:
            problems.append(
                (f"{field} description", f"Option {number} has a description; only list rows show one.")
            )
    return problems


def survey_problems(survey: Survey) -> list[str]:
    """Why ``survey`` cannot be sent as it is stored (no questions, a question WhatsApp would refuse)."""
    questions = list(survey.questions.prefetch_related("options").order_by("position", "id"))
    if not questions:
        return [f"“{survey}” has no questions yet."]
    problems = []
    for index, question in enumerate(questions):
        options = [(o.title, o.description) for o in question.options.all()]
        found = question_problems(
            kind=question.kind,
            text=question.text,
            list_button=question.list_button,
            options=options,
            intro=survey.intro_text if index == 0 else "",
        )
        problems += [f"Question {question.position}: {message}" for _, message in found]
    return problems
