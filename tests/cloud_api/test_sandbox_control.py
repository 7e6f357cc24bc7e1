"""The control endpoints: a person writes first, Meta's signals, seeding, runtime knobs."""

import pytest
import requests

from cloud_api import payloads
from cloud_api.outcomes import Accepted
from tests.sandbox import (
    CUSTOMER,
    CUSTOMER_WA_ID,
    ORDER_UPDATE,
    control,
    seed_templates,
    wait_until,
)


@pytest.mark.parametrize(
    ("request_body", "message_type", "content"),
    [
        ({"kind": "text", "body": "Do you ship to Austria?"}, "text", {"body": "Do you ship to Austria?"}),
        ({"kind": "opt_in_code", "code": "JOIN-7F3K"}, "text", {"body": "JOIN-7F3K"}),
        (
            {"kind": "button", "payload": "optout:marketing:1", "text": "Stop"},
            "button",
            {"payload": "optout:marketing:1", "text": "Stop"},
        ),
        (
            {"kind": "list_reply", "id": "slot-2", "title": "Tue 10:00"},
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "slot-2", "title": "Tue 10:00"}},
        ),
        (
            {"kind": "location", "latitude": 48.1, "longitude": 11.6, "name": "Shop"},
            "location",
            {"latitude": 48.1, "longitude": 11.6, "name": "Shop"},
        ),
    ],
)
def test_a_person_writes_first(sandbox, webhook_receiver, request_body, message_type, content):
    wamid = control(sandbox, "inbound", {"from": CUSTOMER, "profile_name": "Sheena Nelson", **request_body})[
        "wamid"
    ]
    [message] = wait_until(lambda: webhook_receiver.inbound_messages())
    assert message["id"] == wamid
    assert message["from"] == CUSTOMER_WA_ID
    assert message["type"] == message_type
    assert message[message_type] == content
    value = webhook_receiver.values()[0]
    assert value["contacts"] == [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER_WA_ID}]


def test_media_and_reactions_from_a_person(sandbox, webhook_receiver):
    control(sandbox, "inbound", {"from": CUSTOMER, "kind": "image", "caption": "Broken on arrival"})
    control(
        sandbox, "inbound", {"from": CUSTOMER, "kind": "reaction", "message_id": "wamid.OURS", "emoji": "❤️"}
    )
    received = wait_until(lambda: len(m := webhook_receiver.inbound_messages()) == 2 and m)
    # Webhooks go out concurrently, as Meta's do: the two may arrive in either order.
    image, reaction = sorted(received, key=lambda message: message["type"] != "image")
    assert image["image"]["mime_type"] == "image/jpeg"
    assert image["image"]["caption"] == "Broken on arrival"
    assert {"id", "sha256"} <= set(image["image"])
    assert reaction["reaction"] == {"message_id": "wamid.OURS", "emoji": "❤️"}


def test_a_person_writing_opens_the_window_for_free_form_replies(sandbox, api):
    message = payloads.text_message(CUSTOMER, "Yes, we ship to Austria.")
    assert not isinstance(api.send(message), Accepted)
    control(sandbox, "inbound", {"from": CUSTOMER, "kind": "text", "body": "Do you ship to Austria?"})
    wait_until(lambda: isinstance(api.send(message), Accepted))


def test_unknown_kinds_are_refused(sandbox):
    response = requests.post(
        f"{sandbox.url}/_sandbox/inbound", json={"from": CUSTOMER, "kind": "fax"}, timeout=5
    )
    assert response.status_code == 400
    assert "fax" in response.json()["error"]


def test_user_preferences_stop(sandbox, webhook_receiver):
    control(sandbox, "user_preferences", {"wa_id": CUSTOMER, "value": "stop"})
    [value] = wait_until(lambda: webhook_receiver.values("user_preferences"))
    [preference] = value["user_preferences"]
    assert (preference["wa_id"], preference["category"], preference["value"]) == (
        CUSTOMER_WA_ID,
        "marketing_messages",
        "stop",
    )
    assert value["metadata"]["phone_number_id"]


def test_messaging_tier_change(sandbox, webhook_receiver):
    control(sandbox, "tier", {"tier": "TIER_2K"})
    [value] = wait_until(lambda: webhook_receiver.values("business_capability_update"))
    assert value == {"max_daily_conversations_per_business": "TIER_2K"}


def test_seeding_templates_and_changing_their_status(sandbox, webhook_receiver, api):
    [seeded] = seed_templates(sandbox, ORDER_UPDATE)
    assert seeded["status"] == "APPROVED"
    assert status_changes(webhook_receiver) == []  # seeding is silent unless asked
    control(
        sandbox,
        f"templates/{seeded['id']}/status",
        {"status": "PAUSED", "other_info": {"title": "FIRST_PAUSE"}},
    )
    [update] = wait_until(lambda: status_changes(webhook_receiver))
    assert (update["event"], update["other_info"]) == ("PAUSED", {"title": "FIRST_PAUSE"})
    outcome = api.send(payloads.template_message(CUSTOMER, name="order_update", language="en_US"))
    assert outcome.code == 132015


def status_changes(webhook_receiver):
    return webhook_receiver.values("message_template_status_update")


def test_runtime_config_refuses_unknown_and_fixed_settings(sandbox):
    assert control(sandbox, "config", {"reply_share": 0.5})["reply_share"] == 0.5
    for change in ({"no_such_knob": 1}, {"access_token": "x"}):
        response = requests.post(f"{sandbox.url}/_sandbox/config", json=change, timeout=5)
        assert response.status_code == 400
    assert "access_token" not in control(sandbox, "config")


def test_reset_forgets_messages_but_keeps_templates(sandbox, api):
    seed_templates(sandbox, ORDER_UPDATE)
    control(sandbox, "window", {"wa_id": CUSTOMER})
    api.send(payloads.text_message(CUSTOMER, "Hi"))
    control(sandbox, "reset", {})
    assert control(sandbox, "messages")["data"] == []
    assert len(control(sandbox, "templates")["data"]) == 1
