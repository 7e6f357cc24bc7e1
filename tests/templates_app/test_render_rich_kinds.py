"""render_message for issue 15's kinds: carousels, limited-time offers and location headers."""

from __future__ import annotations

import copy

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from templates_app.preview import CardMedia, render_bubble
from templates_app.rendering import (
    LOCATION_SAMPLE_NOTE,
    OFFER_ENDS_PLACEHOLDER,
    RenderedButton,
    RenderedHeader,
    RenderedLocation,
    render_message,
)
from tests.templates_app.meta_examples import LIMITED_TIME_OFFER, MEDIA_CARD_CAROUSEL, ORDER_DELIVERY_UPDATE

CAROUSEL = MEDIA_CARD_CAROUSEL["body"]["components"]
OFFER = LIMITED_TIME_OFFER["body"]["components"]
LOCATION = ORDER_DELIVERY_UPDATE["body"]["components"]
# 2025-12-31 23:59:59 UTC
ENDS_MS = 1767225599000


def carousel_with_card_bodies():
    """Meta's carousel with a body (and variable) on every card, as the editor authors it."""
    components = copy.deepcopy(CAROUSEL)
    for number, card in enumerate(components[1]["cards"], 1):
        card["components"].insert(
            1,
            {
                "type": "body",
                "text": f"Card {number} for {{{{1}}}}",
                "example": {"body_text": [[f"sample-{number}"]]},
            },
        )
    return components


CARD_PARAMETERS = {
    "body": ["Ann", "20%", "ANN20"],
    "cards": [
        {"header": {"type": "image", "id": "media-1"}, "body": ["ann-1"], "buttons": {"1": "BLUE_ELF"}},
        {
            "header": {"type": "image", "link": "https://cdn.example/2.jpg"},
            "body": ["ann-2"],
            "buttons": {"1": "/B"},
        },
        {"header": {"type": "image", "id": "media-3"}, "body": ["ann-3"], "buttons": {"1": "/C"}},
    ],
}


# --- carousel ---------------------------------------------------------------------------------


def test_carousel_with_examples_fills_the_cards_samples():
    message = render_message(components=carousel_with_card_bodies(), use_examples=True)

    assert message.header is None and message.buttons == ()
    assert message.body.startswith("Rare succulents for sale! Pablo,")
    assert [card.index for card in message.cards] == [0, 1, 2]
    assert [card.body for card in message.cards] == [f"Card {n} for sample-{n}" for n in (1, 2, 3)]
    first = message.cards[0]
    assert first.header == RenderedHeader(kind="IMAGE", text="[Image]")
    assert first.buttons == (
        RenderedButton(index=0, kind="QUICK_REPLY", label="Send me more like this!"),
        # Meta's example gives only the variable's part: it is appended to the link.
        RenderedButton(
            index=1, kind="URL", label="Shop", target="https://www.luckyshrub.com/rare-succulents/BLUE_ELF"
        ),
    )


def test_carousel_with_parameters_takes_each_cards_values():
    message = render_message(components=carousel_with_card_bodies(), parameters=CARD_PARAMETERS)

    assert "Ann" in message.body and "ANN20" in message.body
    assert [card.body for card in message.cards] == [
        "Card 1 for ann-1",
        "Card 2 for ann-2",
        "Card 3 for ann-3",
    ]
    assert [card.header.media for card in message.cards] == [
        "media-1",
        "https://cdn.example/2.jpg",
        "media-3",
    ]
    assert [card.buttons[1].target for card in message.cards] == [
        "https://www.luckyshrub.com/rare-succulents/BLUE_ELF",
        "https://www.luckyshrub.com/rare-succulents/B",
        "https://www.luckyshrub.com/rare-succulents/C",
    ]


def test_carousel_missing_card_values_show_as_their_variable():
    parameters = {"body": ["Ann"], "cards": [{"body": ["ann-1"]}]}  # cards 2 and 3 not given

    message = render_message(components=carousel_with_card_bodies(), parameters=parameters)

    assert [card.body for card in message.cards] == [
        "Card 1 for ann-1",
        "Card 2 for {{1}}",
        "Card 3 for {{1}}",
    ]
    assert message.cards[2].buttons[1].target == "https://www.luckyshrub.com/rare-succulents{{1}}"


def test_carousel_as_text_lists_the_cards_in_order():
    text = render_message(components=carousel_with_card_bodies(), parameters=CARD_PARAMETERS).as_text()

    assert text.startswith("Rare succulents for sale! Ann,")
    positions = [text.index(f"Card {n}: Card {n} for ann-{n}") for n in (1, 2, 3)]
    assert positions == sorted(positions)
    assert text.count("[Send me more like this!] | [Shop]") == 3


def test_card_without_body_reads_as_its_media_in_text():
    text = render_message(components=CAROUSEL, use_examples=True).as_text()

    assert "Card 1: [Image]" in text and "Card 3: [Image]" in text


@pytest.mark.parametrize(
    "cards",
    [None, "x", [None, 3, "y"], [{"body": "not a list", "buttons": ["nope"], "header": "image"}]],
)
def test_carousel_never_fails_on_malformed_card_parameters(cards):
    message = render_message(components=carousel_with_card_bodies(), parameters={"cards": cards})

    assert len(message.cards) == 3


def test_hostile_card_text_is_escaped_in_the_bubble():
    components = carousel_with_card_bodies()
    components[1]["cards"][0]["components"][1]["text"] = "<script>alert(1)</script> {{1}}"
    parameters = {"cards": [{"body": ['<img src=x onerror="alert(2)">']}]}

    html = render_bubble(
        components=components, parameters=parameters, card_media=[CardMedia(name='"><script>x</script>')]
    )

    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x" in html


def test_bubble_draws_the_cards_as_a_strip():
    html = render_bubble(
        components=carousel_with_card_bodies(),
        use_examples=True,
        card_media=[CardMedia(name="elf.jpg", input="cards-0-header_media")],
    )

    assert 'class="wa-carousel"' in html
    assert html.count('class="wa-card"') == 3
    assert 'data-media-input="cards-0-header_media"' in html and "elf.jpg" in html
    assert "Card 2 for sample-2" in html


# --- limited-time offer -----------------------------------------------------------------------


def test_offer_with_examples_shows_the_placeholder_end_and_sample_code():
    message = render_message(components=OFFER, use_examples=True)

    assert message.header.kind == "IMAGE"
    assert message.offer.text == "Expiring offer!" and message.offer.has_expiration
    assert message.offer.ends == OFFER_ENDS_PLACEHOLDER
    assert message.offer.code == "CARIBE25"
    assert message.buttons[0].target == "CARIBE25"


def test_offer_with_parameters_shows_its_end_and_the_recipients_code():
    parameters = {
        "body": ["Ann", "ANN25"],
        "offer": {"expiration_time_ms": ENDS_MS},
        "buttons": {"0": "ANN25"},
    }

    with timezone.override("UTC"):
        message = render_message(components=OFFER, parameters=parameters)

    assert message.offer.ends == "Ends 31 Dec 2025, 23:59 UTC"
    assert message.offer.code == "ANN25"
    text = message.as_text()
    assert "Expiring offer!" in text and "Ends 31 Dec 2025, 23:59 UTC" in text and "ANN25" in text
    assert text.index("Expiring offer!") < text.index("Good news, Ann!")


def test_offer_end_follows_the_current_time_zone():
    with timezone.override("Europe/Berlin"):
        message = render_message(components=OFFER, parameters={"offer": {"expiration_time_ms": str(ENDS_MS)}})

    assert message.offer.ends == "Ends 1 Jan 2026, 00:59 CET"


@pytest.mark.parametrize(
    "value", [None, "soon", True, 10**30, -(10**30), -62135596800000, float("nan"), [1], {"a": 1}]
)
def test_offer_with_unreadable_end_shows_the_placeholder(value):
    with timezone.override("America/New_York"):  # the first instant of year 1, moved back a few hours
        message = render_message(components=OFFER, parameters={"offer": {"expiration_time_ms": value}})

    assert message.offer.ends == OFFER_ENDS_PLACEHOLDER


def test_offer_without_expiry_has_no_end_line():
    components = copy.deepcopy(OFFER)
    components[1]["limited_time_offer"]["has_expiration"] = False

    message = render_message(components=components, parameters={"offer": {"expiration_time_ms": ENDS_MS}})

    assert message.offer.ends == "" and "Ends" not in message.as_text()


def test_bubble_draws_the_offer_and_the_code():
    html = render_bubble(components=OFFER, parameters={"buttons": {"0": "ANN25"}})

    assert 'class="wa-offer"' in html and "Expiring offer!" in html and OFFER_ENDS_PLACEHOLDER in html
    assert 'class="wa-button-code">ANN25<' in html


def test_standard_templates_have_no_offer_or_cards():
    message = render_message(components=LOCATION, use_examples=True)

    assert message.offer is None and message.cards == ()


# --- location header --------------------------------------------------------------------------

PLACE = {"latitude": 37.483307, "longitude": -122.148981, "name": "Lucky Shrub", "address": "1 Hacker Way"}


def test_location_header_with_parameters_carries_the_place():
    message = render_message(
        components=LOCATION, parameters={"header": {"type": "location", "location": PLACE}}
    )

    assert message.header.kind == "LOCATION"
    assert message.header.location == RenderedLocation(
        name="Lucky Shrub", address="1 Hacker Way", latitude="37.483307", longitude="-122.148981"
    )
    assert message.as_text().startswith("[Location] Lucky Shrub, 1 Hacker Way\n\n")


def test_location_header_without_name_reads_as_its_coordinates():
    place = {"latitude": "37.48", "longitude": "-122.14"}

    message = render_message(
        components=LOCATION, parameters={"header": {"type": "location", "location": place}}
    )

    assert message.as_text().startswith("[Location] 37.48, -122.14")


def test_location_header_with_examples_says_the_place_comes_with_each_message():
    message = render_message(components=LOCATION, use_examples=True)

    assert message.header.location is None and message.header.sample_note == LOCATION_SAMPLE_NOTE
    assert LOCATION_SAMPLE_NOTE in render_bubble(components=LOCATION, use_examples=True)


def test_location_bubble_escapes_the_place():
    place = {**PLACE, "name": "<script>alert(1)</script>", "address": "<b>Main</b>"}

    html = render_bubble(components=LOCATION, parameters={"header": {"type": "location", "location": place}})

    assert 'class="wa-header-location"' in html
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;Main" in html


@pytest.mark.parametrize("location", [None, "here", [1, 2], {"name": {"x": 1}, "address": None}])
def test_location_never_fails_on_malformed_places(location):
    message = render_message(
        components=LOCATION, parameters={"header": {"type": "location", "location": location}}
    )

    assert message.header.kind == "LOCATION"
    render_bubble(components=LOCATION, parameters={"header": {"type": "location", "location": location}})


# --- never a failure ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
known_keys = st.fixed_dictionaries(
    {},
    optional={
        "header": json_values,
        "body": json_values,
        "buttons": json_values,
        "offer": st.fixed_dictionaries({}, optional={"expiration_time_ms": json_values}) | json_values,
        "cards": st.lists(
            st.fixed_dictionaries(
                {}, optional={"header": json_values, "body": json_values, "buttons": json_values}
            )
            | json_values,
            max_size=4,
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    components=st.sampled_from([carousel_with_card_bodies(), OFFER, LOCATION]),
    parameters=known_keys,
    use_examples=st.booleans(),
)
def test_rich_kinds_render_whatever_the_parameters(components, parameters, use_examples):
    message = render_message(components=components, parameters=parameters, use_examples=use_examples)

    assert isinstance(message.as_text(), str)
    render_bubble(components=components, parameters=parameters, use_examples=use_examples)
