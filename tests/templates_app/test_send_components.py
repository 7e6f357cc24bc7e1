"""build_send_components: exactly the send-time ``components`` of docs/meta-facts.md 1.3 and 8.3."""

from __future__ import annotations

import pytest

from core.errors import ApplicationError
from templates_app.parameters import build_send_components
from tests.templates_app.sample_templates import (
    ANDROID_APP,
    authentication,
    body_only,
    media_header,
    named_welcome,
    order_update,
)

OPT_OUT_PAYLOAD = "optout:marketing:7d1c2c9e-5b1a-4a8e-9a51-0c6f1e0d2b11"


def _build(components, parameters, parameter_format="POSITIONAL", quick_reply_payloads=None):
    return build_send_components(
        components=components,
        parameter_format=parameter_format,
        parameters=parameters,
        quick_reply_payloads=quick_reply_payloads,
    )


def test_positional_template_with_every_button_value():
    parameters = {
        "header": {"type": "text", "text": "ORD-9271"},
        "body": ["Pablo", "ORD-9271"],
        "buttons": {"1": "ORD-9271", "3": "SAVE20"},
    }

    sent = _build(order_update(), parameters, quick_reply_payloads={"0": OPT_OUT_PAYLOAD})

    assert sent == [
        {"type": "header", "parameters": [{"type": "text", "text": "ORD-9271"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "ORD-9271"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": OPT_OUT_PAYLOAD}],
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
            "index": "3",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}],
        },
    ]


def test_positional_values_follow_the_variable_numbers():
    components = [{"type": "BODY", "text": "Order {{2}} for {{1}} is ready."}]

    sent = _build(components, {"body": ["Ann", "ORD-7"]})

    assert sent == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "ORD-7"}]}
    ]


def test_named_template_sends_parameter_names():
    parameters = {
        "header": {"type": "text", "text": "Pablo"},
        "body": {"order_id": "ORD-9271", "first_name": "Pablo"},
    }

    sent = _build(named_welcome(), parameters, parameter_format="NAMED")

    assert sent == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Pablo"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Pablo"},
                {"type": "text", "parameter_name": "order_id", "text": "ORD-9271"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("media_format", "header", "expected"),
    [
        (
            "IMAGE",
            {"type": "image", "id": "1013859600285441"},
            {"type": "image", "image": {"id": "1013859600285441"}},
        ),
        (
            "IMAGE",
            {"type": "image", "link": "https://cdn.example/summer.png"},
            {"type": "image", "image": {"link": "https://cdn.example/summer.png"}},
        ),
        ("VIDEO", {"type": "video", "id": "42"}, {"type": "video", "video": {"id": "42"}}),
        (
            "DOCUMENT",
            {"type": "document", "link": "https://cdn.example/i.pdf", "filename": "invoice.pdf"},
            {
                "type": "document",
                "document": {"link": "https://cdn.example/i.pdf", "filename": "invoice.pdf"},
            },
        ),
    ],
)
def test_media_header_by_id_or_link(media_format, header, expected):
    sent = _build(media_header(media_format), {"header": header})

    assert sent == [{"type": "header", "parameters": [expected]}]


def test_quick_replies_without_payload_are_left_out():
    parameters = {
        "header": {"type": "text", "text": "A"},
        "body": ["A", "B"],
        "buttons": {"1": "A", "3": "B"},
    }

    sent = _build(order_update(), parameters)

    assert [component.get("sub_type") for component in sent] == [None, None, "url", "copy_code"]


def test_a_template_without_variables_sends_no_components():
    assert _build(body_only(), None) == []


def test_authentication_code_goes_in_the_body_and_the_button_url():
    for otp_type, extra in (("COPY_CODE", {}), ("ONE_TAP", {"supported_apps": [ANDROID_APP]})):
        sent = _build(authentication(otp_type, **extra), {"body": ["482913"]})

        assert sent == [
            {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "482913"}],
            },
        ]


def test_values_that_do_not_fit_are_refused_with_every_problem():
    with pytest.raises(ApplicationError) as refused:
        _build(order_update(), {"body": ["Ann"]})

    error = refused.value
    assert error.code == "template_parameters_invalid"
    assert error.field == "parameters"
    assert "2 variables but 1 value" in error.message
    assert len(error.details["problems"]) == 4  # header, body, URL suffix, coupon code


@pytest.mark.parametrize(
    ("payloads", "fragment"),
    [
        ({"1": OPT_OUT_PAYLOAD}, "button 2, which isn't a quick reply"),
        ({"9": OPT_OUT_PAYLOAD}, "button 10, which isn't a quick reply"),
        ({"0": ""}, "reply payload of button 1 is empty"),
    ],
)
def test_payloads_only_for_quick_replies(payloads, fragment):
    parameters = {
        "header": {"type": "text", "text": "A"},
        "body": ["A", "B"],
        "buttons": {"1": "A", "3": "B"},
    }

    with pytest.raises(ApplicationError) as refused:
        _build(order_update(), parameters, quick_reply_payloads=payloads)

    assert fragment in refused.value.message
