"""What ``POST /<phone-number-id>/messages`` refuses, with the code Meta uses for it.

Checked in Meta's order of concern: the envelope (``messaging_product``, ``to``, ``type``, a
reply's ``context``), then the content of the type, then the template (exists in that language and
APPROVED, parameters match) or, for free-form messages, the 24-hour customer service window. What
Meta finds out only after it answered (media it cannot use) fails in a ``failed`` status webhook.
"""

from __future__ import annotations

from typing import Any

import phonenumbers

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.people import AcceptedSend
from cloud_api.sandbox.state import SandboxState, digits, new_wamid
from cloud_api.sandbox.template_sends import check_send_components

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


def _text(content: dict[str, Any], key: str, where: str, limit: int | None, *, required: bool = True) -> None:
    """A string parameter within Meta's length (``None``: Meta states none); required ones non-empty."""
    value = content.get(key)
    if value is None and not required:
        return
    if required:
        _require(content, key, where)
    if not isinstance(value, str):
        raise GraphError(100, f"Invalid parameter: {where}.{key} must be a string.")
    if limit is not None and len(value) > limit:
        raise GraphError(131009, f"{where}.{key} is longer than {limit} characters.")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GraphError(100, f"Invalid parameter: {where} must be an object.")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise GraphError(100, f"Invalid parameter: {where} must be a list.")
    return value


# The MIME types each kind may be sent as (docs/meta-facts.md 1.5); a document may be any file.
MEDIA_MIME_TYPES = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp"),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
    "sticker": ("image/webp",),
}


def _check_media(kind: str, content: dict[str, Any], state: SandboxState) -> int | None:
    """Refuse a malformed media object; return 131053 when Meta cannot use the media it names.

    Meta answers a send by media id before it fetches the media, so an id it does not know (never
    uploaded, deleted) or of a type this kind cannot carry fails afterwards, in a ``failed`` status
    webhook with 131053, as a link it cannot download does.
    """
    media_id, link = content.get("id"), content.get("link")
    if not (media_id or link):
        raise GraphError(131008, f"Required parameter is missing: {kind}.id or {kind}.link")
    if media_id and link:
        raise GraphError(131009, f"{kind}: give id or link, not both.")
    _text(content, "caption", kind, 1024, required=False)
    if "caption" in content and kind in ("audio", "sticker"):
        raise GraphError(131009, f"{kind}.caption: a {kind} message has no caption.")
    _text(content, "filename", kind, None, required=False)
    if "filename" in content and kind != "document":
        raise GraphError(131009, f"{kind}.filename: only a document has a filename.")
    if not media_id:
        return None
    uploaded = state.media.get(str(media_id))
    if uploaded is None:
        return 131053
    allowed = MEDIA_MIME_TYPES.get(kind)
    if allowed is not None and uploaded.get("mime_type") not in allowed:
        return 131053
    return None


def _check_header(header: Any, *, media_allowed: bool) -> None:
    header = _object(header, "interactive.header")
    kind = _require(header, "type", "interactive.header")
    if kind == "text":
        _text(header, "text", "interactive.header", 60)
    elif media_allowed and kind in ("image", "video", "document"):
        media = _object(_require(header, kind, "interactive.header"), f"interactive.header.{kind}")
        if not (media.get("id") or media.get("link")):
            raise GraphError(131008, f"Required parameter is missing: interactive.header.{kind}.id or link")
    else:
        allowed = "text, image, video or document" if media_allowed else "text"
        raise GraphError(131009, f"interactive.header.type must be {allowed}, not {kind!r}.")


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = _list(action.get("buttons") or [], "interactive.action.buttons")
    if not 1 <= len(buttons) <= 3:
        raise GraphError(131009, "interactive.action.buttons: 1 to 3 buttons.")
    ids, titles = [], []
    for index, button in enumerate(buttons):
        where = f"interactive.action.buttons[{index}]"
        button = _object(button, where)
        if button.get("type") != "reply":
            raise GraphError(131009, f"{where}.type must be 'reply'.")
        reply = _object(_require(button, "reply", where), f"{where}.reply")
        _text(reply, "id", f"{where}.reply", 256)
        _text(reply, "title", f"{where}.reply", 20)
        ids.append(reply["id"])
        titles.append(reply["title"])
    if len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
        raise GraphError(131009, "interactive.action.buttons: ids and titles must be unique.")


def _check_list(action: dict[str, Any]) -> None:
    _text(action, "button", "interactive.action", 20)
    sections = _list(action.get("sections") or [], "interactive.action.sections")
    rows: list[dict[str, Any]] = []
    for index, section in enumerate(sections):
        where = f"interactive.action.sections[{index}]"
        section = _object(section, where)
        _text(section, "title", where, 24, required=len(sections) > 1)
        for row_index, row in enumerate(_list(section.get("rows") or [], f"{where}.rows")):
            at = f"{where}.rows[{row_index}]"
            row = _object(row, at)
            _text(row, "id", at, 200)
            _text(row, "title", at, 24)
            _text(row, "description", at, 72, required=False)
            rows.append(row)
    if not 1 <= len(sections) <= 10 or not 1 <= len(rows) <= 10:
        raise GraphError(131009, "interactive.action.sections: 1 to 10 sections and 1 to 10 rows in all.")
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        raise GraphError(131009, "interactive.action.sections: row ids must be unique.")


def _check_interactive(content: dict[str, Any]) -> None:
    kind = _require(content, "type", "interactive")
    body = _object(_require(content, "body", "interactive"), "interactive.body")
    action = _object(_require(content, "action", "interactive"), "interactive.action")
    if kind in ("button", "list"):
        _text(body, "text", "interactive.body", 1024 if kind == "button" else 4096)
        if "footer" in content:
            _text(_object(content["footer"], "interactive.footer"), "text", "interactive.footer", 60)
        if "header" in content:
            _check_header(content["header"], media_allowed=kind == "button")
    else:
        _require(body, "text", "interactive.body")
    if kind == "button":
        _check_buttons(action)
    elif kind == "list":
        _check_list(action)
    elif kind not in (
        "cta_url",
        "flow",
        "location_request_message",
        "address_message",
        "product",
        "product_list",
    ):
        raise GraphError(131009, f"interactive.type {kind!r} is not supported.")


def _check_context(payload: dict[str, Any]) -> None:
    """A reply quotes a message by its wamid (``context.message_id``)."""
    if "context" not in payload:
        return
    context = _object(payload["context"], "context")
    _text(context, "message_id", "context", None)


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

    _check_context(payload)

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
        check_send_components(template, content.get("components"), now)
        return AcceptedSend(new_wamid(), wa_id, payload, template, window_open)

    failure_code = None
    if message_type == "text":
        body = _require(content, "body", "text")
        if len(str(body)) > 4096:
            raise GraphError(131009, "text.body is longer than 4096 characters.")
    elif message_type in MEDIA_TYPES:
        failure_code = _check_media(message_type, content, state)
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
    return AcceptedSend(new_wamid(), wa_id, payload, None, window_open, failure_code=failure_code)
