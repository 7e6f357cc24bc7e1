"""validate_template: each rule refuses on the field a form shows it on, in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from templates_app.rules import OptOutButton, Violation, validate_template
from tests.templates_app.sample_templates import (
    ANDROID_APP,
    authentication,
    body_only,
    copy_code_button,
    media_header,
    named_welcome,
    order_update,
    phone_button,
    quick_reply,
    url_button,
    with_buttons,
)


def _validate(components: Any, **overrides: Any) -> list[Violation]:
    fields = {
        "name": "order_update",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": components,
    }
    return validate_template(**{**fields, **overrides})


def _positional_body(text: str, samples: list[str] | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"type": "BODY", "text": text}
    if samples is not None:
        body["example"] = {"body_text": [samples]}
    return [body]


def _named_body(text: str, samples: dict[str, str]) -> list[dict[str, Any]]:
    entries = [{"param_name": name, "example": value} for name, value in samples.items()]
    return [{"type": "BODY", "text": text, "example": {"body_text_named_params": entries}}]


def _text_header(text: str, samples: list[str] | None = None) -> list[dict[str, Any]]:
    header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text}
    if samples is not None:
        header["example"] = {"header_text": samples}
    return [header, *body_only()]


def _replace(components: list[dict[str, Any]], index: int, **changes: Any) -> list[dict[str, Any]]:
    components[index] = {**components[index], **changes}
    return components


ACCEPTED = [
    pytest.param({"components": order_update()}, id="issue example, positional, all button kinds"),
    pytest.param({"components": named_welcome(), "parameter_format": "NAMED"}, id="named header and body"),
    pytest.param({"components": media_header("IMAGE")}, id="image header with handle"),
    pytest.param({"components": media_header("VIDEO")}, id="video header with handle"),
    pytest.param({"components": media_header("DOCUMENT")}, id="document header with handle"),
    pytest.param({"components": body_only(), "category": "UTILITY"}, id="body only"),
    pytest.param({"name": "a" * 512, "components": body_only()}, id="name of 512 characters"),
    pytest.param({"language": "pt_BR", "components": body_only()}, id="pt_BR"),
    pytest.param(
        {
            "components": _positional_body(
                "Hi {{1}}, we will see you on {{1}} again at the shop, {{2}}.", ["Ann", "Friday"]
            )
        },
        id="repeated variable, full stop after the last",
    ),
    pytest.param(
        {"components": with_buttons(url_button(), phone_button(), quick_reply("A"), quick_reply("B"))},
        id="quick replies after the call-to-action buttons",
    ),
    pytest.param(
        {"components": with_buttons(*[quick_reply(f"Option {n}") for n in range(10)])}, id="10 quick replies"
    ),
    pytest.param(
        {"components": with_buttons(url_button("https://shop.example/help"))},
        id="URL without variable, no sample",
    ),
    pytest.param(
        {"components": order_update(), "opt_out_button": OptOutButton(index=0, purpose="marketing")},
        id="opt-out on a quick reply",
    ),
    pytest.param(
        {"components": authentication(), "category": "AUTHENTICATION", "name": "login_code"},
        id="auth copy code",
    ),
    pytest.param(
        {"components": authentication("ONE_TAP", supported_apps=[ANDROID_APP]), "category": "AUTHENTICATION"},
        id="auth one-tap with app",
    ),
    pytest.param(
        {
            "components": authentication(
                "ZERO_TAP", supported_apps=[ANDROID_APP], zero_tap_terms_accepted=True
            ),
            "category": "AUTHENTICATION",
        },
        id="auth zero-tap with app and terms",
    ),
    pytest.param(
        {"components": authentication("ONE_TAP", **ANDROID_APP), "category": "AUTHENTICATION"},
        id="auth one-tap, legacy package_name on the button",
    ),
    pytest.param({"components": authentication(minutes=1), "category": "AUTHENTICATION"}, id="auth expiry 1"),
    pytest.param(
        {"components": authentication(minutes=90), "category": "AUTHENTICATION"}, id="auth expiry 90"
    ),
    pytest.param(
        {"components": authentication(minutes=None, security=False), "category": "AUTHENTICATION"},
        id="auth without footer or recommendation",
    ),
]


@pytest.mark.parametrize("fields", ACCEPTED)
def test_accepted(fields):
    assert _validate(**{"components": None, **fields}) == []


REFUSED = [
    # name, language, category, parameter format, structure
    pytest.param(
        {"name": "Order_Update"}, "name", "lowercase letters, numbers and underscores", id="name capitals"
    ),
    pytest.param({"name": "order update"}, "name", "lowercase letters", id="name space"),
    pytest.param({"name": ""}, "name", "Give the template a name", id="name empty"),
    pytest.param({"name": "a" * 513}, "name", "512 characters", id="name too long"),
    pytest.param({"language": "english"}, "language", "isn't a WhatsApp language code", id="language"),
    pytest.param(
        {"category": "PROMOTION"}, "category", "Marketing, Utility or Authentication", id="category"
    ),
    pytest.param(
        {"parameter_format": "BOTH"}, "parameter_format", "numbered ({{1}}) or named", id="param format"
    ),
    pytest.param(
        {"components": [*body_only(), {"type": "WIDGET"}]},
        "components",
        "doesn't know: WIDGET",
        id="unknown",
    ),
    pytest.param(
        {"components": body_only() + body_only()}, "components", "at most one body", id="two bodies"
    ),
    # header
    pytest.param(
        {"components": _text_header("x" * 61)}, "header_text", "61 characters long", id="header long"
    ),
    pytest.param(
        {"components": _text_header("Order {{1}} {{2}}", ["A", "B"])},
        "header_text",
        "only 1 variable",
        id="header two variables",
    ),
    pytest.param(
        {"components": _text_header("Order {{1}}")}, "header_example", "sample value for {{1}}", id="hdr"
    ),
    pytest.param(
        {"components": _text_header("Order {{2}}", ["A"])}, "header_text", "from {{1}}", id="header {{2}}"
    ),
    pytest.param(
        {"components": _text_header("Hi {{first_name}}")},
        "header_text",
        "same kind",
        id="named var in positional",
    ),
    pytest.param(
        {"components": _replace(media_header("IMAGE"), 0, example={})},
        "header_example",
        "Upload a sample image",
        id="image header without handle",
    ),
    pytest.param(
        {"components": _replace(media_header("IMAGE"), 0, format="LOCATION")},
        "header",
        "has no text and no sample",
        id="location header with a sample",
    ),
    pytest.param(
        {"components": _text_header("   ")}, "header_text", "Write the header text", id="header empty"
    ),
    # body
    pytest.param(
        {"components": [{"type": "FOOTER", "text": "x"}]}, "body", "every template needs", id="no body"
    ),
    pytest.param({"components": body_only("   ")}, "body", "every template needs", id="blank body"),
    pytest.param({"components": body_only("x" * 1025)}, "body", "WhatsApp allows 1024", id="body too long"),
    pytest.param(
        {"components": _positional_body("{{1}}, your order ships today.", ["Ann"])},
        "body",
        "The body can't start with a variable: WhatsApp rejects templates whose text begins with {{1}}. "
        "Add a greeting before it.",
        id="starts with variable",
    ),
    pytest.param(
        {"components": _positional_body("Your order ships today, {{1}}", ["Ann"])},
        "body",
        "can't end with a variable",
        id="ends with variable",
    ),
    pytest.param(
        {"components": _positional_body("Hi there {{1}}{{2}} and welcome to our shop.", ["A", "B"])},
        "body",
        "{{1}} and {{2}} sit next to each other",
        id="adjacent",
    ),
    pytest.param(
        {"components": _positional_body("Hi there {{1}} \n {{2}} and welcome to our shop.", ["A", "B"])},
        "body",
        "sit next to each other",
        id="adjacent with whitespace",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}}, your order {{3}} ships today.", ["A", "B"])},
        "body",
        "skips {{2}}",
        id="gap in numbering",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{0}}, your order ships today.", ["A"])},
        "body",
        "from {{1}}",
        id="numbering from 0",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{ 1 }}, your order ships today.", ["A"])},
        "body",
        "{{ 1 }} in the body isn't a valid variable",
        id="spaces inside braces",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}, your order ships today.", ["A"])},
        "body",
        "isn't part of a variable",
        id="half-typed variable",
    ),
    pytest.param(
        {
            "components": _named_body("Hi {{First}}, your order ships.", {"First": "A"}),
            "parameter_format": "NAMED",
        },
        "body",
        "{{First}} in the body isn't a valid variable",
        id="named with capital",
    ),
    pytest.param(
        {
            "components": _named_body(
                "Hi {{a_very_long_variable_name}}, ships.", {"a_very_long_variable_name": "A"}
            ),
            "parameter_format": "NAMED",
        },
        "body",
        "keep it to 20 characters",
        id="named too long",
    ),
    pytest.param(
        {
            "components": _positional_body("Hi {{1}}, your order ships today.", ["A"]),
            "parameter_format": "NAMED",
        },
        "body",
        "named variables like {{first_name}}",
        id="positional in named template",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}}, your order {{2}} ships today.", ["Ann"])},
        "body_example",
        "sample value for {{2}}",
        id="missing body sample",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}}, your order {{2}} ships today.", ["Ann", ""])},
        "body_example",
        "sample value for {{2}}",
        id="empty body sample",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}}, your order ships today.", ["Ann", "extra"])},
        "body_example",
        "samples for {{2}}",
        id="extra body sample",
    ),
    pytest.param(
        {"components": _named_body("Hi {{first_name}}, your order ships.", {}), "parameter_format": "NAMED"},
        "body_example",
        "sample value for {{first_name}}",
        id="missing named sample",
    ),
    pytest.param(
        {"components": _positional_body("Hi {{1}}, {{2}}, {{3}}, {{4}}!", ["A", "B", "C", "D"])},
        "body",
        "too many variables for its length",
        id="too many variables for the length",
    ),
    # footer
    pytest.param(
        {"components": [*body_only(), {"type": "FOOTER", "text": "x" * 61}]}, "footer", "allows 60", id="ft"
    ),
    pytest.param(
        {"components": [*body_only(), {"type": "FOOTER", "text": "Bye {{1}}"}]},
        "footer",
        "can't contain",
        id="ftvar",
    ),
    pytest.param(
        {"components": [*body_only(), {"type": "FOOTER", "code_expiration_minutes": 5}]},
        "footer",
        "only for authentication",
        id="expiry footer in marketing",
    ),
    # buttons
    pytest.param(
        {"components": with_buttons(*[quick_reply(str(n)) for n in range(11)])},
        "buttons",
        "at most 10 buttons",
        id="11 buttons",
    ),
    pytest.param(
        {"components": with_buttons(url_button(), url_button(), url_button())},
        "buttons",
        "at most 2 website buttons",
        id="3 URL buttons",
    ),
    pytest.param(
        {"components": with_buttons(phone_button(), phone_button())},
        "buttons",
        "at most 1 call button",
        id="2 phones",
    ),
    pytest.param(
        {"components": with_buttons(copy_code_button(), copy_code_button())},
        "buttons",
        "at most 1 copy code button",
        id="2 copy codes",
    ),
    pytest.param(
        {"components": with_buttons(quick_reply("A"), url_button(), quick_reply("B"))},
        "buttons",
        "Keep the quick replies together",
        id="quick replies not grouped",
    ),
    pytest.param({"components": with_buttons()}, "buttons", "at least one button", id="empty buttons"),
    pytest.param(
        {"components": with_buttons(quick_reply("x" * 26))},
        "buttons[0].text",
        "WhatsApp allows 25",
        id="QR label",
    ),
    pytest.param(
        {"components": with_buttons(quick_reply(), url_button(text=""))},
        "buttons[1].text",
        "Write the label of button 2",
        id="URL label missing",
    ),
    pytest.param(
        {"components": with_buttons(phone_button() | {"text": "x" * 26})},
        "buttons[0].text",
        "allows 25",
        id="phone label",
    ),
    pytest.param(
        {"components": with_buttons(url_button("shop.example/track"))},
        "buttons[0].url",
        "https://",
        id="no scheme",
    ),
    pytest.param(
        {"components": with_buttons(url_button("https://shop.example/{{1}}/track"))},
        "buttons[0].url",
        "at the very end",
        id="URL variable in the middle",
    ),
    pytest.param(
        {"components": with_buttons(url_button("https://shop.example/{{1}}/{{2}}"))},
        "buttons[0].url",
        "one variable only",
        id="URL two variables",
    ),
    pytest.param(
        {"components": with_buttons(url_button(example=[]))},
        "buttons[0].example",
        "sample address",
        id="URL sample missing",
    ),
    pytest.param(
        {"components": with_buttons(url_button(example=["https://other.example/ORD-1"]))},
        "buttons[0].example",
        "should start with https://shop.example/track/",
        id="URL sample mismatch",
    ),
    pytest.param(
        {"components": with_buttons(url_button("https://shop.example/" + "x" * 2000))},
        "buttons[0].url",
        "allows 2000",
        id="URL too long",
    ),
    pytest.param(
        {"components": with_buttons(phone_button("030 123456"))},
        "buttons[0].phone_number",
        "with its country code, digits only",
        id="phone without country code",
    ),
    pytest.param(
        {"components": with_buttons(copy_code_button(""))},
        "buttons[0].example",
        "sample code",
        id="code missing",
    ),
    pytest.param(
        {"components": with_buttons(copy_code_button("X" * 16))},
        "buttons[0].example",
        "allows 15",
        id="code long",
    ),
    pytest.param(
        {"components": with_buttons({"type": "OTP", "otp_type": "COPY_CODE"})},
        "buttons[0].type",
        "only authentication templates",
        id="OTP in marketing",
    ),
    pytest.param(
        {"components": with_buttons({"type": "FLOW", "text": "Book"})},
        "buttons[0].type",
        "WhatsApp Flow buttons",
        id="flow button",
    ),
    # the app's opt-out marking
    pytest.param(
        {"components": order_update(), "opt_out_button": OptOutButton(index=1, purpose="marketing")},
        "opt_out_button",
        "must be one of the template's quick replies",
        id="opt-out on URL button",
    ),
    pytest.param(
        {"components": order_update(), "opt_out_button": OptOutButton(index=9, purpose="marketing")},
        "opt_out_button",
        "quick replies",
        id="opt-out index out of range",
    ),
    pytest.param(
        {"components": order_update(), "opt_out_button": OptOutButton(index=0, purpose="sales")},
        "opt_out_purpose",
        "marketing or service",
        id="opt-out purpose",
    ),
    # AUTHENTICATION
    pytest.param(
        {
            "components": _text_header("Code") + authentication()[:1] + authentication()[1:],
            "category": "AUTHENTICATION",
        },
        "header",
        "no header",
        id="auth with header",
    ),
    pytest.param(
        {
            "components": _replace(authentication(), 0, text="Your code is {{1}}."),
            "category": "AUTHENTICATION",
        },
        "body",
        "can't have your own text",
        id="auth body text",
    ),
    pytest.param(
        {"components": authentication()[1:], "category": "AUTHENTICATION"},
        "body",
        "body section",
        id="auth no body",
    ),
    pytest.param(
        {"components": authentication(minutes=0), "category": "AUTHENTICATION"},
        "code_expiration_minutes",
        "from 1 to 90",
        id="auth expiry 0",
    ),
    pytest.param(
        {"components": authentication(minutes=91), "category": "AUTHENTICATION"},
        "code_expiration_minutes",
        "from 1 to 90",
        id="auth expiry 91",
    ),
    pytest.param(
        {"components": _replace(authentication(), 1, text="Thanks"), "category": "AUTHENTICATION"},
        "footer",
        "only the code expiry",
        id="auth footer text",
    ),
    pytest.param(
        {"components": authentication()[:2], "category": "AUTHENTICATION"},
        "buttons",
        "exactly one button",
        id="auth without button",
    ),
    pytest.param(
        {
            "components": [*authentication()[:2], {"type": "BUTTONS", "buttons": [quick_reply()]}],
            "category": "AUTHENTICATION",
        },
        "buttons",
        "one-time-password button",
        id="auth with quick reply",
    ),
    pytest.param(
        {"components": authentication("MAGIC"), "category": "AUTHENTICATION"},
        "buttons[0].otp_type",
        "copy code, one-tap autofill or zero-tap",
        id="auth otp type",
    ),
    pytest.param(
        {"components": authentication("ONE_TAP"), "category": "AUTHENTICATION"},
        "buttons[0].supported_apps",
        "package name and signature hash",
        id="one-tap without app",
    ),
    pytest.param(
        {
            "components": authentication(
                "ZERO_TAP", supported_apps=[{"package_name": "com.example"}], zero_tap_terms_accepted=True
            ),
            "category": "AUTHENTICATION",
        },
        "buttons[0].supported_apps",
        "signature hash",
        id="zero-tap without signature hash",
    ),
    pytest.param(
        {
            "components": authentication("ZERO_TAP", supported_apps=[ANDROID_APP]),
            "category": "AUTHENTICATION",
        },
        "buttons[0].zero_tap_terms_accepted",
        "zero-tap terms",
        id="zero-tap without terms",
    ),
    pytest.param(
        {
            "components": authentication(),
            "category": "AUTHENTICATION",
            "opt_out_button": OptOutButton(index=0, purpose="service"),
        },
        "opt_out_button",
        "quick replies",
        id="auth with opt-out",
    ),
]


@pytest.mark.parametrize(("fields", "field", "fragment"), REFUSED)
def test_refused(fields, field, fragment):
    violations = _validate(**{"components": body_only(), **fields})

    matching = [v for v in violations if v.field == field and fragment in v.message]
    assert matching, violations
    assert all(v.code for v in violations)


def test_a_violation_has_a_stable_code():
    [violation] = _validate(_positional_body("{{1}}, your order ships today.", ["Ann"]))

    assert violation == Violation(
        field="body",
        message="The body can't start with a variable: WhatsApp rejects templates whose text begins "
        "with {{1}}. Add a greeting before it.",
        code="body_starts_with_variable",
    )


@pytest.mark.parametrize("garbage", [None, "BODY", 42, [None, "x", {"type": 3}], {"type": "BODY"}])
def test_unreadable_components_are_refused_without_crashing(garbage):
    violations = _validate(garbage)

    assert "components" in {v.field for v in violations}


def test_every_problem_is_reported_at_once():
    components = _positional_body("{{1}}{{3}}", [])
    violations = _validate(components, name="Bad Name")

    codes = {v.code for v in violations}
    assert {
        "name_invalid",
        "body_starts_with_variable",
        "body_ends_with_variable",
        "variables_not_sequential",
    } <= codes
