"""Send values for issue 15's kinds — a media card carousel, a limited-time offer, a location header —
checked (every bad shape a clear problem naming where, never an exception) and built into Meta's
send components (the shapes of Meta's carousel and limited-time offer pages)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ApplicationError
from templates_app.parameters import OFFER_MAX_AHEAD, build_send_components, check_parameters
from tests.templates_app.meta_examples import LIMITED_TIME_OFFER, MEDIA_CARD_CAROUSEL, ORDER_DELIVERY_UPDATE

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
IN_A_WEEK_MS = NOW_MS + 7 * 24 * 3600 * 1000

CAROUSEL = MEDIA_CARD_CAROUSEL["body"]["components"]
OFFER = LIMITED_TIME_OFFER["body"]["components"]
LOCATION = ORDER_DELIVERY_UPDATE["body"]["components"]


def card(link_suffix: str, image: str = "https://shop.example/succulent.jpg") -> dict:
    return {"header": {"type": "image", "link": image}, "buttons": {"1": link_suffix}}


CAROUSEL_VALUES = {
    "body": ["Pablo", "30%", "30OFF"],
    "cards": [
        card("BLUE_ELF"),
        card("BUDDHA"),
        {**card("BLACK_PRINCE"), "header": {"type": "image", "id": "77"}},
    ],
}
OFFER_VALUES = {
    "header": {"type": "image", "id": "1013859600285441"},
    "body": ["Pablo", "CARIBE25"],
    "offer": {"expiration_time_ms": IN_A_WEEK_MS},
    "buttons": {"0": "CARIBE25", "1": "n3mtql"},
}
PLACE = {"latitude": 37.483307, "longitude": -122.148981, "name": "Pablo Morales", "address": "1 Hacker Way"}
LOCATION_VALUES = {"header": {"type": "location", "location": PLACE}, "body": ["Mark", "566701"]}


def problems_of(components, parameters, parameter_format="POSITIONAL"):
    return check_parameters(
        components=components, parameter_format=parameter_format, parameters=parameters, now=NOW
    )


def build(components, parameters, **options):
    return build_send_components(
        components=components, parameter_format="POSITIONAL", parameters=parameters, now=NOW, **options
    )


def with_changes(values: dict, **changes) -> dict:
    changed = copy.deepcopy(values)
    changed.update(changes)
    return changed


# --- what fits, and what is sent -------------------------------------------------------------


def test_meta_examples_values_fit():
    assert problems_of(CAROUSEL, CAROUSEL_VALUES) == []
    assert problems_of(OFFER, OFFER_VALUES) == []
    assert problems_of(LOCATION, LOCATION_VALUES) == []


def test_a_carousel_sends_every_card_in_order_with_a_payload_naming_its_card():
    sent = build(CAROUSEL, CAROUSEL_VALUES)
    assert sent[0] == {
        "type": "body",
        "parameters": [
            {"type": "text", "text": "Pablo"},
            {"type": "text", "text": "30%"},
            {"type": "text", "text": "30OFF"},
        ],
    }
    assert sent[1]["type"] == "carousel" and len(sent) == 2
    cards = sent[1]["cards"]
    assert [c["card_index"] for c in cards] == [0, 1, 2]
    assert cards[0]["components"] == [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://shop.example/succulent.jpg"}}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "card:0:0"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "BLUE_ELF"}],
        },
    ]
    assert cards[2]["components"][0]["parameters"] == [{"type": "image", "image": {"id": "77"}}]
    assert cards[2]["components"][1]["parameters"][0]["payload"] == "card:2:0"


def test_a_card_quick_reply_payload_given_by_the_caller_is_sent():
    sent = build(CAROUSEL, CAROUSEL_VALUES, card_quick_reply_payloads={"1": {"0": "more:buddha"}})
    cards = sent[-1]["cards"]
    assert cards[1]["components"][1]["parameters"] == [{"type": "payload", "payload": "more:buddha"}]
    assert cards[0]["components"][1]["parameters"] == [{"type": "payload", "payload": "card:0:0"}]


@pytest.mark.parametrize(
    "payloads,fragment",
    [({"7": {"0": "x"}}, "card “7”"), ({"0": {"1": "x"}}, "Card 1:"), ({"0": "x"}, "Card 1:")],
)
def test_card_payloads_that_do_not_fit_are_refused(payloads, fragment):
    with pytest.raises(ApplicationError) as refused:
        build(CAROUSEL, CAROUSEL_VALUES, card_quick_reply_payloads=payloads)
    assert refused.value.code == "template_parameters_invalid"
    assert any(fragment in problem for problem in refused.value.details["problems"])


def test_a_limited_time_offer_sends_its_end_its_code_and_its_link():
    sent = build(OFFER, OFFER_VALUES)
    assert [c["type"] for c in sent] == ["header", "body", "limited_time_offer", "button", "button"]
    assert sent[2] == {
        "type": "limited_time_offer",
        "parameters": [
            {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": IN_A_WEEK_MS}}
        ],
    }
    assert sent[3] == {
        "type": "button",
        "sub_type": "copy_code",
        "index": "0",
        "parameters": [{"type": "coupon_code", "coupon_code": "CARIBE25"}],
    }
    assert sent[4]["sub_type"] == "url" and sent[4]["parameters"] == [{"type": "text", "text": "n3mtql"}]


def test_an_offer_without_an_end_sends_no_offer_component_and_takes_no_end():
    components = copy.deepcopy(OFFER)
    components[1]["limited_time_offer"]["has_expiration"] = False
    values = {key: value for key, value in OFFER_VALUES.items() if key != "offer"}
    assert "limited_time_offer" not in [c["type"] for c in build(components, values)]
    assert problems_of(components, OFFER_VALUES)  # an end for an offer that shows none


def test_a_location_header_sends_the_place_as_metas_example_writes_it():
    sent = build(LOCATION, LOCATION_VALUES)
    assert sent[0] == {
        "type": "header",
        "parameters": [
            {
                "type": "location",
                "location": {
                    "latitude": "37.483307",
                    "longitude": "-122.148981",
                    "name": "Pablo Morales",
                    "address": "1 Hacker Way",
                },
            }
        ],
    }
    text_place = {"header": {"type": "location", "location": {"latitude": " 0.5 ", "longitude": -180}}}
    sent = build(LOCATION, {**LOCATION_VALUES, **text_place})
    assert sent[0]["parameters"][0]["location"] == {"latitude": "0.5", "longitude": "-180"}


# --- hostile shapes: a clear problem each, never an exception ----------------------------------


def located(**place) -> dict:
    return {**LOCATION_VALUES, "header": {"type": "location", "location": {**PLACE, **place}}}


def card_changed(number: int, **changes) -> dict:
    values = copy.deepcopy(CAROUSEL_VALUES)
    values["cards"][number - 1].update(changes)
    return values


HOSTILE = [
    # carousels
    (CAROUSEL, with_changes(CAROUSEL_VALUES, cards="BLUE_ELF"), "cards"),
    (CAROUSEL, with_changes(CAROUSEL_VALUES, cards={"0": card("X")}), "cards"),
    (CAROUSEL, with_changes(CAROUSEL_VALUES, cards=[card("X")] * 11), "3 cards but 11"),
    (CAROUSEL, with_changes(CAROUSEL_VALUES, cards=[]), "3 cards but 0"),
    (CAROUSEL, {"body": ["Pablo", "30%", "30OFF"]}, "carousel of 3 cards"),
    (CAROUSEL, with_changes(CAROUSEL_VALUES, cards=[card("A"), 5, card("C")]), "Card 2:"),
    (CAROUSEL, card_changed(2, header=None), "Card 2: the card has an image header"),
    (CAROUSEL, card_changed(2, header={"type": "video", "link": "https://x.example/v.mp4"}), "Card 2:"),
    (CAROUSEL, card_changed(3, header={"type": "image", "link": "ftp://x.example/a.jpg"}), "Card 3:"),
    (CAROUSEL, card_changed(2, buttons={"1": "BUD DHA"}), "Card 2: the link value of button 2"),
    (CAROUSEL, card_changed(2, buttons=["BUDDHA"]), "Card 2:"),
    (CAROUSEL, card_changed(2, buttons={}), "Card 2: the link of button 2"),
    (CAROUSEL, card_changed(1, buttons={"0": "payload", "1": "X"}), "Card 1: button 1 takes no value"),
    (CAROUSEL, card_changed(1, body=["extra"]), "Card 1: the body has no variables"),
    (CAROUSEL, card_changed(1, footer="x"), "Card 1: “footer”"),
    (CAROUSEL, with_changes(CAROUSEL_VALUES, buttons={"0": "X"}), "no button with index 0"),
    # locations
    (LOCATION, located(latitude=float("nan")), "latitude"),
    (LOCATION, located(latitude=float("inf")), "latitude"),
    (LOCATION, located(longitude="nan"), "longitude"),
    (LOCATION, located(longitude="1e2"), "longitude"),
    (LOCATION, located(latitude=True), "latitude"),
    (LOCATION, located(latitude=90.5), "latitude"),
    (LOCATION, located(longitude=10**400), "longitude"),
    (LOCATION, located(latitude=[37]), "latitude"),
    (LOCATION, located(latitude="١٢"), "latitude"),
    (LOCATION, located(latitude=None), "latitude is missing"),
    (LOCATION, located(name=""), "name"),
    (LOCATION, located(address=12), "address"),
    (LOCATION, located(address="x" * 1025), "address"),
    (LOCATION, located(city="Menlo Park"), "city"),
    (LOCATION, {**LOCATION_VALUES, "header": {"type": "location", "location": "Menlo Park"}}, "location"),
    (LOCATION, {**LOCATION_VALUES, "header": "1 Hacker Way"}, "location header"),
    (LOCATION, {**LOCATION_VALUES, "header": None}, "location header"),
    (
        LOCATION,
        {**LOCATION_VALUES, "header": {"type": "image", "link": "https://x.example/a.jpg"}},
        "location",
    ),
    (OFFER, {**OFFER_VALUES, "header": {"type": "location", "location": PLACE}}, "image"),
    # limited-time offers
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": True}), "whole number"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": float(IN_A_WEEK_MS)}), "whole number"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": str(IN_A_WEEK_MS)}), "whole number"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": NOW_MS - 1}), "has passed"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": 0}), "has passed"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": IN_A_WEEK_MS // 1000}), "seconds"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": -(10**30)}), "has passed"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": 10**30}), "days away"),
    (OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": IN_A_WEEK_MS, "tz": "UTC"}), "only"),
    (OFFER, with_changes(OFFER_VALUES, offer=[IN_A_WEEK_MS]), "ends"),
    (OFFER, with_changes(OFFER_VALUES, offer=None), "counts down"),
    (OFFER, with_changes(OFFER_VALUES, buttons={"1": "n3mtql"}), "button 1"),
    (OFFER, with_changes(OFFER_VALUES, buttons={"0": "CARIBE25-TOO-LONG", "1": "x"}), "button 1"),
    # values for parts the template does not have
    (LOCATION, {**LOCATION_VALUES, "offer": {"expiration_time_ms": IN_A_WEEK_MS}}, "no limited-time offer"),
    (LOCATION, {**LOCATION_VALUES, "cards": [card("X")]}, "no carousel"),
    (LOCATION, {**LOCATION_VALUES, "card": [card("X")]}, "“card”"),
]


@pytest.mark.parametrize("components,parameters,fragment", HOSTILE)
def test_hostile_values_get_a_clear_problem_naming_where(components, parameters, fragment):
    problems = problems_of(components, parameters)
    assert problems, parameters
    assert any(fragment.lower() in problem.lower() for problem in problems), problems
    with pytest.raises(ApplicationError) as refused:
        build(components, parameters)
    assert refused.value.code == "template_parameters_invalid"
    assert refused.value.details["problems"] == problems


def test_an_offer_may_end_up_to_the_limit_ahead_and_not_beyond():
    limit_ms = NOW_MS + int(OFFER_MAX_AHEAD / timedelta(milliseconds=1))
    assert problems_of(OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": limit_ms})) == []
    assert problems_of(OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": limit_ms + 1}))


def test_an_offer_checked_later_than_its_end_is_refused_then():
    """The dispatcher checks again when it sends: an offer that ended while the message waited is not sent."""
    later = datetime.fromtimestamp(IN_A_WEEK_MS / 1000 + 1, tz=UTC)
    problems = check_parameters(
        components=OFFER, parameter_format="POSITIONAL", parameters=OFFER_VALUES, now=later
    )
    assert any("has passed" in problem for problem in problems)


def test_a_past_end_in_milliseconds_gets_no_hint_about_seconds():
    (problem,) = problems_of(OFFER, with_changes(OFFER_VALUES, offer={"expiration_time_ms": NOW_MS - 1}))
    assert "seconds" not in problem


# --- button keys written with a leading zero (review 15, N5) ----------------------------------


@pytest.mark.parametrize(
    "components,parameters,prefix",
    [
        (OFFER, with_changes(OFFER_VALUES, buttons={"0": "CARIBE25", "01": "n3mtql"}), ""),
        (OFFER, with_changes(OFFER_VALUES, buttons={"00": "CARIBE25", "1": "n3mtql"}), ""),
        (CAROUSEL, card_changed(2, buttons={"01": "BUDDHA"}), "Card 2: "),
    ],
)
def test_a_button_key_with_a_leading_zero_is_an_unknown_index(components, parameters, prefix):
    """A key "01" is not button 1: it is named as an index the template doesn't have, not left to look
    like a missing value."""
    key = next(
        k for k in (parameters.get("buttons") or parameters["cards"][1]["buttons"]) if k.startswith("0")
    )
    problems = problems_of(components, parameters)
    assert any(
        p.lower().startswith(prefix.lower()) and f"no button with index {key}" in p for p in problems
    ), problems


def test_card_payload_keys_with_a_leading_zero_are_refused():
    with pytest.raises(ApplicationError) as refused:
        build(CAROUSEL, CAROUSEL_VALUES, card_quick_reply_payloads={"01": {"0": "x"}})
    assert any("card “01”" in problem for problem in refused.value.details["problems"])
    with pytest.raises(ApplicationError) as refused:
        build(CAROUSEL, CAROUSEL_VALUES, card_quick_reply_payloads={"1": {"00": "x"}})
    assert any("button “00”" in problem for problem in refused.value.details["problems"])
