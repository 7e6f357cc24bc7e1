"""The validator on what Meta's own examples exposed: each rule by its stable code and field."""

from __future__ import annotations

import copy
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


@pytest.mark.parametrize("broken", meta_examples.BROKEN, ids=repr)
def test_each_rule_of_metas_rich_kinds_is_named_by_its_code_and_field(broken):
    """Meta's carousel, limited-time offer and location examples, one rule broken each."""
    body = broken.body

    codes = _codes(
        body["components"],
        name=body["name"],
        language=body["language"],
        category=body["category"],
        parameter_format=body.get("parameter_format", "POSITIONAL"),
    )

    assert (broken.field, broken.code) in codes
    assert {code for _, code in codes} == {broken.code}


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
    [("GIF", "header_gif_not_supported"), ("PRODUCT", "product_template_not_supported")],
)
def test_header_kinds_we_do_not_author_are_named(header_format, code):
    components = [{"type": "HEADER", "format": header_format}, *body_only()]

    assert _codes(components) == {("header", code)}


@pytest.mark.parametrize("category", ["MARKETING", "UTILITY", "marketing"])
@pytest.mark.parametrize("header_format", ["LOCATION", "location"])
def test_a_location_header_is_authored_in_marketing_and_utility(category, header_format):
    components = [{"type": "HEADER", "format": header_format}, *body_only()]

    assert _codes(components, category=category) == set()


def test_a_location_header_is_not_for_authentication():
    components = [
        {"type": "HEADER", "format": "LOCATION"},
        *meta_examples.AUTHENTICATION_COPY_CODE["body"]["components"],
    ]

    assert _codes(components, category="AUTHENTICATION") == {("header", "header_location_category")}


def test_an_unknown_header_format_is_still_the_generic_refusal():
    assert _codes([{"type": "HEADER", "format": "HOLOGRAM"}, *body_only()]) == {
        ("header", "header_format_unsupported")
    }


def test_a_product_card_carousel_is_named_as_one():
    card = {
        "components": [
            {"type": "HEADER", "format": "PRODUCT"},
            {"type": "BUTTONS", "buttons": [{"type": "SPM", "text": "View"}]},
        ]
    }

    assert _codes([*body_only(), {"type": "CAROUSEL", "cards": [card, card]}]) == {
        ("components", "product_carousel_not_supported")
    }


def test_a_carousel_and_an_offer_together_are_refused():
    carousel = next(
        c for c in meta_examples.MEDIA_CARD_CAROUSEL["body"]["components"] if c["type"] == "carousel"
    )
    offer = {
        "type": "LIMITED_TIME_OFFER",
        "limited_time_offer": {"text": "Ends soon", "has_expiration": False},
    }

    codes = {code for _, code in _codes([*body_only(), carousel, offer])}

    assert "carousel_with_offer" in codes


def test_an_offer_without_expiration_may_leave_the_copy_code_out():
    components = copy.deepcopy(meta_examples.LIMITED_TIME_OFFER["body"]["components"])
    components[1]["limited_time_offer"]["has_expiration"] = False
    components[3]["buttons"].pop(0)

    assert _codes(components) == set()


@pytest.mark.parametrize(
    ("offer", "field", "code"),
    [
        ({"text": "", "has_expiration": True}, "offer_text", "offer_text_required"),
        ({"has_expiration": True}, "offer_text", "offer_text_required"),
        ({"text": "Ends soon", "has_expiration": "yes"}, "offer", "offer_expiration_invalid"),
    ],
)
def test_the_offers_own_settings(offer, field, code):
    components = copy.deepcopy(meta_examples.LIMITED_TIME_OFFER["body"]["components"])
    components[1]["limited_time_offer"] = offer

    assert _codes(components) == {(field, code)}


@pytest.mark.parametrize(
    "sample",
    [
        "https://www.luckyshrub.com/rare-succulents/BLUE_ELF",
        "BLUE_ELF",
        "https://www.luckyshrub.com/offers?ref=1",
    ],
)
def test_a_url_sample_may_be_the_full_address_the_value_alone_or_the_same_site(sample):
    button = {
        "type": "URL",
        "text": "Shop",
        "url": "https://www.luckyshrub.com/rare-succulents/{{1}}",
        "example": [sample],
    }

    assert _codes(with_buttons(button)) == set()


@pytest.mark.parametrize(
    "sample", ["https://other.example/BLUE_ELF", "https://www.luckyshrub.com/rare-succulents/", "/BLUE_ELF"]
)
def test_a_url_sample_on_another_site_or_without_a_value_is_refused(sample):
    button = {
        "type": "URL",
        "text": "Shop",
        "url": "https://www.luckyshrub.com/rare-succulents/{{1}}",
        "example": [sample],
    }

    assert _codes(with_buttons(button)) == {("buttons[0].example", "button_url_example_mismatch")}


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
