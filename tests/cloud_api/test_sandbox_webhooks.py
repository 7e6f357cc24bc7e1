"""The sandbox's webhooks: signed, Meta-shaped, batched, duplicated, reordered, retried."""

import time

import requests

from cloud_api import payloads
from cloud_api.outcomes import Accepted
from cloud_api.payloads import CopyCodeButton, MediaHeader, MediaRef, QuickReplyButton, UrlButton
from cloud_api.sandbox.server import BackgroundSandbox
from cloud_api.signatures import SIGNATURE_HEADER, verify_signature
from tests.sandbox import (
    APP_SECRET,
    CUSTOMER,
    CUSTOMER_WA_ID,
    ORDER_UPDATE,
    PHONE_NUMBER_ID,
    WABA_ID,
    client_for,
    control,
    sandbox_config,
    seed_templates,
    wait_until,
)

PROMO = {
    "name": "spring_promo",
    "language": "en",
    "category": "MARKETING",
    "components": [
        {"type": "BODY", "text": "Hello {{1}}, spring sale today.", "example": {"body_text": [["Jo"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
    ],
}


def order_update(to=CUSTOMER, opaque="message-1"):
    return payloads.template_message(
        to,
        name="order_update",
        language="en_US",
        header=MediaHeader("image", MediaRef(media_id="1")),
        body=["Pablo", "ORD-1"],
        buttons=[QuickReplyButton(0, "optout:marketing:1"), UrlButton(1, "ORD-1"), CopyCodeButton(2, "S")],
        biz_opaque_callback_data=opaque,
    )


def promo(to=CUSTOMER, payload="optout:marketing:7"):
    return payloads.template_message(
        to, name="spring_promo", language="en", body=["Jo"], buttons=[QuickReplyButton(0, payload)]
    )


def test_webhooks_are_signed_with_our_secret_and_fail_with_another(sandbox, api, webhook_receiver):
    seed_templates(sandbox, ORDER_UPDATE)
    api.send(order_update())
    wait_until(lambda: webhook_receiver.requests)
    for headers, body in webhook_receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert verify_signature(body, headers[SIGNATURE_HEADER], [APP_SECRET])
        assert not verify_signature(body, headers[SIGNATURE_HEADER], ["another-secret"])


def test_sent_delivered_read_with_pricing_and_callback_data(sandbox, api, webhook_receiver):
    seed_templates(sandbox, ORDER_UPDATE)
    before = int(time.time())
    outcome = api.send(order_update(opaque="message-42"))
    statuses = wait_until(lambda: len(s := webhook_receiver.statuses_of(outcome.wamid)) == 3 and s)
    by_status = {s["status"]: s for s in statuses}
    assert set(by_status) == {"sent", "delivered", "read"}
    for status in statuses:
        assert status["recipient_id"] == CUSTOMER_WA_ID
        assert status["biz_opaque_callback_data"] == "message-42"
        assert before <= int(status["timestamp"]) <= time.time() + 1
    expected_pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    assert by_status["sent"]["pricing"] == expected_pricing
    assert by_status["delivered"]["pricing"] == expected_pricing
    assert "pricing" not in by_status["read"]
    body = webhook_receiver.bodies()[0]
    assert body["object"] == "whatsapp_business_account"
    assert body["entry"][0]["id"] == WABA_ID
    value = body["entry"][0]["changes"][0]["value"]
    assert value["metadata"] == {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID}


def test_service_messages_inside_the_window_are_free(sandbox, api, webhook_receiver):
    control(sandbox, "window", {"wa_id": CUSTOMER})
    outcome = api.send(payloads.text_message(CUSTOMER, "Here you go"))
    [sent] = wait_until(
        lambda: [s for s in webhook_receiver.statuses_of(outcome.wamid) if s["status"] == "sent"]
    )
    assert sent["pricing"] == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }


def test_statuses_due_together_are_batched_in_one_post(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(sent_delay=0.3, delivered_delay=0.3, read_share=0.0, webhook_batch_window=0.5)
    seed_templates(sandbox, ORDER_UPDATE)
    api = client_for(sandbox.url)
    wamids = {api.send(order_update(to=f"+49151000000{i:02d}")).wamid for i in range(10)}
    wait_until(lambda: {s["id"] for v in webhook_receiver.values() for s in v["statuses"]} == wamids)
    largest = max(len(v["statuses"]) for v in webhook_receiver.values())
    assert largest >= 5  # 20 statuses, due within half a second of each other
    assert len(webhook_receiver.requests) <= 10


def test_duplicated_webhooks(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(duplicate_rate=1.0, read_share=0.0)
    seed_templates(sandbox, ORDER_UPDATE)
    outcome = client_for(sandbox.url).send(order_update())
    statuses = wait_until(lambda: len(s := webhook_receiver.statuses_of(outcome.wamid)) == 4 and s)
    assert sorted(s["status"] for s in statuses) == ["delivered", "delivered", "sent", "sent"]


def test_reordered_webhooks_deliver_sent_last(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(
        reorder_rate=1.0, sent_delay=0.01, delivered_delay=0.05, read_delay=0.1, webhook_batch_window=0.0
    )
    seed_templates(sandbox, ORDER_UPDATE)
    outcome = client_for(sandbox.url).send(order_update())
    statuses = wait_until(lambda: len(s := webhook_receiver.statuses_of(outcome.wamid)) == 3 and s)
    assert [s["status"] for s in statuses] == ["delivered", "read", "sent"]


def test_a_refused_webhook_is_retried_with_the_same_signed_body(sandbox, api, webhook_receiver):
    webhook_receiver.statuses.extend([500, 503])
    control(sandbox, "config", {"read_share": 0.0, "sent_delay": 0.01, "delivered_delay": 0.5})
    seed_templates(sandbox, ORDER_UPDATE)
    api.send(order_update())
    wait_until(lambda: len(webhook_receiver.requests) >= 3)
    first, second, third = (body for _, body in webhook_receiver.requests[:3])
    assert first == second == third
    attempts = control(sandbox, "webhooks")["attempts"]
    assert [a["status"] for a in attempts[:3]] == [500, 503, 200]
    assert [a["attempt"] for a in attempts[:3]] == [1, 2, 3]


def test_an_absent_receiver_does_not_slow_sends(webhook_receiver):
    with BackgroundSandbox(sandbox_config(webhook_url="http://127.0.0.1:9/nothing-here/")) as sandbox:
        seed_templates(sandbox, ORDER_UPDATE)
        api = client_for(sandbox.url)
        started = time.monotonic()
        outcomes = [api.send(order_update(to=f"+49151000001{i:02d}")) for i in range(20)]
        assert all(isinstance(o, Accepted) for o in outcomes)
        assert time.monotonic() - started < 2
        attempts = wait_until(lambda: control(sandbox, "webhooks")["attempts"])
        assert attempts[0]["status"] is None and "Connect" in attempts[0]["error"]
        assert control(sandbox, "webhooks")["pending"] > 0


def test_numbers_with_chosen_endings_fail_delivery(sandbox, api, webhook_receiver):
    seed_templates(sandbox, ORDER_UPDATE, PROMO)
    not_on_whatsapp = api.send(order_update(to="+4915100000026"))
    blocked_promo = api.send(promo(to="+4915100000049"))
    stopped_promo = api.send(promo(to="+4915100000050"))
    utility_to_stopped = api.send(order_update(to="+4915100000050"))
    for outcome, code in ((not_on_whatsapp, 131026), (blocked_promo, 131049), (stopped_promo, 131050)):
        [failed] = wait_until(lambda o=outcome: webhook_receiver.statuses_of(o.wamid))
        assert failed["status"] == "failed"
        assert failed["errors"][0]["code"] == code
        assert failed["errors"][0]["error_data"]["details"]
    # 131049 and 131050 stop marketing only: a utility template to the same person is delivered.
    wait_until(
        lambda: "read" in {s["status"] for s in webhook_receiver.statuses_of(utility_to_stopped.wamid)}
    )


def test_people_reply_by_pressing_the_quick_reply_they_were_sent(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(reply_share=1.0, reply_mix={"button": 1.0})
    seed_templates(sandbox, PROMO)
    outcome = client_for(sandbox.url).send(promo(payload="optout:marketing:77"))
    [press] = wait_until(lambda: webhook_receiver.inbound_messages())
    assert press["type"] == "button"
    assert press["button"] == {"payload": "optout:marketing:77", "text": "Stop promotions"}
    assert press["context"] == {"from": "15550783881", "id": outcome.wamid}
    assert press["from"] == CUSTOMER_WA_ID
    value = next(v for v in webhook_receiver.values() if v.get("messages"))
    assert value["contacts"][0]["wa_id"] == CUSTOMER_WA_ID
    # The reply opened the window: a free-form answer is accepted now.
    wait_until(
        lambda: isinstance(client_for(sandbox.url).send(payloads.text_message(CUSTOMER, "Done")), Accepted)
    )


def test_people_reply_stop_or_text(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(reply_share=1.0, reply_mix={"stop": 1.0})
    seed_templates(sandbox, PROMO)
    client_for(sandbox.url).send(promo())
    [stop] = wait_until(lambda: webhook_receiver.inbound_messages())
    assert stop["text"] == {"body": "STOP"}


def test_interactive_buttons_are_answered_with_button_replies(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(reply_share=1.0, reply_mix={"button": 1.0})
    control(sandbox, "window", {"wa_id": CUSTOMER})
    message = payloads.reply_buttons_message(
        CUSTOMER, "Keep the date?", [payloads.ReplyButton("keep", "Keep")]
    )
    client_for(sandbox.url).send(message)
    [reply] = wait_until(lambda: webhook_receiver.inbound_messages())
    assert reply["interactive"] == {"type": "button_reply", "button_reply": {"id": "keep", "title": "Keep"}}


def test_the_delivery_log_is_inspectable(sandbox, api, webhook_receiver):
    seed_templates(sandbox, ORDER_UPDATE)
    api.send(order_update())
    wait_until(lambda: control(sandbox, "webhooks")["delivered_bodies"] >= 1)
    response = requests.get(f"{sandbox.url}/_sandbox/health", timeout=5).json()
    assert response["ok"] is True
