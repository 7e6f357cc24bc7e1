"""The sandbox checks sends of issue 15's kinds as Meta does, through real HTTP: a carousel, a
limited-time offer and a location-header send (built by the app's own send path) are accepted with a
wamid and then delivered and read by webhook; each malformed variant is refused with Meta's code."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import requests

from cloud_api import payloads
from templates_app.parameters import build_send_components
from tests.sandbox import CUSTOMER, PHONE_NUMBER_ID, TOKEN, VERSION, seed_templates, wait_until
from tests.templates_app.meta_examples import (
    LIMITED_TIME_OFFER,
    MEDIA_CARD_CAROUSEL,
    ORDER_DELIVERY_UPDATE,
    with_handle,
)

IMAGE = {"type": "image", "link": "https://shop.example/succulent.jpg"}
IN_A_WEEK_MS = int((time.time() + 7 * 24 * 3600) * 1000)

CAROUSEL_VALUES = {
    "body": ["Pablo", "30%", "30OFF"],
    "cards": [
        {"header": IMAGE, "buttons": {"1": "BLUE_ELF"}},
        {"header": IMAGE, "buttons": {"1": "BUDDHA"}},
        {"header": IMAGE, "buttons": {"1": "BLACK_PRINCE"}},
    ],
}
OFFER_VALUES = {
    "header": IMAGE,
    "body": ["Pablo", "CARIBE25"],
    "offer": {"expiration_time_ms": IN_A_WEEK_MS},
    "buttons": {"0": "CARIBE25", "1": "n3mtql"},
}
LOCATION_VALUES = {
    "header": {
        "type": "location",
        "location": {
            "latitude": 37.483307,
            "longitude": -122.148981,
            "name": "Pablo Morales",
            "address": "1 Hacker Way, Menlo Park, CA 94025",
        },
    },
    "body": ["Mark", "566701"],
}
KINDS = {
    "carousel": (MEDIA_CARD_CAROUSEL, CAROUSEL_VALUES),
    "offer": (LIMITED_TIME_OFFER, OFFER_VALUES),
    "location": (ORDER_DELIVERY_UPDATE, LOCATION_VALUES),
}


def seeded(example: dict) -> dict:
    """Meta's example as the sandbox holds it once approved (category upper-cased, as Meta returns it)."""
    body = with_handle(example, "4::aW1hZ2U=:seed")
    return {**body, "category": body["category"].upper()}


@pytest.fixture
def rich(sandbox):
    seed_templates(sandbox, *(seeded(example) for example, _ in KINDS.values()))
    return sandbox


def components_for(kind: str) -> list[dict[str, Any]]:
    example, values = KINDS[kind]
    return build_send_components(
        components=example["body"]["components"], parameter_format="POSITIONAL", parameters=values
    )


def send(sandbox, kind: str, components: list[dict[str, Any]]):
    example = KINDS[kind][0]["body"]
    payload = payloads.template_message_with_components(
        CUSTOMER, name=example["name"], language=example["language"], components=components
    )
    response = requests.post(
        f"{sandbox.url}/{VERSION}/{PHONE_NUMBER_ID}/messages",
        json=payload,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    return response.status_code, response.json()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_send_of_each_kind_is_accepted_then_delivered_and_read(rich, kind, webhook_receiver):
    status, body = send(rich, kind, components_for(kind))
    assert status == 200, body
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    seen = wait_until(
        lambda: {s["status"] for s in webhook_receiver.statuses_of(wamid)} >= {"delivered", "read"}
    )
    assert seen


def changed(kind: str, change) -> list[dict[str, Any]]:
    components = copy.deepcopy(components_for(kind))
    change(components)
    return components


def of_type(components: list[dict], kind: str) -> dict:
    return next(c for c in components if c["type"] == kind)


def card_components(components: list[dict], card: int) -> list[dict]:
    return of_type(components, "carousel")["cards"][card]["components"]


def drop_card(components):
    of_type(components, "carousel")["cards"].pop()


def add_card(components):
    cards = of_type(components, "carousel")["cards"]
    cards.append({**copy.deepcopy(cards[0]), "card_index": 3})


def drop_carousel(components):
    components[:] = [c for c in components if c["type"] != "carousel"]


def drop_card_header(components):
    card = card_components(components, 1)
    card[:] = [c for c in card if c["type"] != "header"]


def card_header_without_media(components):
    card_components(components, 1)[0]["parameters"] = [{"type": "image", "image": {}}]


def card_header_as_video(components):
    card_components(components, 2)[0]["parameters"] = [
        {"type": "video", "video": {"link": "https://x.example/v"}}
    ]


def card_link_as_payload(components):
    url = next(c for c in card_components(components, 0) if c.get("sub_type") == "url")
    url["parameters"] = [{"type": "payload", "payload": "BLUE_ELF"}]


def card_without_link(components):
    card = card_components(components, 0)
    card[:] = [c for c in card if c.get("sub_type") != "url"]


def card_index_twice(components):
    of_type(components, "carousel")["cards"][1]["card_index"] = 0


def offer_expired(components):
    of_type(components, "limited_time_offer")["parameters"][0]["limited_time_offer"]["expiration_time_ms"] = (
        int((time.time() - 60) * 1000)
    )


def offer_as_text(components):
    details = of_type(components, "limited_time_offer")["parameters"][0]["limited_time_offer"]
    details["expiration_time_ms"] = str(details["expiration_time_ms"])


def offer_dropped(components):
    components[:] = [c for c in components if c["type"] != "limited_time_offer"]


def offer_wrong_parameter(components):
    of_type(components, "limited_time_offer")["parameters"] = [{"type": "text", "text": "soon"}]


def location_as_image(components):
    of_type(components, "header")["parameters"] = [
        {"type": "image", "image": {"link": "https://x.example/a"}}
    ]


def location_without_latitude(components):
    del of_type(components, "header")["parameters"][0]["location"]["latitude"]


def location_latitude_text(components):
    of_type(components, "header")["parameters"][0]["location"]["latitude"] = "north"


def location_out_of_range(components):
    of_type(components, "header")["parameters"][0]["location"]["longitude"] = "181"


def location_dropped(components):
    components[:] = [c for c in components if c["type"] != "header"]


def offer_on_location(components):
    components.append(
        {
            "type": "limited_time_offer",
            "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1}}],
        }
    )


@pytest.mark.parametrize(
    "kind,change,code",
    [
        ("carousel", drop_card, 132000),
        ("carousel", add_card, 132000),
        ("carousel", drop_carousel, 132000),
        ("carousel", drop_card_header, 131008),
        ("carousel", card_header_without_media, 131008),
        ("carousel", card_header_as_video, 132012),
        ("carousel", card_link_as_payload, 132012),
        ("carousel", card_without_link, 132000),
        ("carousel", card_index_twice, 131009),
        ("offer", offer_expired, 131009),
        ("offer", offer_as_text, 132012),
        ("offer", offer_dropped, 131008),
        ("offer", offer_wrong_parameter, 132012),
        ("location", location_as_image, 132012),
        ("location", location_without_latitude, 131008),
        ("location", location_latitude_text, 132012),
        ("location", location_out_of_range, 131009),
        ("location", location_dropped, 132000),
        ("location", offer_on_location, 132000),
    ],
)
def test_a_malformed_send_is_refused_with_metas_code(rich, kind, change, code):
    status, body = send(rich, kind, changed(kind, change))
    assert status == 400, body
    assert body["error"]["code"] == code, body
    if kind == "carousel" and change not in (drop_card, add_card, drop_carousel):
        assert "card" in body["error"]["error_data"]["details"]


# --- Hostile JSON: Meta's error, never a 500 (review 15, S5) -----------------------------------


def location_parameters_as_object(components):
    of_type(components, "header")["parameters"] = {"a": 1}


def card_header_parameters_as_object(components):
    card_components(components, 1)[0]["parameters"] = {"x": 1}


def card_button_parameters_as_object(components):
    url = next(c for c in card_components(components, 0) if c.get("sub_type") == "url")
    url["parameters"] = {"k": 1}


def offer_button_parameters_as_object(components):
    next(c for c in components if c.get("sub_type") == "url")["parameters"] = {"a": 1}


def offer_body_parameters_as_text(components):
    of_type(components, "body")["parameters"] = "ab"


def offer_end_past_int64(components):
    of_type(components, "limited_time_offer")["parameters"][0]["limited_time_offer"]["expiration_time_ms"] = (
        10**400
    )


def offer_end_just_past_int64(components):
    of_type(components, "limited_time_offer")["parameters"][0]["limited_time_offer"]["expiration_time_ms"] = (
        2**63
    )


@pytest.mark.parametrize(
    "kind,change",
    [
        ("location", location_parameters_as_object),
        ("carousel", card_header_parameters_as_object),
        ("carousel", card_button_parameters_as_object),
        ("offer", offer_button_parameters_as_object),
        ("offer", offer_body_parameters_as_text),
        ("offer", offer_end_past_int64),
        ("offer", offer_end_just_past_int64),
    ],
)
def test_hostile_parameters_are_refused_with_131009(rich, kind, change):
    status, body = send(rich, kind, changed(kind, change))

    assert status == 400, body
    assert body["error"]["code"] == 131009, body


def test_the_largest_int64_offer_end_is_accepted(rich):
    components = components_for("offer")
    of_type(components, "limited_time_offer")["parameters"][0]["limited_time_offer"]["expiration_time_ms"] = (
        2**63 - 1
    )

    assert send(rich, "offer", components)[0] == 200


@pytest.mark.parametrize("index", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_a_button_index_that_is_no_whole_number_is_refused(rich, index):
    """Python's JSON reader accepts ``Infinity``; the sandbox answers it with Meta's 131009, not a 500."""
    example = KINDS["offer"][0]["body"]
    components = components_for("offer")
    next(c for c in components if c.get("sub_type") == "url")["index"] = "INDEX"
    payload = payloads.template_message_with_components(
        CUSTOMER, name=example["name"], language=example["language"], components=components
    )
    raw = json.dumps(payload).replace('"INDEX"', index)
    response = requests.post(
        f"{rich.url}/{VERSION}/{PHONE_NUMBER_ID}/messages",
        data=raw,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=5,
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == 131009
