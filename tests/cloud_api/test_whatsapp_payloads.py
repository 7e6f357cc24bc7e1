"""Each builder produces exactly the JSON of docs/meta-facts.md (sections 1.3, 1.4 and 8.1)."""

import pytest

from cloud_api import payloads
from cloud_api.payloads import (
    CopyCodeButton,
    ListRow,
    ListSection,
    MediaHeader,
    MediaRef,
    QuickReplyButton,
    ReplyButton,
    TextHeader,
    UrlButton,
)
from core.errors import ApplicationError


def test_template_message_matches_the_fact_sheet_example():
    payload = payloads.template_message(
        "+16505551234",
        name="order_update",
        language="en_US",
        header=MediaHeader("image", MediaRef(media_id="1013859600285441")),
        body=["Pablo", "ORD-9271"],
        buttons=[
            UrlButton(1, "ORD-9271"),
            QuickReplyButton(0, "optout:camp42"),
            CopyCodeButton(2, "SAVE20"),
        ],
    )
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "1013859600285441"}}]},
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "ORD-9271"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "optout:camp42"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "1",
                    "parameters": [{"type": "text", "text": "ORD-9271"}],
                },
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": "2",
                    "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}],
                },
            ],
        },
    }


def test_named_template_parameters_carry_their_names():
    payload = payloads.template_message(
        "+4915112345678",
        name="welcome",
        language="de",
        header=TextHeader("Jo", parameter_name="first_name"),
        body={"first_name": "Jo", "code": "X1"},
        biz_opaque_callback_data="msg-uuid",
    )
    assert payload["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Jo", "parameter_name": "first_name"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Jo", "parameter_name": "first_name"},
                {"type": "text", "text": "X1", "parameter_name": "code"},
            ],
        },
    ]
    assert payload["biz_opaque_callback_data"] == "msg-uuid"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            MediaHeader("video", MediaRef(link="https://cdn.example/v.mp4")),
            {"type": "video", "video": {"link": "https://cdn.example/v.mp4"}},
        ),
        (
            MediaHeader("document", MediaRef(media_id="77"), filename="invoice.pdf"),
            {"type": "document", "document": {"id": "77", "filename": "invoice.pdf"}},
        ),
        (TextHeader("Spring sale"), {"type": "text", "text": "Spring sale"}),
    ],
)
def test_template_headers_by_id_or_link(header, expected):
    payload = payloads.template_message("+1", name="t", language="en", header=header)
    assert payload["template"]["components"] == [{"type": "header", "parameters": [expected]}]


def test_a_template_without_parameters_sends_no_components():
    payload = payloads.template_message("+16505551234", name="hello_world", language="en_US")
    assert payload["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_text_message():
    assert payloads.text_message("+16505551234", "Hi https://x.example", preview_url=True) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": {"preview_url": True, "body": "Hi https://x.example"},
    }


def test_reply_and_callback_data_are_top_level():
    payload = payloads.text_message("+1555", "ok", reply_to="wamid.IN", biz_opaque_callback_data="cb")
    assert payload["context"] == {"message_id": "wamid.IN"}
    assert payload["biz_opaque_callback_data"] == "cb"


def test_media_messages():
    image = payloads.media_message("+1555", "image", MediaRef(media_id="123"), caption="Look")
    assert image["type"] == "image"
    assert image["image"] == {"id": "123", "caption": "Look"}
    document = payloads.media_message("+1555", "document", MediaRef(link="https://x/a.pdf"), filename="a.pdf")
    assert document["document"] == {"link": "https://x/a.pdf", "filename": "a.pdf"}


def test_reply_buttons_message_matches_the_fact_sheet():
    payload = payloads.reply_buttons_message(
        "+1555",
        "Change your appointment?",
        [ReplyButton("change-button", "Change"), ReplyButton("keep-button", "Keep")],
        header="Appointment",
        footer="Dr. Who's practice",
    )
    assert payload["type"] == "interactive"
    assert payload["interactive"] == {
        "type": "button",
        "header": {"type": "text", "text": "Appointment"},
        "body": {"text": "Change your appointment?"},
        "footer": {"text": "Dr. Who's practice"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "change-button", "title": "Change"}},
                {"type": "reply", "reply": {"id": "keep-button", "title": "Keep"}},
            ]
        },
    }


def test_list_message_matches_the_fact_sheet():
    payload = payloads.list_message(
        "+1555",
        "Choose a shipping option",
        button="Shipping Options",
        sections=[ListSection("Express", [ListRow("priority_express", "Priority Mail Express", "Next day")])],
        header="Shipping",
        footer="Prices include tax",
    )
    assert payload["interactive"] == {
        "type": "list",
        "header": {"type": "text", "text": "Shipping"},
        "body": {"text": "Choose a shipping option"},
        "footer": {"text": "Prices include tax"},
        "action": {
            "button": "Shipping Options",
            "sections": [
                {
                    "title": "Express",
                    "rows": [
                        {
                            "id": "priority_express",
                            "title": "Priority Mail Express",
                            "description": "Next day",
                        }
                    ],
                }
            ],
        },
    }


def test_mark_read_matches_the_addendum():
    assert payloads.mark_read("wamid.IN") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
    }
    assert payloads.mark_read("wamid.IN", typing_indicator=True)["typing_indicator"] == {"type": "text"}


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: payloads.text_message("+1", "x" * 4097), "body"),
        (
            lambda: payloads.reply_buttons_message(
                "+1", "b", [ReplyButton(str(i), f"t{i}") for i in range(4)]
            ),
            "buttons",
        ),
        (
            lambda: payloads.reply_buttons_message(
                "+1", "b", [ReplyButton("a", "Same"), ReplyButton("b", "Same")]
            ),
            "buttons",
        ),
        (lambda: payloads.reply_buttons_message("+1", "b", [ReplyButton("a", "x" * 21)]), "button title"),
        (
            lambda: payloads.list_message(
                "+1", "b", button="B", sections=[ListSection("s", [ListRow(str(i), "r") for i in range(11)])]
            ),
            "sections",
        ),
        (lambda: payloads.media_message("+1", "audio", MediaRef(media_id="1"), caption="no"), "caption"),
        (lambda: MediaRef(media_id="1", link="https://x"), "media"),
        (
            lambda: payloads.template_message(
                "+1", name="t", language="en", buttons=[QuickReplyButton(0, "a"), UrlButton(0, "b")]
            ),
            "buttons",
        ),
        (lambda: payloads.text_message("", "hi"), "to"),
    ],
)
def test_limits_are_refused_before_anything_is_sent(build, field):
    with pytest.raises(ApplicationError) as refused:
        build()
    assert refused.value.code == payloads.PAYLOAD_INVALID
    assert refused.value.field == field
