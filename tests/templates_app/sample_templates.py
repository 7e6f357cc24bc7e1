"""Fresh copies of Meta ``components`` JSON for the template tests (each call returns new dicts)."""

from __future__ import annotations

from typing import Any

Components = list[dict[str, Any]]


def order_update() -> Components:
    """The positional MARKETING template of the issue: text header, body, footer, four buttons."""
    return [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["ORD-1"]}},
        {
            "type": "BODY",
            "text": "Hi {{1}}, your order {{2}} ships today.",
            "example": {"body_text": [["Pablo", "ORD-9271"]]},
        },
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop promotions"},
                {
                    "type": "URL",
                    "text": "Track",
                    "url": "https://shop.example/track/{{1}}",
                    "example": ["https://shop.example/track/ORD-1"],
                },
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+4930123456"},
                {"type": "COPY_CODE", "example": "SAVE20"},
            ],
        },
    ]


def named_welcome() -> Components:
    """A NAMED template: {{first_name}} in the header, two named variables in the body."""
    return [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Welcome {{first_name}}",
            "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]},
        },
        {
            "type": "BODY",
            "text": "Hello {{first_name}}, your order {{order_id}} is confirmed. Thank you!",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Pablo"},
                    {"param_name": "order_id", "example": "ORD-9271"},
                ]
            },
        },
    ]


def media_header(media_format: str = "IMAGE") -> Components:
    return [
        {"type": "HEADER", "format": media_format, "example": {"header_handle": ["4::aW1hZ2U=:ARb"]}},
        {"type": "BODY", "text": "Our new collection is here. Have a look!"},
    ]


def body_only(text: str = "Your appointment is confirmed. See you soon!") -> Components:
    return [{"type": "BODY", "text": text}]


def with_buttons(*buttons: dict[str, Any]) -> Components:
    return [*body_only(), {"type": "BUTTONS", "buttons": list(buttons)}]


def quick_reply(text: str = "Yes") -> dict[str, Any]:
    return {"type": "QUICK_REPLY", "text": text}


def url_button(url: str = "https://shop.example/track/{{1}}", **extra: Any) -> dict[str, Any]:
    button = {"type": "URL", "text": "Track", "url": url}
    if "{{" in url:
        button["example"] = [url.replace("{{1}}", "ORD-1")]
    return {**button, **extra}


def phone_button(number: str = "+4930123456") -> dict[str, Any]:
    return {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": number}


def copy_code_button(code: str = "SAVE20") -> dict[str, Any]:
    return {"type": "COPY_CODE", "example": code}


def authentication(
    otp_type: str = "COPY_CODE", *, minutes: int | None = 10, security: bool = True, **button_extra: Any
) -> Components:
    """An AUTHENTICATION template as docs/meta-facts.md 8.3 describes it."""
    components: Components = [{"type": "BODY", "add_security_recommendation": security}]
    if minutes is not None:
        components.append({"type": "FOOTER", "code_expiration_minutes": minutes})
    components.append({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": otp_type, **button_extra}]})
    return components


ANDROID_APP = {"package_name": "com.example.shop", "signature_hash": "K8a/AINcGX7"}
