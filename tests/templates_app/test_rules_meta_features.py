"""The validator on what Meta's own examples exposed: each rule by its stable code and field."""

from __future__ import annotations

from typing import Any

import pytest

from templates_app.rules import validate_template
from tests.templates_app import meta_examples
from tests.templates_app.sample_templates import body_only, quick_reply, with_buttons


def _codes(components: Any, **overrides: Any) -> set[tuple[str, str]]:
    fields = {
        "name": "spring_sale",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": components,
    }
    return {(v.field, v.code) for v in validate_template(**{**fields, **overrides})}


@pytest.mark.parametrize("example", meta_examples.AUTHORED, ids=lambda e: e["body"]["name"])
def test_metas_examples_of_the_kinds_we_author_pass_unchanged(example):
    body = example["body"]

    assert (
        _codes(
            body["components"],
            name=body["name"],
            language=body["language"],
            category=body["category"],
            parameter_format=body.get("parameter_format", "POSITIONAL"),
        )
        == set()
    )


@pytest.mark.parametrize(
    ("example", "code"), meta_examples.NOT_AUTHORED, ids=[code for _, code in meta_examples.NOT_AUTHORED]
)
def test_metas_examples_of_kinds_we_do_not_author_are_named(example, code):
    body = example["body"]

    codes = {c for _, c in _codes(body["components"], category=body["category"])}

    assert code in codes
    assert "components_unknown_type" not in codes
    assert "header_format_unsupported" not in codes


@pytest.mark.parametrize("number", ["15550051310", "+15550051310", "4930123456"])
def test_a_phone_number_without_plus_is_accepted_as_meta_does(number):
    button = {"type": "PHONE_NUMBER", "text": "Call", "phone_number": number}

    assert _codes(with_buttons(button)) == set()


@pytest.mark.parametrize("number", ["030 123456", "+1555-005", "0155500513", "1" * 21, "+", ""])
def test_a_phone_number_meta_would_refuse(number):
    button = {"type": "PHONE_NUMBER", "text": "Call", "phone_number": number}

    assert _codes(with_buttons(button)) == {("buttons[0].phone_number", "button_phone_invalid")}


@pytest.mark.parametrize(
    ("header_format", "code"),
    [
        ("LOCATION", "header_location_not_supported"),
        ("location", "header_location_not_supported"),
        ("GIF", "header_gif_not_supported"),
        ("PRODUCT", "product_template_not_supported"),
    ],
)
def test_header_kinds_we_do_not_author_are_named(header_format, code):
    components = [{"type": "HEADER", "format": header_format}, *body_only()]

    assert _codes(components) == {("header", code)}


def test_an_unknown_header_format_is_still_the_generic_refusal():
    assert _codes([{"type": "HEADER", "format": "HOLOGRAM"}, *body_only()]) == {
        ("header", "header_format_unsupported")
    }


def _carousel(card_header_format: str) -> dict[str, Any]:
    card = {"components": [{"type": "HEADER", "format": card_header_format}]}
    return {"type": "CAROUSEL", "cards": [card, card]}


@pytest.mark.parametrize(
    ("component", "code"),
    [
        (_carousel("IMAGE"), "carousel_not_supported"),
        (_carousel("PRODUCT"), "product_carousel_not_supported"),
        (
            {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Ends soon"}},
            "limited_time_offer_not_supported",
        ),
    ],
)
def test_components_we_do_not_author_are_named(component, code):
    assert _codes([*body_only(), component]) == {("components", code)}


def test_a_truly_unknown_component_is_still_unknown():
    assert _codes([*body_only(), {"type": "WIDGET"}]) == {("components", "components_unknown_type")}


@pytest.mark.parametrize(
    ("button", "code"),
    [
        ({"type": "FLOW", "text": "Book"}, "button_flow_not_supported"),
        ({"type": "VOICE_CALL", "text": "Call"}, "button_voice_call_not_supported"),
        ({"type": "CATALOG", "text": "View catalog"}, "button_catalog_not_supported"),
        ({"type": "MPM", "text": "View items"}, "button_mpm_not_supported"),
        ({"type": "SPM", "text": "View"}, "button_spm_not_supported"),
        ({"type": "OTP", "otp_type": "COPY_CODE"}, "button_type_not_allowed"),
        ({"type": "TELEPORT", "text": "Go"}, "button_type_unsupported"),
    ],
)
def test_button_kinds_we_do_not_author_are_named(button, code):
    assert _codes(with_buttons(button)) == {("buttons[0].type", code)}


def test_a_gap_in_the_numbering_is_one_message_not_two_false_ones():
    body = {
        "type": "BODY",
        "text": "Hi {{1}}, your order {{3}} ships today.",
        "example": {"body_text": [["A", "B"]]},
    }

    assert _codes([body]) == {("body", "variables_not_sequential")}


def test_a_gap_with_too_few_samples_says_how_many_are_missing():
    body = {
        "type": "BODY",
        "text": "Hi {{1}}, your order {{3}} ships today.",
        "example": {"body_text": [["A"]]},
    }

    assert _codes([body]) == {("body", "variables_not_sequential"), ("body_example", "example_missing")}


def test_a_gap_in_the_header_numbering():
    header = {"type": "HEADER", "format": "TEXT", "text": "Order {{2}}", "example": {"header_text": ["A"]}}

    assert _codes([header, *body_only()]) == {("header_text", "variables_not_sequential")}


@pytest.mark.parametrize("second", ["Yes", "yes", " Yes  "])
def test_two_quick_replies_with_the_same_label_are_refused(second):
    components = with_buttons(quick_reply("Yes"), quick_reply("No"), quick_reply(second))

    assert _codes(components) == {("buttons[2].text", "buttons_duplicate_text")}


def test_a_call_button_may_share_a_quick_replys_label():
    call = {"type": "PHONE_NUMBER", "text": "Yes", "phone_number": "+4930123456"}

    assert _codes(with_buttons(quick_reply("Yes"), call)) == set()
