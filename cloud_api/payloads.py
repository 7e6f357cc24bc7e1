"""Builders for the JSON bodies of ``POST /<phone-number-id>/messages`` (docs/meta-facts.md 1.3–1.4).

Each builder returns a plain dict ready to be sent by a backend. Limits Meta documents for the
message itself (button counts, title lengths) are checked here, so a mistake is a clear
``ApplicationError`` naming the field before anything leaves; what depends on Meta's state (the
template's variables, the customer service window) is left to Meta, which answers with its code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import ApplicationError

MediaKind = Literal["image", "video", "document", "audio", "sticker"]
HeaderMediaKind = Literal["image", "video", "document"]
Payload = dict[str, Any]

PAYLOAD_INVALID = "whatsapp_payload_invalid"


def _refuse(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code=PAYLOAD_INVALID, field=field)


def _check_length(value: str, limit: int, field: str) -> None:
    if len(value) > limit:
        raise _refuse(f"{field} is {len(value)} characters; WhatsApp allows at most {limit}.", field)


@dataclass(frozen=True)
class MediaRef:
    """Media by the id of an upload to ``/<phone-number-id>/media`` (recommended) or by public link."""

    media_id: str | None = None
    link: str | None = None

    def __post_init__(self) -> None:
        if (self.media_id is None) == (self.link is None):
            raise _refuse("Give exactly one of a media id or a link.", "media")

    def as_json(self) -> Payload:
        return {"id": self.media_id} if self.media_id is not None else {"link": self.link}


# --- Template parameters --------------------------------------------------------------------


@dataclass(frozen=True)
class TextHeader:
    """The value of a TEXT header's one variable; ``parameter_name`` for NAMED templates."""

    text: str
    parameter_name: str | None = None

    def as_parameter(self) -> Payload:
        return _text_parameter(self.text, self.parameter_name)


@dataclass(frozen=True)
class MediaHeader:
    """An IMAGE, VIDEO or DOCUMENT header (templates) or interactive header (service messages)."""

    kind: HeaderMediaKind
    media: MediaRef
    filename: str | None = None  # documents only: the name the customer sees

    def as_parameter(self) -> Payload:
        media = self.media.as_json()
        if self.filename and self.kind == "document":
            media["filename"] = self.filename
        return {"type": self.kind, self.kind: media}


@dataclass(frozen=True)
class QuickReplyButton:
    """The payload WhatsApp hands back in the ``button`` webhook when this quick reply is pressed."""

    index: int
    payload: str

    def as_component(self) -> Payload:
        return _button("quick_reply", self.index, {"type": "payload", "payload": self.payload})


@dataclass(frozen=True)
class UrlButton:
    """The suffix appended to a dynamic URL button's base URL (its one variable, at the end)."""

    index: int
    suffix: str

    def as_component(self) -> Payload:
        return _button("url", self.index, {"type": "text", "text": self.suffix})


@dataclass(frozen=True)
class CopyCodeButton:
    """The code a COPY_CODE button copies (a coupon, or an authentication template's code)."""

    index: int
    coupon_code: str

    def as_component(self) -> Payload:
        return _button("copy_code", self.index, {"type": "coupon_code", "coupon_code": self.coupon_code})


TemplateHeader = TextHeader | MediaHeader
TemplateButton = QuickReplyButton | UrlButton | CopyCodeButton


def _text_parameter(text: str, parameter_name: str | None) -> Payload:
    parameter: Payload = {"type": "text", "text": text}
    if parameter_name is not None:
        parameter["parameter_name"] = parameter_name
    return parameter


def _button(sub_type: str, index: int, parameter: Payload) -> Payload:
    # Meta's examples send the index as a string.
    return {"type": "button", "sub_type": sub_type, "index": str(index), "parameters": [parameter]}


def _envelope(
    to: str,
    message_type: str,
    content: Payload,
    *,
    biz_opaque_callback_data: str | None,
    reply_to: str | None,
) -> Payload:
    if not to:
        raise _refuse("The recipient's number is missing.", "to")
    payload: Payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": message_type,
        message_type: content,
    }
    if reply_to is not None:
        payload["context"] = {"message_id": reply_to}
    if biz_opaque_callback_data is not None:
        payload["biz_opaque_callback_data"] = biz_opaque_callback_data
    return payload


# --- Message builders -----------------------------------------------------------------------


def template_message(
    to: str,
    *,
    name: str,
    language: str,
    header: TemplateHeader | None = None,
    body: Sequence[str] | Mapping[str, str] = (),
    buttons: Sequence[TemplateButton] = (),
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """A template message; ``body`` is a sequence for POSITIONAL templates, a mapping for NAMED ones.

    Components without parameters are left out, as Meta expects: a template with a static header
    and no variables is sent with no components at all.
    """
    components: list[Payload] = []
    if header is not None:
        components.append({"type": "header", "parameters": [header.as_parameter()]})
    if isinstance(body, Mapping):
        body_parameters = [_text_parameter(value, parameter_name=key) for key, value in body.items()]
    else:
        body_parameters = [_text_parameter(value, parameter_name=None) for value in body]
    if body_parameters:
        components.append({"type": "body", "parameters": body_parameters})
    indexes = [button.index for button in buttons]
    if len(set(indexes)) != len(indexes):
        raise _refuse("Two button parameters name the same button index.", "buttons")
    components.extend(button.as_component() for button in sorted(buttons, key=lambda b: b.index))
    return template_message_with_components(
        to,
        name=name,
        language=language,
        components=components,
        biz_opaque_callback_data=biz_opaque_callback_data,
    )


def template_message_with_components(
    to: str,
    *,
    name: str,
    language: str,
    components: Sequence[Payload],
    reply_to: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """A template message whose ``components`` are already in Meta's send shape.

    For callers that build the parameters from a stored template version
    (``templates_app.sending.send_components``); an empty list sends the template without components.
    ``reply_to`` quotes the inbound message a template sent as a reply answers.
    """
    if not name:
        raise _refuse("The template name is missing.", "name")
    if not language:
        raise _refuse("The template language is missing.", "language")
    template: Payload = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = [dict(component) for component in components]
    return _envelope(
        to, "template", template, biz_opaque_callback_data=biz_opaque_callback_data, reply_to=reply_to
    )


def text_message(
    to: str,
    body: str,
    *,
    preview_url: bool = False,
    reply_to: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """A free-form text; only delivered inside the customer's 24-hour service window."""
    if not body:
        raise _refuse("A text message needs a body.", "body")
    _check_length(body, 4096, "body")
    return _envelope(
        to,
        "text",
        {"preview_url": preview_url, "body": body},
        biz_opaque_callback_data=biz_opaque_callback_data,
        reply_to=reply_to,
    )


def media_message(
    to: str,
    kind: MediaKind,
    media: MediaRef,
    *,
    caption: str | None = None,
    filename: str | None = None,
    reply_to: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """An image, video, document, audio or sticker message by media id or link."""
    content = media.as_json()
    if caption is not None:
        if kind in ("audio", "sticker"):
            raise _refuse(f"A {kind} message cannot carry a caption.", "caption")
        _check_length(caption, 1024, "caption")
        content["caption"] = caption
    if filename is not None:
        if kind != "document":
            raise _refuse("Only a document carries a filename.", "filename")
        content["filename"] = filename
    return _envelope(to, kind, content, biz_opaque_callback_data=biz_opaque_callback_data, reply_to=reply_to)


@dataclass(frozen=True)
class ReplyButton:
    """One interactive reply button: ``id`` comes back in the ``button_reply`` webhook."""

    id: str
    title: str


InteractiveHeader = str | MediaHeader


def _interactive_header(header: InteractiveHeader) -> Payload:
    if isinstance(header, str):
        _check_length(header, 60, "header")
        return {"type": "text", "text": header}
    return header.as_parameter()


def reply_buttons_message(
    to: str,
    body: str,
    buttons: Sequence[ReplyButton],
    *,
    header: InteractiveHeader | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """Up to three reply buttons under a body; a service message, so only inside the window."""
    if not 1 <= len(buttons) <= 3:
        raise _refuse(f"Reply buttons: give 1 to 3 buttons, not {len(buttons)}.", "buttons")
    _check_length(body, 1024, "body")
    titles = [button.title for button in buttons]
    if len(set(titles)) != len(titles):
        raise _refuse("Reply button titles must be unique.", "buttons")
    ids = [button.id for button in buttons]
    if len(set(ids)) != len(ids):
        raise _refuse("Reply button ids must be unique: the id is how a reply names its button.", "buttons")
    for button in buttons:
        _check_length(button.id, 256, "button id")
        _check_length(button.title, 20, "button title")
    interactive: Payload = {"type": "button"}
    if header is not None:
        interactive["header"] = _interactive_header(header)
    interactive["body"] = {"text": body}
    if footer is not None:
        _check_length(footer, 60, "footer")
        interactive["footer"] = {"text": footer}
    interactive["action"] = {
        "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]
    }
    return _envelope(
        to, "interactive", interactive, biz_opaque_callback_data=biz_opaque_callback_data, reply_to=reply_to
    )


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True)
class ListSection:
    title: str
    rows: Sequence[ListRow]


def list_message(
    to: str,
    body: str,
    *,
    button: str,
    sections: Sequence[ListSection],
    header: str | None = None,
    footer: str | None = None,
    reply_to: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Payload:
    """An interactive list: at most 10 sections and 10 rows in all; the header is text only. A
    section's title may be left empty only when it is the list's one section."""
    if not 1 <= len(sections) <= 10:
        raise _refuse(f"A list needs 1 to 10 sections, not {len(sections)}.", "sections")
    row_count = sum(len(section.rows) for section in sections)
    if not 1 <= row_count <= 10:
        raise _refuse(f"A list needs 1 to 10 rows in all, not {row_count}.", "sections")
    if len(sections) > 1 and not all(section.title for section in sections):
        raise _refuse("A list with more than one section needs a title for each section.", "section title")
    row_ids = [row.id for section in sections for row in section.rows]
    if len(set(row_ids)) != len(row_ids):
        raise _refuse("List row ids must be unique: the id is how a reply names its row.", "sections")
    _check_length(body, 4096, "body")
    _check_length(button, 20, "button")
    json_sections = []
    for section in sections:
        _check_length(section.title, 24, "section title")
        rows = []
        for row in section.rows:
            _check_length(row.id, 200, "row id")
            _check_length(row.title, 24, "row title")
            json_row: Payload = {"id": row.id, "title": row.title}
            if row.description is not None:
                _check_length(row.description, 72, "row description")
                json_row["description"] = row.description
            rows.append(json_row)
        json_sections.append({"title": section.title, "rows": rows} if section.title else {"rows": rows})
    interactive: Payload = {"type": "list"}
    if header is not None:
        _check_length(header, 60, "header")
        interactive["header"] = {"type": "text", "text": header}
    interactive["body"] = {"text": body}
    if footer is not None:
        _check_length(footer, 60, "footer")
        interactive["footer"] = {"text": footer}
    interactive["action"] = {"button": button, "sections": json_sections}
    return _envelope(
        to, "interactive", interactive, biz_opaque_callback_data=biz_opaque_callback_data, reply_to=reply_to
    )


def mark_read(message_id: str, *, typing_indicator: bool = False) -> Payload:
    """Mark an inbound message read (blue ticks); optionally show "typing…" until we answer."""
    payload: Payload = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing_indicator:
        payload["typing_indicator"] = {"type": "text"}
    return payload
