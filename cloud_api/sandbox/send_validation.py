"""What ``POST /<phone-number-id>/messages`` refuses, with the code Meta uses for it.

Checked in Meta's order of concern: the envelope (``messaging_product``, ``to``, ``type``), then
the content of the type, then the template (exists in that language and APPROVED, parameters
match) or, for free-form messages, the 24-hour customer service window.
"""

from __future__ import annotations

from typing import Any

import phonenumbers

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.people import AcceptedSend
from cloud_api.sandbox.state import SandboxState, digits, new_wamid
from cloud_api.sandbox.template_rules import check_send_components

MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")
FREE_FORM_TYPES = (*MEDIA_TYPES, "text", "interactive", "location", "contacts", "reaction")
TEMPLATE_REFUSALS = {"PAUSED": 132015, "DISABLED": 132016}


def _business_country_code(display_phone_number: str) -> str:
    try:
        return str(phonenumbers.parse("+" + digits(display_phone_number)).country_code)
    except phonenumbers.NumberParseException:
        return ""


def recipient_wa_id(to: str, display_phone_number: str) -> str:
    """Meta's reading of ``to``: without ``+``, the business number's country code is prepended."""
    number = digits(to)
    if not to.strip().startswith("+"):
        number = _business_country_code(display_phone_number) + number
    return number


def _require(content: dict[str, Any], key: str, where: str) -> Any:
    value = content.get(key)
    if value in (None, "", [], {}):
        raise GraphError(131008, f"Required parameter is missing: {where}.{key}")
    return value


def _check_media(kind: str, content: dict[str, Any]) -> None:
    if not (content.get("id") or content.get("link")):
        raise GraphError(131008, f"Required parameter is missing: {kind}.id or {kind}.link")
    if len(str(content.get("caption", ""))) > 1024:
        raise GraphError(131009, f"{kind}.caption is longer than 1024 characters.")


def _check_interactive(content: dict[str, Any]) -> None:
    kind = _require(content, "type", "interactive")
    body = _require(content, "body", "interactive")
    action = _require(content, "action", "interactive")
    if not isinstance(body, dict) or not body.get("text"):
        raise GraphError(131008, "Required parameter is missing: interactive.body.text")
    if kind == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise GraphError(131009, "interactive.action.buttons: 1 to 3 buttons.")
        titles = [b.get("reply", {}).get("title", "") for b in buttons]
        if len(set(titles)) != len(titles) or any(not t or len(t) > 20 for t in titles):
            raise GraphError(131009, "interactive.action.buttons: titles are unique, 1 to 20 characters.")
    elif kind == "list":
        sections = action.get("sections") or []
        rows = [row for section in sections for row in section.get("rows", [])]
        if not 1 <= len(sections) <= 10 or not 1 <= len(rows) <= 10:
            raise GraphError(131009, "interactive.action.sections: 1 to 10 sections and 1 to 10 rows in all.")
        if not action.get("button"):
            raise GraphError(131008, "Required parameter is missing: interactive.action.button")
    elif kind not in (
        "cta_url",
        "flow",
        "location_request_message",
        "address_message",
        "product",
        "product_list",
    ):
        raise GraphError(131009, f"interactive.type {kind!r} is not supported.")


def validate_send(
    payload: dict[str, Any], state: SandboxState, config: SandboxConfig, now: float
) -> AcceptedSend:
    """The accepted send, or a GraphError carrying Meta's code for what is wrong."""
    if "messaging_product" not in payload:
        raise GraphError(131008, "Required parameter is missing: messaging_product")
    if payload["messaging_product"] != "whatsapp":
        raise GraphError(100, "messaging_product must be 'whatsapp'.")
    if payload.get("recipient_type", "individual") != "individual":
        raise GraphError(100, "recipient_type must be 'individual' on this number.")
    to = payload.get("to")
    if not to or not isinstance(to, str):
        raise GraphError(131008, "Required parameter is missing: to")
    wa_id = recipient_wa_id(to, config.display_phone_number)
    if not 7 <= len(wa_id) <= 15:
        raise GraphError(131009, f"'to' is not a valid phone number: {to!r}")
    if wa_id == digits(config.display_phone_number):
        raise GraphError(131021, "Recipient cannot be sender.")
    message_type = payload.get("type", "text")
    if message_type != "template" and message_type not in FREE_FORM_TYPES:
        raise GraphError(100, f"Param type must be one of template, {', '.join(FREE_FORM_TYPES)}.")
    content = payload.get(message_type)
    if not isinstance(content, dict) and message_type != "contacts":
        raise GraphError(131008, f"Required parameter is missing: {message_type}")

    window_open = state.window_open(wa_id, now, config.window_seconds)
    if message_type == "template":
        name = _require(content, "name", "template")
        language = (
            (content.get("language") or {}).get("code") if isinstance(content.get("language"), dict) else None
        )
        if not language:
            raise GraphError(131008, "Required parameter is missing: template.language.code")
        template = state.find_template(name, language)
        if template is None or template.status != "APPROVED":
            status = template.status if template else None
            code = TEMPLATE_REFUSALS.get(status or "", 132001)
            raise GraphError(
                code, f"Template name {name!r} is not approved in {language!r} (status: {status})."
            )
        check_send_components(template, content.get("components"))
        return AcceptedSend(new_wamid(), wa_id, payload, template, window_open)

    if message_type == "text":
        body = _require(content, "body", "text")
        if len(str(body)) > 4096:
            raise GraphError(131009, "text.body is longer than 4096 characters.")
    elif message_type in MEDIA_TYPES:
        _check_media(message_type, content)
    elif message_type == "interactive":
        _check_interactive(content)
    elif message_type == "reaction":
        _require(content, "message_id", "reaction")
    elif message_type == "location":
        _require(content, "latitude", "location")
        _require(content, "longitude", "location")
    if not window_open:
        if config.window_refusal == "sync":
            raise GraphError(
                131047,
                "Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number.",
            )
        return AcceptedSend(new_wamid(), wa_id, payload, None, window_open, failure_code=131047)
    return AcceptedSend(new_wamid(), wa_id, payload, None, window_open)
