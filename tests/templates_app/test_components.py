"""The readers over Meta's components JSON: variables, parameter format, samples, template kind."""

from __future__ import annotations

import pytest

from templates_app.components import (
    ParameterFormat,
    body_examples,
    body_of,
    buttons_of,
    detect_parameter_format,
    has_stray_braces,
    header_examples,
    header_handle,
    header_of,
    is_authentication_template,
    supported_apps,
    variable_names,
    variables_in,
)
from tests.templates_app.sample_templates import (
    ANDROID_APP,
    authentication,
    body_only,
    media_header,
    named_welcome,
    order_update,
)


def test_variables_in_reads_every_occurrence_with_its_position():
    variables = variables_in("Hi {{1}}, order {{2}} for {{1}}")

    assert [(v.name, v.start, v.end) for v in variables] == [("1", 3, 8), ("2", 16, 21), ("1", 26, 31)]
    assert [v.token for v in variables] == ["{{1}}", "{{2}}", "{{1}}"]


@pytest.mark.parametrize(
    ("name", "positional", "named"),
    [
        ("1", True, False),
        ("12", True, False),
        ("01", False, False),
        ("first_name", False, True),
        ("First", False, False),
    ],
)
def test_variable_kinds(name, positional, named):
    [variable] = variables_in("{{" + name + "}}")

    assert (variable.is_positional, variable.is_named) == (positional, named)


def test_variable_names_are_in_send_order():
    assert variable_names("{{2}} before {{1}} and {{2}}") == ["1", "2"]
    assert variable_names("{{order_id}} for {{first_name}}") == ["order_id", "first_name"]
    assert variable_names("no variables") == []


def test_stray_braces():
    assert has_stray_braces("Hi {{1}, there")
    assert has_stray_braces("Hi 1}} there")
    assert not has_stray_braces("Hi {{1}} and {single} braces")


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        (order_update(), ParameterFormat.POSITIONAL),
        (named_welcome(), ParameterFormat.NAMED),
        (body_only(), None),
        (body_only("Hi {{1}} and {{name}}."), None),
    ],
)
def test_detect_parameter_format(components, expected):
    assert detect_parameter_format(components) == expected


def test_samples_are_keyed_by_variable_name():
    assert header_examples(header_of(order_update())) == {"1": "ORD-1"}
    assert body_examples(body_of(order_update())) == {"1": "Pablo", "2": "ORD-9271"}
    assert header_examples(header_of(named_welcome())) == {"first_name": "Pablo"}
    assert body_examples(body_of(named_welcome())) == {"first_name": "Pablo", "order_id": "ORD-9271"}
    assert header_handle(header_of(media_header())) == "4::aW1hZ2U=:ARb"


def test_readers_answer_absent_on_malformed_json():
    assert body_of("not a list") is None
    assert buttons_of([{"type": "BUTTONS", "buttons": "x"}]) == []
    assert body_examples({"type": "BODY", "example": {"body_text": "x"}}) == {}
    assert header_handle({"type": "HEADER", "example": []}) == ""


def test_component_and_button_types_are_read_case_insensitively():
    components = [{"type": "body", "text": "Hi"}, {"type": "buttons", "buttons": [{"type": "quick_reply"}]}]

    assert body_of(components) == {"type": "body", "text": "Hi"}
    assert len(buttons_of(components)) == 1


def test_authentication_templates_are_recognised():
    assert is_authentication_template(authentication())
    assert is_authentication_template(authentication(minutes=None)[:1])
    assert not is_authentication_template(order_update())


def test_supported_apps_reads_current_and_legacy_shapes():
    assert supported_apps({"type": "OTP", "supported_apps": [ANDROID_APP]}) == [ANDROID_APP]
    assert supported_apps({"type": "OTP", **ANDROID_APP}) == [ANDROID_APP]
    assert supported_apps({"type": "OTP"}) == []
