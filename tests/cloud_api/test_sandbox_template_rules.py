"""The sandbox refuses at creation what Meta refuses, and accepts Meta's own documentation examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from cloud_api.sandbox.state import SandboxTemplate
from cloud_api.sandbox.template_rules import review_verdict
from tests.sandbox import TOKEN, VERSION, WABA_ID, control, wait_until
from tests.templates_app import meta_examples

BODY = {"type": "BODY", "text": "Hi {{1}}, your table is booked.", "example": {"body_text": [["Jo"]]}}
QUICK_REPLY = {"type": "QUICK_REPLY", "text": "Yes"}
URL = {
    "type": "URL",
    "text": "Track",
    "url": "https://shop.example/track/{{1}}",
    "example": ["https://shop.example/track/A1"],
}
PHONE = {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "15550051310"}


def marketing(*buttons: dict[str, Any], extra: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    components = [*extra, BODY, {"type": "BUTTONS", "buttons": list(buttons)}]
    return {"name": "spring_sale", "language": "en", "category": "MARKETING", "components": components}


def authentication(minutes: Any) -> dict[str, Any]:
    components = copy.deepcopy(meta_examples.AUTHENTICATION_COPY_CODE["body"]["components"])
    components[1]["code_expiration_minutes"] = minutes
    return {"name": "login_code", "language": "en", "category": "AUTHENTICATION", "components": components}


def copy_code(length: int) -> dict[str, Any]:
    return {"type": "COPY_CODE", "example": "X" * length}


LIMITED_TIME_OFFER = {
    "type": "LIMITED_TIME_OFFER",
    "limited_time_offer": {"text": "Ends soon", "has_expiration": True},
}
OFFER_URL = {"type": "URL", "text": "Book", "url": "https://shop.example/offers"}


def create(sandbox, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = requests.post(
        f"{sandbox.url}/{VERSION}/{WABA_ID}/message_templates",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json=body,
        timeout=5,
    )
    return response.status_code, response.json()


def uploaded_handle(sandbox) -> str:
    """A sample's handle from the sandbox's Resumable Upload API, as a real client gets it first."""
    session = requests.post(
        f"{sandbox.url}/{VERSION}/1000000000000001/uploads",
        params={"file_name": "a.jpg", "file_length": 3, "file_type": "image/jpeg", "access_token": TOKEN},
        timeout=5,
    ).json()
    done = requests.post(
        f"{sandbox.url}/{VERSION}/{session['id']}",
        data=b"abc",
        headers={"Authorization": f"OAuth {TOKEN}", "file_offset": "0"},
        timeout=5,
    )
    return done.json()["h"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            marketing({**URL, "url": "https://shop.example/{{1}}/track"}), id="URL variable not at the end"
        ),
        pytest.param(marketing({**URL, "url": "https://shop.example/{{1}}/{{2}}"}), id="two URL variables"),
        pytest.param(marketing(QUICK_REPLY, URL, {**QUICK_REPLY, "text": "No"}), id="quick replies split"),
        pytest.param(marketing(URL, QUICK_REPLY, PHONE), id="a quick reply between others"),
        pytest.param(marketing(copy_code(16)), id="copy code over 15"),
        pytest.param(
            marketing(copy_code(16), OFFER_URL, extra=(LIMITED_TIME_OFFER,)), id="offer code over 15"
        ),
        pytest.param(
            {**marketing(QUICK_REPLY), "components": [{**BODY, "example": ["Jo"]}]},
            id="body example not an object",
        ),
        pytest.param(
            marketing(extra=({"type": "HEADER", "format": "IMAGE", "example": ["4::h"]},)),
            id="handle not in an object",
        ),
        pytest.param(authentication(0), id="expiry 0"),
        pytest.param(authentication(91), id="expiry 91"),
        pytest.param(authentication("10"), id="expiry as text"),
        pytest.param(authentication(True), id="expiry as boolean"),
    ],
)
def test_what_meta_refuses_is_refused_with_code_100(sandbox, body):
    status, answer = create(sandbox, body)

    assert status == 400
    assert answer["error"]["code"] == 100
    assert control(sandbox, "templates")["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            marketing(QUICK_REPLY, {**QUICK_REPLY, "text": "No"}, URL, PHONE), id="quick replies first"
        ),
        pytest.param(marketing(URL, PHONE, QUICK_REPLY), id="quick replies last"),
        pytest.param(marketing(copy_code(15)), id="copy code of 15"),
        pytest.param(marketing(copy_code(15), OFFER_URL, extra=(LIMITED_TIME_OFFER,)), id="offer code of 15"),
        pytest.param(authentication(1), id="expiry 1"),
        pytest.param(authentication(90), id="expiry 90"),
    ],
)
def test_the_limits_themselves_are_accepted(sandbox, body):
    assert create(sandbox, body)[0] == 200


@pytest.mark.parametrize("example", meta_examples.AUTHORED, ids=lambda example: example["body"]["name"])
def test_metas_documentation_examples_are_accepted(sandbox, example):
    body = meta_examples.with_handle(example, uploaded_handle(sandbox))

    status, answer = create(sandbox, body)

    assert status == 200, answer
    assert answer["category"] == example["body"]["category"].upper()
    [stored] = control(sandbox, "templates")["data"]
    assert stored["name"] == example["body"]["name"]


@pytest.mark.parametrize("broken", [b for b in meta_examples.BROKEN if b.sandbox], ids=repr)
def test_each_rule_of_metas_rich_kinds_is_refused_with_code_100(sandbox, broken):
    """The validator's broken variants (test_rules_meta_features), refused by the sandbox as by Meta."""
    body = meta_examples.with_handle({"body": broken.body}, uploaded_handle(sandbox))

    status, answer = create(sandbox, body)

    assert status == 400, broken
    assert answer["error"]["code"] == 100
    assert control(sandbox, "templates")["data"] == []


def test_a_location_header_is_accepted_in_marketing(sandbox):
    body = marketing(QUICK_REPLY, extra=({"type": "HEADER", "format": "LOCATION"},))

    assert create(sandbox, body)[0] == 200


def test_an_offer_without_expiration_may_leave_the_copy_code_out(sandbox):
    offer = {
        "type": "LIMITED_TIME_OFFER",
        "limited_time_offer": {"text": "Ends soon", "has_expiration": False},
    }

    assert create(sandbox, marketing(OFFER_URL, extra=(offer,)))[0] == 200


def test_the_review_reads_the_cards_too():
    """Adjacent variables on a card are rejected at review (INVALID_FORMAT), as in the body."""
    body = copy.deepcopy(meta_examples.MEDIA_CARD_CAROUSEL["body"])
    for card in body["components"][1]["cards"]:
        card["components"].insert(
            1, {"type": "body", "text": "Use {{1}}{{2}} today.", "example": {"body_text": [["A", "B"]]}}
        )
    template = SandboxTemplate(
        id="1", name=body["name"], language="en_US", category="MARKETING", components=body["components"]
    )

    assert review_verdict(template, "", "")[:2] == ("REJECTED", "INVALID_FORMAT")
    assert review_verdict(template, "more like", "ABUSIVE_CONTENT")[:2] == ("REJECTED", "ABUSIVE_CONTENT")


# --- Hostile creation JSON and Meta's lower-case examples (review 15, S5) -----------------------


def with_stray(example: dict[str, Any], position: int, key: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(example["body"])
    body["components"][position][key] = value
    return body


@pytest.mark.parametrize("key", ["cards", "buttons", "components"])
def test_a_stray_key_on_a_body_still_ends_its_review(sandbox, key):
    """A BODY with ``"cards": 1`` passes creation (Meta ignores the key); its review still ends, so
    the template is not PENDING for ever."""
    body = with_stray(meta_examples.ORDER_DELIVERY_UPDATE, 1, key, 1)

    status, answer = create(sandbox, body)

    assert status == 200, answer
    assert wait_until(lambda: control(sandbox, "templates")["data"][0]["status"] == "APPROVED")


@pytest.mark.parametrize("key", ["cards", "buttons"])
@pytest.mark.parametrize("value", [1, "x", {"a": 1}, [1]])
def test_the_review_verdict_reads_stray_parts_as_nothing(key, value):
    body = with_stray(meta_examples.ORDER_DELIVERY_UPDATE, 1, key, value)
    template = SandboxTemplate(
        id="1", name=body["name"], language="en_US", category="UTILITY", components=body["components"]
    )

    assert review_verdict(template, "", "")[0] == "APPROVED"


@pytest.mark.parametrize("buttons", [1, "x", {"type": "URL"}, [1], [QUICK_REPLY, None], None])
def test_a_buttons_component_without_a_list_of_buttons_is_refused_with_code_100(sandbox, buttons):
    body = marketing(QUICK_REPLY)
    body["components"][-1]["buttons"] = buttons

    status, answer = create(sandbox, body)

    assert status == 400, answer
    assert answer["error"]["code"] == 100
    assert control(sandbox, "templates")["data"] == []


@pytest.mark.parametrize("example", meta_examples.AUTHORED, ids=lambda example: example["body"]["name"])
def test_the_control_endpoint_seeds_metas_examples_as_written(sandbox, example):
    """Meta writes ``"category": "marketing"``; the control endpoint upper-cases it, as the Graph one."""
    body = meta_examples.with_handle(example, "4::aW1hZ2U=:seed")
    body["category"] = body["category"].lower()

    [stored] = control(sandbox, "templates", {"templates": [body]})["data"]

    assert stored["category"] == example["body"]["category"].upper()
    assert stored["status"] == "APPROVED"


def test_an_edit_with_a_lower_case_category_keeps_it_upper_case(sandbox):
    [seeded] = control(
        sandbox, "templates", {"templates": [{**marketing(QUICK_REPLY), "status": "REJECTED"}]}
    )["data"]

    response = requests.post(
        f"{sandbox.url}/{VERSION}/{seeded['id']}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"category": "marketing"},
        timeout=5,
    )

    assert response.status_code == 200, response.text
    assert control(sandbox, "templates")["data"][0]["category"] == "MARKETING"
