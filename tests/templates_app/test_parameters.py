"""check_parameters: every way a send's values can fail to fit the template, as operator words."""

from __future__ import annotations

from typing import Any

import pytest

from templates_app.parameters import check_parameters
from tests.templates_app.sample_templates import (
    authentication,
    body_only,
    copy_code_button,
    media_header,
    named_welcome,
    order_update,
    quick_reply,
    url_button,
    with_buttons,
)

ORDER_PARAMETERS: dict[str, Any] = {
    "header": {"type": "text", "text": "ORD-7"},
    "body": ["Ann", "ORD-7"],
    "buttons": {"1": "ORD-7", "3": "WELCOME10"},
}
NAMED_PARAMETERS: dict[str, Any] = {
    "header": {"type": "text", "text": "Ann"},
    "body": {"first_name": "Ann", "order_id": "ORD-7"},
}


def _check(components: Any, parameters: Any, parameter_format: str = "POSITIONAL") -> list[str]:
    return check_parameters(components=components, parameter_format=parameter_format, parameters=parameters)


def _one_problem(components: Any, parameters: Any, parameter_format: str = "POSITIONAL") -> str:
    problems = _check(components, parameters, parameter_format)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize(
    ("components", "parameters", "parameter_format"),
    [
        pytest.param(order_update(), ORDER_PARAMETERS, "POSITIONAL", id="positional, all kinds"),
        pytest.param(named_welcome(), NAMED_PARAMETERS, "NAMED", id="named"),
        pytest.param(body_only(), None, "POSITIONAL", id="nothing to fill, no values"),
        pytest.param(body_only(), {"body": []}, "POSITIONAL", id="nothing to fill, empty body list"),
        pytest.param(
            media_header("IMAGE"), {"header": {"type": "image", "id": "1013859600285441"}}, "POSITIONAL"
        ),
        pytest.param(
            media_header("VIDEO"), {"header": {"type": "video", "link": "https://x.example/v.mp4"}}, "X"
        ),
        pytest.param(
            media_header("DOCUMENT"),
            {"header": {"type": "document", "id": "5", "filename": "invoice.pdf"}},
            "POSITIONAL",
            id="document with file name",
        ),
        pytest.param(authentication(), {"body": ["482913"]}, "POSITIONAL", id="authentication code"),
        pytest.param(
            body_only("Hi {{1}}, here you go."),
            {"body": ["a" + "    b"]},
            "POSITIONAL",
            id="four spaces are fine",
        ),
    ],
)
def test_fitting_values_have_no_problems(components, parameters, parameter_format):
    assert _check(components, parameters, parameter_format) == []


@pytest.mark.parametrize(
    ("components", "parameters", "parameter_format", "fragment"),
    [
        # top level
        pytest.param(body_only(), "Ann", "POSITIONAL", "must be an object", id="not an object"),
        pytest.param(
            body_only(), {"footer": "x"}, "POSITIONAL", "“footer” isn't a kind of value", id="unknown key"
        ),
        # body
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["Ann"]}, "POSITIONAL", "2 variables but 1 value"
        ),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["A", "B", "C"]}, "POSITIONAL", "but 3 values"
        ),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": None}, "POSITIONAL", "has 2 variables; give"
        ),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": {"1": "A"}}, "POSITIONAL", "as a list, in order"
        ),
        pytest.param(
            body_only(), {"body": ["Ann"]}, "POSITIONAL", "no variables; remove", id="body values, no vars"
        ),
        pytest.param(
            named_welcome(), {**NAMED_PARAMETERS, "body": ["Ann", "ORD-7"]}, "NAMED", '{"name": value}'
        ),
        pytest.param(
            named_welcome(),
            {**NAMED_PARAMETERS, "body": {"first_name": "Ann"}},
            "NAMED",
            "{{order_id}} is missing",
        ),
        pytest.param(
            named_welcome(),
            {**NAMED_PARAMETERS, "body": {**NAMED_PARAMETERS["body"], "city": "Berlin"}},
            "NAMED",
            "no variable {{city}}",
        ),
        # text values
        pytest.param(order_update(), {**ORDER_PARAMETERS, "body": ["", "B"]}, "POSITIONAL", "{{1}} is empty"),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["  ", "B"]}, "POSITIONAL", "{{1}} is empty"
        ),
        pytest.param(order_update(), {**ORDER_PARAMETERS, "body": [7, "B"]}, "POSITIONAL", "must be text"),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["A\nB", "B"]}, "POSITIONAL", "a line break"
        ),
        pytest.param(order_update(), {**ORDER_PARAMETERS, "body": ["A\tB", "B"]}, "POSITIONAL", "a tab"),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["A     B", "B"]}, "POSITIONAL", "than 4 spaces"
        ),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "body": ["x" * 1025, "B"]}, "POSITIONAL", "allows 1024"
        ),
        pytest.param(
            body_only("Hi {{1}}, here you go."),
            {"body": ["x" * 32769]},
            "POSITIONAL",
            "allows 32768",
            id="body-only template allows 32768",
        ),
        # text header
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "header": None}, "POSITIONAL", "header has a variable"
        ),
        pytest.param(
            order_update(),
            {**ORDER_PARAMETERS, "header": {"type": "image", "id": "1"}},
            "POSITIONAL",
            "text variable",
        ),
        pytest.param(
            order_update(),
            {**ORDER_PARAMETERS, "header": {"type": "text", "text": ""}},
            "POSITIONAL",
            "header value",
        ),
        pytest.param(
            body_only(), {"header": {"type": "text", "text": "x"}}, "POSITIONAL", "header takes no value"
        ),
        # media header
        pytest.param(
            media_header("IMAGE"), {}, "POSITIONAL", "has an image header", id="media header missing"
        ),
        pytest.param(
            media_header("IMAGE"), {"header": {"type": "video", "id": "1"}}, "POSITIONAL", "image header"
        ),
        pytest.param(
            media_header("IMAGE"),
            {"header": {"type": "image", "id": "1", "link": "https://x.example/a.png"}},
            "POSITIONAL",
            "not both or neither",
        ),
        pytest.param(
            media_header("IMAGE"), {"header": {"type": "image", "id": ""}}, "POSITIONAL", "id is empty"
        ),
        pytest.param(
            media_header("IMAGE"),
            {"header": {"type": "image", "link": "ftp://x/a.png"}},
            "POSITIONAL",
            "https://",
        ),
        pytest.param(
            media_header("IMAGE"),
            {"header": {"type": "image", "id": "1", "filename": "a.png"}},
            "POSITIONAL",
            "takes only id, link, type",
            id="file name only for documents",
        ),
        # buttons
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "buttons": {"3": "X"}}, "POSITIONAL", "give the part"
        ),
        pytest.param(
            order_update(),
            {**ORDER_PARAMETERS, "buttons": {"1": "A B", "3": "X"}},
            "POSITIONAL",
            "can't contain spaces",
        ),
        pytest.param(
            order_update(), {**ORDER_PARAMETERS, "buttons": {"1": "A"}}, "POSITIONAL", "copies a code"
        ),
        pytest.param(
            order_update(),
            {**ORDER_PARAMETERS, "buttons": {"1": "A", "3": "X" * 16}},
            "POSITIONAL",
            "allows 15",
        ),
        pytest.param(
            order_update(),
            {**ORDER_PARAMETERS, "buttons": {"1": "A", "3": ""}},
            "POSITIONAL",
            "code of button 4 is empty",
        ),
        pytest.param(
            with_buttons(quick_reply(), url_button("https://shop.example/help")),
            {"buttons": {"0": "x"}},
            "POSITIONAL",
            "Button 1 takes no value",
            id="quick reply takes no value",
        ),
        pytest.param(
            with_buttons(url_button("https://shop.example/help")),
            {"buttons": {"0": "x"}},
            "POSITIONAL",
            "Button 1 takes no value",
            id="URL without variable takes no value",
        ),
        pytest.param(
            with_buttons(copy_code_button()), {"buttons": {"0": "A", "5": "B"}}, "X", "no button with index 5"
        ),
        pytest.param(with_buttons(copy_code_button()), {"buttons": ["A"]}, "POSITIONAL", "<button index>"),
        # AUTHENTICATION
        pytest.param(authentication(), {}, "POSITIONAL", "exactly one value, the code", id="auth no code"),
        pytest.param(
            authentication(), {"body": ["1", "2"]}, "POSITIONAL", "exactly one value", id="auth two values"
        ),
        pytest.param(
            authentication(), {"body": ["12 34"]}, "POSITIONAL", "can't contain spaces", id="auth spaces"
        ),
        pytest.param(
            authentication(), {"body": ["1" * 16]}, "POSITIONAL", "allows 15", id="auth code too long"
        ),
        pytest.param(
            authentication(),
            {"body": ["1"], "buttons": {"0": "1"}},
            "POSITIONAL",
            "only in body",
            id="auth buttons",
        ),
        pytest.param(
            authentication(),
            {"body": ["1"], "header": {"type": "text"}},
            "POSITIONAL",
            "no header",
            id="auth header",
        ),
    ],
)
def test_values_that_do_not_fit(components, parameters, parameter_format, fragment):
    problems = _check(components, parameters, parameter_format)

    assert any(fragment in problem for problem in problems), problems


def test_each_problem_is_reported_once_per_value():
    problem = _one_problem(order_update(), {**ORDER_PARAMETERS, "body": ["Ann", ""]})

    assert problem == "The value for {{2}} is empty: WhatsApp refuses empty values."


def test_integer_button_keys_are_accepted():
    assert _check(order_update(), {**ORDER_PARAMETERS, "buttons": {1: "ORD-7", 3: "X"}}) == []


def test_a_button_key_in_superscript_digits_is_a_problem_not_a_crash():
    # "²".isdigit() is True and int("²") raises: the key is named as no button of the template.
    problems = _check(
        order_update(), {**ORDER_PARAMETERS, "buttons": {"1": "ORD-7", "3": "X", "\u00b2": "Y"}}
    )
    assert "The template has no button with index \u00b2." in problems
