"""The sandbox validates sends as Meta does, and answers with a wamid or Meta's error body."""

import pytest
import requests

from cloud_api import payloads
from cloud_api.payloads import (
    CopyCodeButton,
    MediaHeader,
    MediaRef,
    QuickReplyButton,
    TextHeader,
    UrlButton,
)
from tests.sandbox import (
    CUSTOMER,
    CUSTOMER_WA_ID,
    ORDER_UPDATE,
    PHONE_NUMBER_ID,
    TOKEN,
    VERSION,
    WELCOME_NAMED,
    control,
    seed_templates,
    wait_until,
)


def post(sandbox, payload, *, token=TOKEN, node=PHONE_NUMBER_ID):
    response = requests.post(
        f"{sandbox.url}/{VERSION}/{node}/messages",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    return response.status_code, response.json()


def code_of(answer):
    status, body = answer
    assert status >= 400, body
    error = body["error"]
    assert error["message"].startswith(f"(#{error['code']}) ")
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return error["code"]


def order_update(**overrides):
    arguments = {
        "name": "order_update",
        "language": "en_US",
        "header": MediaHeader("image", MediaRef(media_id="1013859600285441")),
        "body": ["Pablo", "ORD-9271"],
        "buttons": [
            QuickReplyButton(0, "optout:camp42"),
            UrlButton(1, "ORD-9271"),
            CopyCodeButton(2, "SAVE20"),
        ],
        **overrides,
    }
    return payloads.template_message(CUSTOMER, **arguments)


def test_accepted_answer_has_meta_shape(sandbox):
    seed_templates(sandbox, ORDER_UPDATE)
    status, body = post(sandbox, order_update())
    assert status == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": CUSTOMER, "wa_id": CUSTOMER_WA_ID}]
    assert body["messages"][0]["id"].startswith("wamid.")


def test_a_number_without_plus_gets_the_business_country_code(sandbox):
    control(sandbox, "window", {"wa_id": "14155550123"})
    status, body = post(sandbox, payloads.text_message("(415) 555-0123", "Hi"))
    assert status == 200
    assert body["contacts"][0]["wa_id"] == "14155550123"


def test_a_bad_token_is_190(sandbox):
    assert code_of(post(sandbox, order_update(), token="wrong")) == 190


def test_another_phone_number_id_is_100_with_subcode_33(sandbox):
    status, body = post(sandbox, order_update(), node="999")
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 33)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda p: p.pop("messaging_product"), 131008),
        (lambda p: p.update(messaging_product="sms"), 100),
        (lambda p: p.pop("to"), 131008),
        (lambda p: p.update(to="+12"), 131009),
        (lambda p: p.update(to="+15550783881"), 131021),
        (lambda p: p.update(type="fax", fax={}), 100),
        (lambda p: p.pop("template"), 131008),
        (lambda p: p["template"].pop("language"), 131008),
    ],
)
def test_envelope_refusals(sandbox, change, code):
    seed_templates(sandbox, ORDER_UPDATE)
    payload = order_update()
    change(payload)
    assert code_of(post(sandbox, payload)) == code


@pytest.mark.parametrize(
    ("status", "code"),
    [(None, 132001), ("PENDING", 132001), ("REJECTED", 132001), ("PAUSED", 132015), ("DISABLED", 132016)],
)
def test_only_approved_templates_are_sent(make_sandbox, status, code):
    sandbox = make_sandbox(review_delay=60)  # a PENDING template stays pending
    if status:
        seed_templates(sandbox, ORDER_UPDATE, status=status)
    assert code_of(post(sandbox, order_update())) == code


def test_a_template_in_another_language_is_132001(sandbox):
    seed_templates(sandbox, ORDER_UPDATE)
    assert code_of(post(sandbox, order_update(language="de"))) == 132001


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"body": ["Pablo"]}, 132000),
        ({"body": ["Pablo", "ORD", "extra"]}, 132000),
        ({"header": None}, 132000),
        ({"header": MediaHeader("video", MediaRef(media_id="1"))}, 132012),
        ({"header": TextHeader("text instead of image")}, 132012),
        ({"buttons": [QuickReplyButton(0, "x"), CopyCodeButton(2, "SAVE20")]}, 132000),
        ({"buttons": [UrlButton(0, "x"), UrlButton(1, "a"), CopyCodeButton(2, "S")]}, 132012),
        ({"buttons": [UrlButton(1, "a"), CopyCodeButton(2, "S"), QuickReplyButton(7, "x")]}, 131009),
        ({"body": ["Pablo", "   "]}, 131008),
    ],
)
def test_parameters_must_match_the_template_in_number_and_kind(sandbox, overrides, code):
    seed_templates(sandbox, ORDER_UPDATE)
    assert code_of(post(sandbox, order_update(**overrides))) == code


def test_quick_reply_payloads_are_optional(sandbox):
    seed_templates(sandbox, ORDER_UPDATE)
    status, _ = post(sandbox, order_update(buttons=[UrlButton(1, "ORD-9271"), CopyCodeButton(2, "SAVE20")]))
    assert status == 200


def test_named_parameters_must_carry_the_template_names(sandbox):
    seed_templates(sandbox, WELCOME_NAMED)
    good = payloads.template_message(
        CUSTOMER,
        name="welcome_named",
        language="de",
        header=TextHeader("Jo", parameter_name="first_name"),
        body={"first_name": "Jo", "code": "X1"},
    )
    assert post(sandbox, good)[0] == 200
    wrong = payloads.template_message(
        CUSTOMER,
        name="welcome_named",
        language="de",
        header=TextHeader("Jo", parameter_name="first_name"),
        body={"first_name": "Jo", "coupon": "X1"},
    )
    assert code_of(post(sandbox, wrong)) == 132000


def test_free_form_only_inside_the_window(sandbox):
    message = payloads.text_message(CUSTOMER, "Your parcel is late, sorry!")
    assert code_of(post(sandbox, message)) == 131047
    control(sandbox, "inbound", {"from": CUSTOMER, "kind": "text", "body": "Where is my parcel?"})
    wait_until(lambda: post(sandbox, message)[0] == 200)
    control(sandbox, "window", {"wa_id": CUSTOMER, "open": False})
    assert code_of(post(sandbox, message)) == 131047


def test_free_form_outside_the_window_can_fail_by_webhook_instead(make_sandbox, webhook_receiver):
    sandbox = make_sandbox(window_refusal="webhook")
    status, body = post(sandbox, payloads.text_message(CUSTOMER, "Hello"))
    assert status == 200
    wamid = body["messages"][0]["id"]
    [failed] = wait_until(lambda: webhook_receiver.statuses_of(wamid))
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047


@pytest.mark.parametrize(
    "build",
    [
        lambda: payloads.media_message(CUSTOMER, "image", MediaRef(media_id="1")),
        lambda: payloads.reply_buttons_message(CUSTOMER, "Pick", [payloads.ReplyButton("a", "A")]),
        lambda: payloads.list_message(
            CUSTOMER,
            "Pick",
            button="Options",
            sections=[payloads.ListSection("S", [payloads.ListRow("r", "R")])],
        ),
    ],
)
def test_service_messages_are_accepted_inside_the_window(sandbox, build):
    control(sandbox, "window", {"wa_id": CUSTOMER})
    assert post(sandbox, build())[0] == 200


def test_a_throughput_cap_answers_130429(make_sandbox):
    sandbox = make_sandbox(max_mps=3)
    seed_templates(sandbox, ORDER_UPDATE)
    codes = [post(sandbox, order_update()) for _ in range(10)]  # 10 > 3 + 3, even across a second
    refused = [body["error"]["code"] for status, body in codes if status != 200]
    assert refused and set(refused) == {130429}


def test_refusals_are_listed_for_tests(sandbox):
    post(sandbox, order_update(biz_opaque_callback_data="m-1"))
    [refusal] = control(sandbox, "refusals")["data"]
    assert (refusal["code"], refusal["biz_opaque_callback_data"]) == (132001, "m-1")
