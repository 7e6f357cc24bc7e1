"""Meta's limits on a survey's questions: the admin's numbers agree with the payload builders', and a
question that breaks one is named, with the option."""

import pytest

from cloud_api.payloads import ListRow, ListSection, ReplyButton, list_message, reply_buttons_message
from core.errors import ApplicationError
from surveys import limits
from surveys.models import QuestionKind
from surveys.questions import ReplyId, parse_reply_id, question_problems, reply_id

TO = "+4915112345678"


def test_the_limits_are_the_payload_builders_limits():
    reply_buttons_message(
        TO,
        "x" * limits.BUTTONS_BODY_MAX,
        [ReplyButton(id=str(i), title=str(i)) for i in range(limits.MAX_BUTTONS)],
    )
    reply_buttons_message(TO, "Body", [ReplyButton(id="a", title="t" * limits.BUTTON_TITLE_MAX)])
    for refused in (
        lambda: reply_buttons_message(
            TO, "x" * (limits.BUTTONS_BODY_MAX + 1), [ReplyButton(id="a", title="a")]
        ),
        lambda: reply_buttons_message(
            TO, "Body", [ReplyButton(id=str(i), title=str(i)) for i in range(limits.MAX_BUTTONS + 1)]
        ),
        lambda: reply_buttons_message(
            TO, "Body", [ReplyButton(id="a", title="t" * (limits.BUTTON_TITLE_MAX + 1))]
        ),
    ):
        with pytest.raises(ApplicationError):
            refused()

    def a_list(rows, *, button="Choose", body="Body"):
        return list_message(TO, body, button=button, sections=[ListSection(title="Choose", rows=rows)])

    a_list(
        [
            ListRow(id=str(i), title="r" * limits.ROW_TITLE_MAX, description="d" * limits.ROW_DESCRIPTION_MAX)
            for i in range(limits.MAX_LIST_ROWS)
        ],
        button="b" * limits.LIST_BUTTON_MAX,
        body="x" * limits.LIST_BODY_MAX,
    )
    for refused in (
        lambda: a_list([ListRow(id=str(i), title=str(i)) for i in range(limits.MAX_LIST_ROWS + 1)]),
        lambda: a_list([ListRow(id="a", title="r" * (limits.ROW_TITLE_MAX + 1))]),
        lambda: a_list([ListRow(id="a", title="a", description="d" * (limits.ROW_DESCRIPTION_MAX + 1))]),
        lambda: a_list([ListRow(id="a", title="a")], button="b" * (limits.LIST_BUTTON_MAX + 1)),
        lambda: a_list([ListRow(id="a", title="a")], body="x" * (limits.LIST_BODY_MAX + 1)),
    ):
        with pytest.raises(ApplicationError):
            refused()


def problems(kind, options, text="How was it?", list_button="Choose", intro=""):
    return question_problems(kind=kind, text=text, list_button=list_button, options=options, intro=intro)


def test_a_sendable_question_has_no_problems():
    assert problems(QuestionKind.BUTTONS, [("Great", ""), ("OK", ""), ("Poor", "")]) == []
    assert problems(QuestionKind.LIST, [(f"Row {i}", "why") for i in range(10)]) == []


@pytest.mark.parametrize(
    ("kind", "options", "field", "words"),
    [
        (
            QuestionKind.BUTTONS,
            [("A", ""), ("B", ""), ("C", ""), ("D", "")],
            "options",
            "at most 3 reply buttons",
        ),
        (QuestionKind.LIST, [(f"R{i}", "") for i in range(11)], "options", "at most 10 list rows"),
        (QuestionKind.BUTTONS, [("Twenty-one characters", "")], "option 1", "at most 20"),
        (QuestionKind.LIST, [("Twenty-five characters!!!", "")], "option 1", "at most 24"),
        (QuestionKind.BUTTONS, [("Yes", ""), ("yes", "")], "option 2", "unique"),
        (QuestionKind.LIST, [("Yes", ""), (" YES", "")], "option 2", "unique"),
        (QuestionKind.BUTTONS, [("Yes", "a description")], "option 1 description", "only list rows"),
        (QuestionKind.BUTTONS, [], "options", "no options"),
        (QuestionKind.BUTTONS, [("", "")], "option 1", "no title"),
    ],
)
def test_each_broken_limit_names_the_option_or_field(kind, options, field, words):
    found = problems(kind, options)
    assert any(f == field and words in message for f, message in found), found


def test_the_intro_counts_towards_the_first_questions_body():
    assert problems(QuestionKind.BUTTONS, [("Yes", "")], text="x" * 1000) == []
    (found,) = problems(QuestionKind.BUTTONS, [("Yes", "")], text="x" * 1000, intro="y" * 30)
    assert found[0] == "text" and "With the survey's intro" in found[1] and "1024" in found[1]


def test_a_list_needs_its_button_label():
    assert ("list_button", "A list needs the label of the button that opens it.") in problems(
        QuestionKind.LIST, [("A", "")], list_button=" "
    )


def test_reply_ids_round_trip_and_anything_else_is_none():
    assert parse_reply_id(reply_id(12, 34, 56)) == ReplyId(12, 34, 56)
    for other in (
        "yes",
        "survey:1:2",
        "survey:1:2:3:4",
        "survey:a:2:3",
        "survey:1:2:3 ",
        None,
        7,
        "survey:²:1:1",
        "survey:١:1:1",
        "survey:" + "9" * 19 + ":1:1",
    ):
        assert parse_reply_id(other) is None
