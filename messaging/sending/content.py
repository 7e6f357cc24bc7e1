"""Free-form content — text, media, reply buttons, lists — as the plain JSON an ``OutboundMessage``
stores in ``content``.

One shape for every producer (the inbox's composer, the API, the system's own replies) and every
reader (the dispatcher, the thread, the logs), so a message is checked once, when it is queued, and
sent later exactly as it was checked. The shapes, by ``type``::

    {"type": "text", "body": "…"}
    {"type": "media", "kind": "image|video|audio|document|sticker", "media_id": "…",
     "caption": "…"?, "filename": "…"?}
    {"type": "buttons", "body": "…", "buttons": [{"id": "…", "title": "…"}, …],
     "header": "…"?, "footer": "…"?}
    {"type": "list", "body": "…", "button": "…",
     "sections": [{"title": "…", "rows": [{"id": "…", "title": "…", "description": "…"?}]}],
     "header": "…"?, "footer": "…"?}

Text messages queued before this module stored ``{"body": "…"}``; :func:`payload` and
:func:`describe` read that as text too. Meta's limits (lengths, counts, what may carry a caption)
are checked by the payload builders in ``cloud_api.payloads``, which :func:`check` runs: one table
of limits, not two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from cloud_api.payloads import (
    ListRow,
    ListSection,
    MediaKind,
    MediaRef,
    Payload,
    ReplyButton,
    list_message,
    media_message,
    reply_buttons_message,
    text_message,
)
from core.errors import ApplicationError
from messaging.models import MessageKind

CONTENT_INVALID = "message_content_invalid"
MEDIA_KINDS: tuple[str, ...] = get_args(MediaKind)
MESSAGE_KINDS: dict[str, str] = {
    "text": MessageKind.TEXT,
    "media": MessageKind.MEDIA,
    "buttons": MessageKind.INTERACTIVE,
    "list": MessageKind.INTERACTIVE,
}
MEDIA_LABELS = {
    "image": "📷 Photo",
    "video": "🎥 Video",
    "audio": "🎵 Audio",
    "document": "📄 Document",
    "sticker": "💟 Sticker",
}

# Any well-formed number works for building a payload to check: Meta's limits do not depend on it.
_CHECK_RECIPIENT = "+10000000000"


# --- Constructors -------------------------------------------------------------------------------


def text(body: str) -> dict:
    return {"type": "text", "body": body.strip()}


def media(kind: str, media_id: str, *, caption: str = "", filename: str = "") -> dict:
    """Media already uploaded to Meta (``/<phone-number-id>/media``), sent by its id."""
    content: dict[str, Any] = {"type": "media", "kind": kind, "media_id": media_id}
    _put_optional(content, caption=caption, filename=filename)
    return content


def buttons(body: str, buttons: list[tuple[str, str]], *, header: str = "", footer: str = "") -> dict:
    """Reply buttons, each ``(id, title)``: the id comes back in the person's ``button_reply``."""
    content: dict[str, Any] = {
        "type": "buttons",
        "body": body.strip(),
        "buttons": [{"id": button_id, "title": title.strip()} for button_id, title in buttons],
    }
    _put_optional(content, header=header, footer=footer)
    return content


def choice_list(
    body: str,
    button: str,
    sections: list[tuple[str, list[tuple[str, str, str]]]],
    *,
    header: str = "",
    footer: str = "",
) -> dict:
    """A list behind a ``button``: sections of ``(title, rows)``, each row ``(id, title, description)``."""
    json_sections = []
    for title, rows in sections:
        json_rows = []
        for row_id, row_title, description in rows:
            row = {"id": row_id, "title": row_title.strip()}
            _put_optional(row, description=description)
            json_rows.append(row)
        section: dict[str, Any] = {"rows": json_rows}
        _put_optional(section, title=title)
        json_sections.append(section)
    content: dict[str, Any] = {
        "type": "list",
        "body": body.strip(),
        "button": button.strip(),
        "sections": json_sections,
    }
    _put_optional(content, header=header, footer=footer)
    return content


def _put_optional(target: dict, **values: str) -> None:
    """Optional texts are stored only when given, so the stored JSON is what is sent."""
    for key, value in values.items():
        if value and value.strip():
            target[key] = value.strip()


# --- Checking -------------------------------------------------------------------------------------

_KEYS = {
    "text": ({"body"}, set()),
    "media": ({"kind", "media_id"}, {"caption", "filename"}),
    "buttons": ({"body", "buttons"}, {"header", "footer"}),
    "list": ({"body", "button", "sections"}, {"header", "footer"}),
}
# What the payload builders call a part, as the content names it (a form shows it there).
_BUILDER_FIELDS = {
    "button id": "buttons",
    "button title": "buttons",
    "section title": "sections",
    "row id": "sections",
    "row title": "sections",
    "row description": "sections",
    "media": "media_id",
}


def _refuse(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code=CONTENT_INVALID, field=field)


def check(content: dict) -> None:
    """Refuse, naming the part (``field``), anything WhatsApp would refuse or we could not send.

    ``content`` may come from a form or a client of the API, so its shape is checked before its
    values: a dict of known keys for its ``type``, strings where strings belong, no blank body,
    title or id. Then the payload is built as it will be sent, so Meta's limits are the builders'.
    Every refusal is ``message_content_invalid``.
    """
    if not isinstance(content, dict):
        raise _refuse(f"The content must be an object with a type, not {type(content).__name__}.", "content")
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise _refuse(
            f"The content's type must be one of {', '.join(_KEYS)}, not {kind!r}.",
            "type",
        )
    required, optional = _KEYS[kind]
    unknown = sorted(set(content) - required - optional - {"type"})
    if unknown:
        raise _refuse(f"A {kind} message has no {', '.join(unknown)}.", unknown[0])
    missing = sorted(required - set(content))
    if missing:
        raise _refuse(f"A {kind} message needs its {missing[0]}.", missing[0])
    for key in sorted((required | optional) - {"buttons", "sections"}):
        if key in content:
            _string(content[key], key, required=key in required)
    if kind == "media":
        if content["kind"] not in MEDIA_KINDS:
            raise _refuse(
                f"The media kind must be one of {', '.join(MEDIA_KINDS)}, not {content['kind']!r}.", "kind"
            )
        if any(char.isspace() for char in content["media_id"]):
            raise _refuse("A media id has no spaces: give the id Meta answered the upload with.", "media_id")
    elif kind == "buttons":
        _objects(content["buttons"], "buttons", required={"id", "title"})
    elif kind == "list":
        sections = _objects(content["sections"], "sections", required={"rows"}, optional=frozenset({"title"}))
        for index, section in enumerate(sections):
            where = f"sections[{index}].rows"
            _objects(
                section["rows"],
                where,
                required={"id", "title"},
                optional=frozenset({"description"}),
                field="sections",
            )
    try:
        payload(content, to=_CHECK_RECIPIENT, reply_to_wamid=None, callback="")
    except ApplicationError as error:
        field = _BUILDER_FIELDS.get(error.field or "", error.field or "content")
        raise _refuse(error.message, field) from None


def _string(value: Any, where: str, *, required: bool, field: str = "") -> None:
    if not isinstance(value, str):
        raise _refuse(f"The {where} must be text, not {type(value).__name__}.", field or where)
    if "\x00" in value:
        raise _refuse(f"The {where} contains a NUL character.", field or where)
    if required and not value.strip():
        raise _refuse(f"The {where} is empty.", field or where)


def _objects(
    value: Any, where: str, *, required: set[str], optional: frozenset[str] = frozenset(), field: str = ""
) -> list[dict]:
    """A non-empty list of objects with these keys, each a non-blank string (``rows``: a list,
    checked by the caller); the count and lengths are the builders' to check."""
    field = field or where
    if not isinstance(value, list) or not value:
        raise _refuse(f"The {where} must be a non-empty list.", field)
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _refuse(f"The {at} must be an object, not {type(item).__name__}.", field)
        unknown = sorted(set(item) - required - optional)
        if unknown:
            raise _refuse(f"The {at} has no {', '.join(unknown)}.", field)
        missing = sorted(required - set(item))
        if missing:
            raise _refuse(f"The {at} needs its {missing[0]}.", field)
        for key in sorted((required | optional) & set(item) - {"rows"}):
            _string(item[key], f"{at}.{key}", required=key in required, field=field)
    return value


# --- Sending and showing ----------------------------------------------------------------------


def _type_of(content: dict) -> str:
    """The content's type; a text stored before types were (``{"body": …}``) is text."""
    return content.get("type") or ("text" if "body" in content else "")


def payload(content: dict, *, to: str, reply_to_wamid: str | None, callback: str) -> Payload:
    """Meta's request body for ``content``, quoting ``reply_to_wamid`` (``context``) when given."""
    options: dict[str, Any] = {"reply_to": reply_to_wamid or None, "biz_opaque_callback_data": callback}
    build = _BUILDERS.get(_type_of(content))
    if build is None:
        raise _refuse(f"Cannot send content of type {content.get('type')!r}.", "type")
    return build(content, to, options)


def _text_payload(content: dict, to: str, options: dict) -> Payload:
    return text_message(to, content.get("body", ""), **options)


def _media_payload(content: dict, to: str, options: dict) -> Payload:
    return media_message(
        to,
        content["kind"],
        MediaRef(media_id=content["media_id"]),
        caption=content.get("caption"),
        filename=content.get("filename"),
        **options,
    )


def _buttons_payload(content: dict, to: str, options: dict) -> Payload:
    return reply_buttons_message(
        to,
        content["body"],
        [ReplyButton(id=b["id"], title=b["title"]) for b in content["buttons"]],
        header=content.get("header"),
        footer=content.get("footer"),
        **options,
    )


def _list_payload(content: dict, to: str, options: dict) -> Payload:
    sections = [
        ListSection(
            title=section.get("title", ""),
            rows=[ListRow(row["id"], row["title"], row.get("description")) for row in section["rows"]],
        )
        for section in content["sections"]
    ]
    return list_message(
        to,
        content["body"],
        button=content["button"],
        sections=sections,
        header=content.get("header"),
        footer=content.get("footer"),
        **options,
    )


_BUILDERS: dict[str, Callable[[dict, str, dict], Payload]] = {
    "text": _text_payload,
    "media": _media_payload,
    "buttons": _buttons_payload,
    "list": _list_payload,
}


def describe(content: dict) -> str:
    """What the recipient reads, as one text: for ``rendered_text``, logs and the inbox."""
    kind = _type_of(content)
    if kind == "text":
        return content.get("body", "")
    if kind == "media":
        label = MEDIA_LABELS.get(content.get("kind", ""), "Media")
        if content.get("filename"):
            label += f" ({content['filename']})"
        return f"{label}: {content['caption']}" if content.get("caption") else label
    lines = [content[key] for key in ("header", "body", "footer") if content.get(key)]
    if kind == "buttons":
        lines.append(" ".join(f"[{button['title']}]" for button in content.get("buttons", [])))
    elif kind == "list":
        lines.append(f"☰ {content.get('button', '')}")
        for section in content.get("sections", []):
            if section.get("title"):
                lines.append(f"{section['title']}:")
            for row in section.get("rows", []):
                description = f" — {row['description']}" if row.get("description") else ""
                lines.append(f"• {row['title']}{description}")
    return "\n".join(lines)
