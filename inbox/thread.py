"""A conversation's thread as chat bubbles: what the person sent, what we sent, and staff notes.

Read from the messages themselves (``InboundMessage``, ``OutboundMessage`` — campaign, API and
template sends too) and the notes, interleaved by time, newest at the bottom, a page at a time
("earlier messages"). A page costs a fixed number of queries whatever its length: one per table,
then one each for the reactions, the attempts' wamids and the media of the page's messages.

Every bubble's HTML is built here from escaped text (``whatsapp_markup_to_html`` and
``format_html``): nothing a person or an agent typed becomes markup. A payload is stored as the
webhook received it, so every nested value is read through ``as_dict``/``as_list``/``text``: one
message of an odd shape must draw as something, never break its thread for good.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from cloud_api.errors import lookup
from core.errors import ApplicationError
from inbox.conversations import KIND_LABELS
from inbox.models import Conversation, ConversationNote
from messaging.models import InboundMessage, MessageMedia, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending.content import describe
from messaging.webhooks.envelope import as_dict, as_list, text
from templates_app.preview import render_bubble
from templates_app.rendering import whatsapp_markup_to_html

PAGE_SIZE = 30
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# The order of bubbles written in the same instant: theirs, ours, then notes about them.
_RANK = {"in": 0, "out": 1, "note": 2}
STATUS_MARKS = {
    MessageStatus.QUEUED: ("🕓", "Waiting to be sent"),
    MessageStatus.SENDING: ("🕓", "Sending"),
    MessageStatus.ACCEPTED: ("🕓", "Accepted by WhatsApp"),
    MessageStatus.SENT: ("✓", "Sent"),
    MessageStatus.DELIVERED: ("✓✓", "Delivered"),
    MessageStatus.READ: ("✓✓", "Read"),
    MessageStatus.UNKNOWN: ("?", "Outcome unknown: staff review it"),
}


@dataclass
class Bubble:
    key: str  # "in-12", "out-5", "note-3": the element's id and the poll's identity
    side: str  # "in", "out" or "note"
    at: datetime
    kind: str
    html: SafeString
    author: str = ""
    quote: str = ""  # what the person answered or quoted
    status: str = ""
    status_mark: str = ""
    status_label: str = ""
    reactions: list[str] = field(default_factory=list)
    pk: int = 0

    @property
    def sort_key(self) -> tuple:
        return (self.at, _RANK[self.side], self.pk)


@dataclass
class ThreadPage:
    bubbles: list[Bubble]
    earlier: str | None  # the cursor of the page before this one, None at the start


# --- Pages ------------------------------------------------------------------------------------


def thread_page(
    conversation: Conversation, *, before: str | None = None, limit: int = PAGE_SIZE
) -> ThreadPage:
    """The ``limit`` newest bubbles older than the cursor ``before`` (the newest page without one)."""
    cursor = parse_cursor(before) if before else None
    contact_id = conversation.contact_id
    inbound = _older(_inbound().filter(contact_id=contact_id), "sent_at", "in", cursor).order_by(
        "-sent_at", "-id"
    )[: limit + 1]
    outbound = _older(_outbound().filter(contact_id=contact_id), "created_at", "out", cursor).order_by(
        "-created_at", "-id"
    )[: limit + 1]
    notes = _older(
        ConversationNote.objects.filter(conversation=conversation).select_related("author"),
        "created_at",
        "note",
        cursor,
    ).order_by("-created_at", "-id")[: limit + 1]
    items = [*_keyed(inbound, "in"), *_keyed(outbound, "out"), *_keyed(notes, "note")]
    items.sort(key=lambda item: item[0], reverse=True)
    earlier = None
    if len(items) > limit:
        items = items[:limit]
        earlier = make_cursor(items[-1][0])
    items.reverse()
    return ThreadPage(bubbles=build_bubbles(items, contact_id=contact_id), earlier=earlier)


def thread_changes(
    conversation: Conversation, *, after_inbound: int, after_note: int, outbound_since: datetime
) -> list[Bubble]:
    """What the poll brings: new inbound messages and notes, and outbound ones new or changed
    (a status moved) since ``outbound_since``; a reaction comes as its target, drawn again."""
    contact_id = conversation.contact_id
    inbound = list(
        _inbound().filter(contact_id=contact_id, pk__gt=after_inbound).order_by("sent_at", "id")[:100]
    )
    targets = {_reacted_to(m.payload) for m in inbound if m.type == "reaction"}
    targets.discard("")
    outbound = list(
        _outbound()
        .filter(contact_id=contact_id)
        .filter(Q(updated_at__gte=outbound_since) | Q(attempts__wamid__in=targets))
        .distinct()
        .order_by("created_at", "id")[:100]
    )
    seen = {m.pk for m in inbound}
    inbound += [
        m
        for m in _inbound().filter(contact_id=contact_id, wamid__in=targets).order_by("sent_at")
        if m.pk not in seen
    ]
    notes = ConversationNote.objects.filter(conversation=conversation, pk__gt=after_note).select_related(
        "author"
    )
    items = [*_keyed(inbound, "in"), *_keyed(outbound, "out"), *_keyed(notes[:100], "note")]
    items.sort(key=lambda item: item[0])
    return build_bubbles(items, contact_id=contact_id)


def _inbound():
    return InboundMessage.objects.select_related("in_reply_to")


def _outbound():
    return OutboundMessage.objects.select_related("template_version")


def _keyed(rows, side: str) -> list[tuple[tuple, str, object]]:
    at = "sent_at" if side == "in" else "created_at"
    return [((getattr(row, at), _RANK[side], row.pk), side, row) for row in rows]


def _older(queryset, at: str, side: str, cursor: tuple | None):
    """Rows before the cursor in the thread's order (time, then theirs/ours/notes, then id)."""
    if cursor is None:
        return queryset
    when, rank, pk = cursor
    mine = _RANK[side]
    same_instant = Q(**{at: when}) & (Q(pk__lt=pk) if mine == rank else Q() if mine < rank else Q(pk__in=[]))
    return queryset.filter(Q(**{f"{at}__lt": when}) | same_instant)


def make_cursor(key: tuple) -> str:
    when, rank, pk = key
    return base64.urlsafe_b64encode(f"{when.isoformat()}|{rank}|{pk}".encode()).decode()


def parse_cursor(value: str) -> tuple:
    """The cursor ``make_cursor`` wrote, or a clear refusal (never a 500) for anything else."""
    try:
        when, rank, pk = base64.urlsafe_b64decode(value.encode()).decode().split("|")
        moment = parse_datetime(when)
        # The database compares in UTC: a time at the ends of the calendar has no UTC (OverflowError).
        parsed = (moment.astimezone(UTC) if moment and moment.tzinfo else None, int(rank), int(pk))
    except (ValueError, UnicodeError, TypeError, OverflowError):
        parsed = (None, -1, -1)
    if parsed[0] is None or parsed[0].tzinfo is None or parsed[1] not in _RANK.values() or parsed[2] < 0:
        raise ApplicationError(
            "The link to earlier messages is damaged; reload the conversation.",
            code="thread_cursor_invalid",
            field="before",
        )
    return parsed


# --- Bubbles ----------------------------------------------------------------------------------


def build_bubbles(items: list[tuple[tuple, str, object]], *, contact_id: int) -> list[Bubble]:
    """Bubbles for ``(key, side, row)`` items in order; reactions join the message they react to."""
    inbound = [row for _key, side, row in items if side == "in"]
    outbound = [row for _key, side, row in items if side == "out"]
    wamid_of_outbound: dict[str, int] = (
        dict(
            SendAttempt.objects.filter(message__in=[m.pk for m in outbound], wamid__isnull=False).values_list(
                "wamid", "message_id"
            )
        )
        if outbound
        else {}
    )
    page_wamids = {m.wamid: f"in-{m.pk}" for m in inbound} | {
        w: f"out-{pk}" for w, pk in wamid_of_outbound.items()
    }
    reactions = _reactions(contact_id, page_wamids)
    media = _media(inbound, outbound)
    bubbles = []
    for _key, side, row in items:
        if side == "in" and row.type == "reaction" and _reacted_to(row.payload) in page_wamids:
            continue  # drawn on the message it reacts to
        if side == "in":
            bubble = _inbound_bubble(row, media)
        elif side == "out":
            bubble = _outbound_bubble(row, media)
        else:
            bubble = _note_bubble(row)
        bubble.reactions = reactions.get(bubble.key, [])
        bubbles.append(bubble)
    return bubbles


def _reactions(contact_id: int, page_wamids: dict[str, str]) -> dict[str, list[str]]:
    """The person's current reaction on each message of the page (the latest; an empty emoji removes it)."""
    if not page_wamids:
        return {}
    latest: dict[str, str] = {}
    for payload in (
        InboundMessage.objects.filter(contact_id=contact_id, type="reaction")
        .filter(payload__reaction__message_id__in=list(page_wamids))
        .order_by("sent_at", "id")
        .values_list("payload", flat=True)
    ):
        key = page_wamids.get(_reacted_to(payload))
        if key is not None:
            latest[key] = text(as_dict(as_dict(payload).get("reaction")).get("emoji"))
    return {key: [emoji] for key, emoji in latest.items() if emoji}


def _reacted_to(payload) -> str:
    """The wamid a reaction's payload names ("" when it names none)."""
    return text(as_dict(as_dict(payload).get("reaction")).get("message_id"))


def _media(
    inbound: list[InboundMessage], outbound: list[OutboundMessage]
) -> dict[tuple[str, object], MessageMedia]:
    """Stored media of the page: inbound by message, outbound by Meta's media id."""
    inbound_ids = [m.pk for m in inbound if m.type in MEDIA_KINDS]
    media_ids = [str(m.content.get("media_id")) for m in outbound if m.content.get("media_id")]
    if not inbound_ids and not media_ids:
        return {}
    rows = MessageMedia.objects.filter(
        Q(inbound_id__in=inbound_ids) | Q(media_id__in=media_ids, inbound__isnull=True)
    )
    found: dict[tuple[str, object], MessageMedia] = {}
    for row in rows:
        if row.inbound_id is not None:
            found[("in", row.inbound_id)] = row
        else:
            found[("out", row.media_id)] = row
    return found


def _inbound_bubble(message: InboundMessage, media: dict) -> Bubble:
    quote = ""
    if message.in_reply_to_id is not None:
        quote = message.in_reply_to.rendered_text
    elif message.context_wamid:
        quote = "a message"
    return Bubble(
        key=f"in-{message.pk}",
        side="in",
        at=message.sent_at,
        kind=message.type,
        html=inbound_html(message, media.get(("in", message.pk))),
        quote=" ".join(quote.split())[:160],
        pk=message.pk,
    )


def inbound_html(message: InboundMessage, stored: MessageMedia | None = None) -> SafeString:
    """What the person sent, as safe HTML, for every kind WhatsApp delivers (and the unknown ones)."""
    kind = message.type
    payload = as_dict(message.payload)
    body = as_dict(payload.get(kind))
    if kind == "text":
        return whatsapp_markup_to_html(message.text)
    if kind in MEDIA_KINDS:
        return _media_html(kind, stored, caption=message.text, filename=text(body.get("filename")))
    if kind == "location":
        return _location_html(body)
    if kind == "contacts":
        return _contacts_html(payload.get("contacts"))
    if kind == "reaction":
        emoji = text(body.get("emoji"))
        return (
            format_html("Reacted {} to an earlier message", emoji)
            if emoji
            else mark_safe("Removed a reaction")
        )
    if kind == "interactive":
        answer = as_dict(body.get("button_reply")) or as_dict(body.get("list_reply"))
        description = text(answer.get("description"))
        return format_html(
            '<span class="inbox-answer">{}</span>{}',
            text(answer.get("title")) or message.text,
            format_html('<span class="inbox-answer-description">{}</span>', description)
            if description
            else "",
        )
    if kind == "button":
        return format_html('<span class="inbox-answer">{}</span>', text(body.get("text")) or message.text)
    if kind == "order":
        note = text(body.get("text"))
        return format_html(
            "🛒 Order of {} item(s){}", len(as_list(body.get("product_items"))), f": {note}" if note else ""
        )
    if kind == "system":
        return format_html('<span class="inbox-system">{}</span>', text(body.get("body")) or message.text)
    if kind == "unsupported":
        return mark_safe('<span class="inbox-unsupported">A message WhatsApp could not show here.</span>')
    label = KIND_LABELS.get(kind, kind)
    return format_html(
        '<span class="inbox-unsupported">A message of a kind we do not show ({})</span>', label
    )


def _media_html(kind: str, stored: MessageMedia | None, *, caption: str, filename: str) -> SafeString:
    label = KIND_LABELS.get(kind, kind)
    url = _media_url(stored)
    if url is None:
        preview = format_html('<span class="inbox-media-missing">{} (not available)</span>', label)
    elif kind in ("image", "sticker"):
        preview = format_html(
            '<a href="{}" target="_blank"><img class="inbox-media" src="{}" alt="{}"></a>', url, url, label
        )
    elif kind == "video":
        preview = format_html('<video class="inbox-media" src="{}" controls preload="none"></video>', url)
    elif kind == "audio":
        preview = format_html('<audio src="{}" controls preload="none"></audio>', url)
    else:
        preview = format_html('<a href="{}">📄 {}</a>', url, filename or stored.filename or label)
    if caption:
        return format_html('{}<div class="inbox-caption">{}</div>', preview, whatsapp_markup_to_html(caption))
    return preview


def _media_url(stored: MessageMedia | None) -> str | None:
    if stored is None or not stored.file or stored.purged_at is not None:
        return None
    try:
        return reverse("admin:messaging_messagemedia_file", args=[stored.pk])
    except NoReverseMatch:
        return None


def _location_html(location: dict) -> SafeString:
    lat, lon = location.get("latitude"), location.get("longitude")
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        lat = lon = math.nan
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return mark_safe('<span class="inbox-unsupported">📍 A location without coordinates</span>')
    link = "https://www.openstreetmap.org/?" + urlencode({"mlat": lat, "mlon": lon}) + f"#map=17/{lat}/{lon}"
    words = " · ".join(word for word in (text(location.get("name")), text(location.get("address"))) if word)
    return format_html(
        '📍 <a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
        link,
        words or f"{lat:.5f}, {lon:.5f}",
    )


def _contacts_html(cards) -> SafeString:
    rows = []
    for card in as_list(cards):
        if not isinstance(card, dict):
            continue
        name = text(as_dict(card.get("name")).get("formatted_name")) or "A contact"
        phones = ", ".join(
            text(p.get("phone")) or text(p.get("wa_id"))
            for p in as_list(card.get("phones"))
            if isinstance(p, dict)
        )
        rows.append((name, phones))
    if not rows:
        return mark_safe("👤 A contact card")
    return format_html_join("", '<div class="inbox-card">👤 <strong>{}</strong> {}</div>', rows)


def _outbound_bubble(message: OutboundMessage, media: dict) -> Bubble:
    mark, label = STATUS_MARKS.get(message.status, ("", message.get_status_display()))
    if message.status == MessageStatus.FAILED:
        meaning = lookup(message.error_code) if message.error_code is not None else None
        mark = "⚠"
        label = f"Failed ({message.error_code}): {meaning.meaning if meaning else message.error_text}"
    elif message.status in (MessageStatus.SKIPPED, MessageStatus.CANCELLED):
        mark = "⊘"
        label = f"{message.get_status_display()}: {message.error_text or message.hold_reason}".rstrip(": ")
    elif message.status == MessageStatus.QUEUED and message.hold_reason:
        label = f"Waiting: {message.get_hold_reason_display()}"
    if message.campaign_id:
        author = "Campaign"
    else:
        author = message.actor_label or "System"
    return Bubble(
        key=f"out-{message.pk}",
        side="out",
        at=message.created_at,
        kind=message.kind,
        html=outbound_html(message, media),
        author=author,
        status=message.status,
        status_mark=mark,
        status_label=label,
        pk=message.pk,
    )


def outbound_html(message: OutboundMessage, media: dict | None = None) -> SafeString:
    """What we sent: a template as its rendered bubble, free-form content as the person sees it."""
    if message.template_version_id is not None:
        return mark_safe(
            render_bubble(components=message.template_version.components, parameters=message.parameters)
        )
    content = message.content or {}
    kind = content.get("type") or "text"
    if kind == "text" or ("body" in content and kind not in ("buttons", "list", "media")):
        return whatsapp_markup_to_html(content.get("body") or message.rendered_text)
    if kind == "media":
        stored = (media or {}).get(("out", str(content.get("media_id"))))
        return _media_html(
            content.get("kind", "document"),
            stored,
            caption=content.get("caption", ""),
            filename=content.get("filename", ""),
        )
    if kind in ("buttons", "list"):
        return interactive_html(content)
    return whatsapp_markup_to_html(describe(content) if content else message.rendered_text)


def interactive_html(content: dict) -> SafeString:
    """Reply buttons or a list as the person sees them: header, body, footer, the choices."""
    parts = []
    if content.get("header"):
        parts.append(format_html('<div class="inbox-header">{}</div>', content["header"]))
    parts.append(format_html("<div>{}</div>", whatsapp_markup_to_html(content.get("body", ""))))
    if content.get("footer"):
        parts.append(format_html('<div class="inbox-footer">{}</div>', content["footer"]))
    if content.get("type") == "buttons":
        parts.append(
            format_html_join(
                "",
                '<div class="inbox-choice">{}</div>',
                ((b.get("title", ""),) for b in _dicts(content.get("buttons"))),
            )
        )
    else:
        parts.append(format_html('<div class="inbox-choice">☰ {}</div>', content.get("button", "")))
        for section in _dicts(content.get("sections")):
            if section.get("title"):
                parts.append(format_html('<div class="inbox-section">{}</div>', section["title"]))
            parts.append(
                format_html_join(
                    "",
                    '<div class="inbox-row">{}<span class="inbox-answer-description">{}</span></div>',
                    ((r.get("title", ""), r.get("description", "")) for r in _dicts(section.get("rows"))),
                )
            )
    return mark_safe("".join(parts))


def _dicts(value) -> list[dict]:
    return [item for item in value or [] if isinstance(item, dict)]


def _note_bubble(note: ConversationNote) -> Bubble:
    return Bubble(
        key=f"note-{note.pk}",
        side="note",
        at=note.created_at,
        kind="note",
        html=whatsapp_markup_to_html(note.text),
        author=note.author.get_username(),
        pk=note.pk,
    )
