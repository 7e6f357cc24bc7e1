"""The validator on media card carousels: each rule by its stable code and field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from templates_app.rules import validate_template
from templates_app.rules.carousel import CARD_BODY_MAX_LENGTH, CAROUSEL_CARDS_MAX
from tests.templates_app.meta_examples import MEDIA_CARD_CAROUSEL

BODY = {"type": "BODY", "text": "Hi {{1}}, new plants are in.", "example": {"body_text": [["Pablo"]]}}


def card(*buttons: dict[str, Any], body: dict[str, Any] | None = None, fmt: str = "IMAGE") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "HEADER", "format": fmt, "example": {"header_handle": ["4::h"]}}]
    if body is not None:
        parts.append(body)
    parts.append({"type": "BUTTONS", "buttons": list(buttons or [QUICK_REPLY, SHOP])})
    return {"components": parts}


QUICK_REPLY = {"type": "QUICK_REPLY", "text": "More like this"}
SHOP = {
    "type": "URL",
    "text": "Shop",
    "url": "https://shop.example/p/{{1}}",
    "example": ["https://shop.example/p/1"],
}
CALL = {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550051310"}


def carousel(*cards: dict[str, Any], top: tuple[dict[str, Any], ...] = ()) -> list[dict[str, Any]]:
    return [*top, copy.deepcopy(BODY), {"type": "CAROUSEL", "cards": [copy.deepcopy(c) for c in cards]}]


def codes(components: Any, **overrides: Any) -> set[tuple[str, str]]:
    fields = {
        "name": "spring_plants",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": components,
    }
    return {(v.field, v.code) for v in validate_template(**{**fields, **overrides})}


def test_three_alike_cards_pass():
    assert codes(carousel(card(), card(), card())) == set()


@pytest.mark.parametrize("count", [2, CAROUSEL_CARDS_MAX])
def test_the_card_count_limits_themselves_pass(count):
    assert codes(carousel(*[card()] * count)) == set()


@pytest.mark.parametrize("count", [0, 1, CAROUSEL_CARDS_MAX + 1])
def test_a_card_count_outside_two_to_ten(count):
    assert codes(carousel(*[card()] * count)) == {("carousel", "carousel_card_count")}


def test_cards_with_video_headers_and_call_buttons_pass():
    assert codes(carousel(*[card(CALL, fmt="VIDEO")] * 3)) == set()


@pytest.mark.parametrize(
    ("top", "field"),
    [
        ({"type": "HEADER", "format": "TEXT", "text": "New plants"}, "header"),
        ({"type": "FOOTER", "text": "Thanks"}, "footer"),
        ({"type": "BUTTONS", "buttons": [QUICK_REPLY]}, "buttons"),
    ],
)
def test_the_carousel_has_no_header_footer_or_buttons_of_its_own(top, field):
    assert codes(carousel(card(), card(), top=(top,))) == {(field, "carousel_top_level_not_allowed")}


@pytest.mark.parametrize("category", ["UTILITY", "AUTHENTICATION"])
def test_a_carousel_is_marketing_only(category):
    assert ("category", "carousel_category") in codes(carousel(card(), card()), category=category)


def test_the_odd_card_is_named_not_the_first():
    """Card 1 is the odd one out: the message is on card 1, not on every other card."""
    cards = [card(SHOP), card(), card(), card()]

    assert codes(carousel(*cards)) == {("cards[0].buttons", "carousel_cards_differ")}


def test_buttons_in_another_order_differ():
    assert codes(carousel(card(), card(SHOP, QUICK_REPLY))) == {("cards[1].buttons", "carousel_cards_differ")}


def test_a_card_without_buttons():
    empty = card()
    empty["components"][-1]["buttons"] = []

    assert codes(carousel(card(), empty, card())) == {("cards[1].buttons", "carousel_card_buttons_count")}


def test_a_card_without_a_header():
    headless = card()
    headless["components"].pop(0)

    assert codes(carousel(card(), headless)) == {("cards[1].header", "carousel_card_header_format")}


def test_a_card_with_a_footer():
    footed = card()
    footed["components"].append({"type": "FOOTER", "text": "x"})

    assert codes(carousel(footed, card())) == {("carousel", "carousel_card_parts")}


def test_card_button_rules_name_the_card_and_the_button():
    unlabelled = {**SHOP, "text": ""}

    assert codes(carousel(card(), card(QUICK_REPLY, unlabelled))) == {
        ("cards[1].buttons[1].text", "button_label_required")
    }


def test_two_quick_replies_with_one_label_on_a_card():
    assert codes(carousel(*[card(QUICK_REPLY, QUICK_REPLY)] * 2)) == {
        ("cards[0].buttons[1].text", "buttons_duplicate_text"),
        ("cards[1].buttons[1].text", "buttons_duplicate_text"),
    }


CARD_BODY = {"type": "BODY", "text": "Use code {{1}} today.", "example": {"body_text": [["SAVE"]]}}


def test_card_bodies_on_every_card_pass():
    assert codes(carousel(*[card(body=CARD_BODY)] * 3)) == set()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"type": "BODY", "text": "x" * (CARD_BODY_MAX_LENGTH + 1)}, "cards[0].body", "body_too_long"),
        ({"type": "BODY", "text": "{{1}} is the code."}, "cards[0].body", "body_starts_with_variable"),
        ({"type": "BODY", "text": "Use {{2}} today."}, "cards[0].body", "variables_not_sequential"),
        ({"type": "BODY", "text": "Hi {{first}} there."}, "cards[0].body", "variable_wrong_kind"),
        ({"type": "BODY", "text": "Use {{1}} today."}, "cards[0].body_example", "example_missing"),
        ({"type": "BODY", "text": "   "}, "cards[0].body", "body_required"),
    ],
)
def test_a_card_body_follows_the_body_rules_with_its_own_fields(body, field, code):
    assert (field, code) in codes(carousel(card(body=body), card(body=CARD_BODY)))


def test_card_body_variables_are_numbered_within_the_card():
    second = {"type": "BODY", "text": "Hi {{1}}, use {{2}} today.", "example": {"body_text": [["Jo", "X"]]}}

    assert codes(carousel(card(body=CARD_BODY), card(body=second))) == set()


def test_a_named_template_names_its_card_variables():
    body = {
        "type": "BODY",
        "text": "Use {{code}} today.",
        "example": {"body_text_named_params": [{"param_name": "code", "example": "SAVE"}]},
    }
    named_top = {
        "type": "BODY",
        "text": "Hi {{name}}, new plants.",
        "example": {"body_text_named_params": [{"param_name": "name", "example": "Jo"}]},
    }
    components = [named_top, {"type": "CAROUSEL", "cards": [card(body=body), card(body=body)]}]

    assert codes(components, parameter_format="NAMED") == set()


def test_the_top_body_keeps_its_rules():
    components = carousel(card(), card())
    components[0] = {"type": "BODY", "text": "Hi {{1}}, new plants are in."}

    assert codes(components) == {("body_example", "example_missing")}


def test_metas_example_passes_unchanged():
    body = MEDIA_CARD_CAROUSEL["body"]

    assert codes(body["components"], category=body["category"]) == set()


# --- a card reply that reads as an opt-out (review 15, S4) -----------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "Stop promotions",
        "STOP",
        "stop!",
        "Unsubscribe me",
        "Opt out",
        "Opt-out",
        "OPTOUT",
        "Stopp",
        "Alle abmelden",
        "Arrêt",  # a settings keyword as the whole label
        "Baja",
        "ＳＴＯＰ",  # full-width
    ],
)
def test_a_card_quick_reply_that_reads_as_an_opt_out_is_refused(label):
    stop = {"type": "QUICK_REPLY", "text": label}

    assert codes(carousel(card(), card(stop, SHOP), card())) >= {
        ("cards[1].buttons[0].text", "carousel_card_opt_out_label")
    }


@pytest.mark.parametrize("label", ["More like this", "Stopover deals", "Start", "Baja California trip"])
def test_other_card_reply_labels_pass(label):
    reply = {"type": "QUICK_REPLY", "text": label}

    assert codes(carousel(*[card(reply, SHOP)] * 2)) == set()


def test_an_opt_out_label_on_a_link_button_is_left_alone():
    """A website button may open a web page where people unsubscribe; only a quick reply's tap is lost."""
    unsubscribe = {**SHOP, "text": "Unsubscribe"}

    assert codes(carousel(*[card(QUICK_REPLY, unsubscribe)] * 2)) == set()


def test_the_keywords_of_the_settings_count(settings):
    settings.WHATSAPP_OPT_OUT_KEYWORDS = ["NO MORE"]
    reply = {"type": "QUICK_REPLY", "text": "No more!"}

    assert codes(carousel(*[card(reply, SHOP)] * 2)) == {
        ("cards[0].buttons[0].text", "carousel_card_opt_out_label"),
        ("cards[1].buttons[0].text", "carousel_card_opt_out_label"),
    }
