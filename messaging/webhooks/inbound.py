"""Inbound messages: the person found (or created, with no consent implied), the message kept once.

Every documented type is stored with Meta's message object as it came (``payload``) and the one
line a person would read (``text``); a type Meta adds later is stored the same way. Writing opens
the person's 24-hour window, so ``contact.last_inbound_at`` moves forward (never back: Meta may
deliver an older message late).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.services import log_activity
from core.actors import Actor
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.webhooks.envelope import as_dict, as_list, text, unix_time

_SYSTEM = Actor.system("WhatsApp webhook")
_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


@dataclass(frozen=True)
class Sender:
    """Who wrote, as Meta identifies them: wa_id, business-scoped user id, profile name."""

    wa_id: str
    user_id: str
    profile_name: str


def senders_of(value: dict) -> dict[str, Sender]:
    """``value.contacts[]`` by wa_id (and by user id, for people Meta identifies only that way)."""
    senders: dict[str, Sender] = {}
    for item in as_list(value.get("contacts")):
        item = as_dict(item)
        sender = Sender(
            wa_id=text(item.get("wa_id"), 32).strip(),
            user_id=text(item.get("user_id"), 128).strip(),
            profile_name=text(as_dict(item.get("profile")).get("name"), 200).strip(),
        )
        for key in (sender.wa_id, sender.user_id):
            if key:
                senders[key] = sender
    return senders


def receive_message(
    *, message: Any, senders: dict[str, Sender], webhook_event: WebhookEvent
) -> InboundMessage | None:
    """Store one ``messages[]`` item; None when it names nobody or was stored before (a duplicate)."""
    message = as_dict(message)
    wamid = text(message.get("id")).strip()
    sender_key = text(message.get("from"), 32).strip() or text(message.get("from_user_id"), 128).strip()
    if not wamid or len(wamid) > 128 or not sender_key:
        return None
    if InboundMessage.objects.filter(wamid=wamid).exists():
        return None
    sender = senders.get(sender_key) or Sender(
        wa_id=text(message.get("from"), 32).strip(),
        user_id=text(message.get("from_user_id"), 128).strip(),
        profile_name="",
    )
    contact = contact_for(sender)
    if contact is None:
        return None
    sent_at = min(unix_time(message.get("timestamp")) or timezone.now(), timezone.now())
    kind = text(message.get("type"), 32).strip() or "unknown"
    context_wamid = _context_wamid(message, kind)
    inbound = InboundMessage(
        wamid=wamid,
        contact=contact,
        type=kind,
        text=message_text(message, kind),
        payload=message,
        context_wamid=context_wamid,
        in_reply_to=_outbound_with_wamid(context_wamid),
        sent_at=sent_at,
        webhook_event=webhook_event,
    )
    try:
        with transaction.atomic():
            inbound.save()
    except IntegrityError:
        return None  # the same wamid, stored by a concurrent delivery
    open_window(contact=contact, at=sent_at)
    return inbound


def contact_for(sender: Sender) -> Contact | None:
    """The contact with this wa_id, user id or phone; a new one (no consent implied) if none.

    Fills identifiers the contact lacks and keeps the profile name the person shows on WhatsApp.
    """
    phone = _phone_from_wa_id(sender.wa_id)
    lookup = Q()
    if sender.wa_id:
        lookup |= Q(wa_id=sender.wa_id)
    if sender.user_id:
        lookup |= Q(user_id=sender.user_id)
    if phone:
        lookup |= Q(phone=phone)
    if not lookup:
        return None
    matches = list(Contact.objects.filter(lookup).order_by("id"))
    if not matches:
        return _create_contact(sender, phone)
    # The strongest identifier wins when several contacts match different ones.
    contact = next(
        (c for c in matches if sender.wa_id and c.wa_id == sender.wa_id),
        next((c for c in matches if sender.user_id and c.user_id == sender.user_id), matches[0]),
    )
    _update_identity(contact, sender, taken=matches)
    return contact


def open_window(*, contact: Contact, at: dt.datetime) -> None:
    """Move the window's start forward to ``at`` unless a later message already moved it."""
    moved = (
        Contact.objects.filter(pk=contact.pk)
        .filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at))
        .update(last_inbound_at=at, updated_at=timezone.now())
    )
    if moved:
        contact.last_inbound_at = at  # the reply that follows checks the window on this instance
    else:
        contact.refresh_from_db(fields=["last_inbound_at"])


def message_text(message: dict, kind: str) -> str:
    """The one line a person reads: body, caption, button label, reply title, place, emoji…"""
    content = as_dict(message.get(kind))
    if kind == "text":
        return text(content.get("body"))
    if kind in _MEDIA_TYPES:
        return text(content.get("caption")) or text(content.get("filename"))
    if kind == "button":
        return text(content.get("text")) or text(content.get("payload"))
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply", "nfm_reply"):
            reply = as_dict(content.get(reply_kind))
            if reply:
                return text(reply.get("title")) or text(reply.get("body")) or text(reply.get("name"))
        return ""
    if kind == "location":
        return ", ".join(p for p in (text(content.get("name")), text(content.get("address"))) if p)
    if kind == "reaction":
        return text(content.get("emoji"))
    if kind == "contacts":
        cards = as_list(message.get("contacts"))
        return ", ".join(text(as_dict(as_dict(c).get("name")).get("formatted_name")) for c in cards)
    if kind == "order":
        return text(content.get("text")) or f"Order of {len(as_list(content.get('product_items')))} items"
    if kind == "system":
        return text(content.get("body"))
    return ""


def _context_wamid(message: dict, kind: str) -> str:
    context = as_dict(message.get("context"))
    wamid = text(context.get("id")) or (
        text(as_dict(message.get("reaction")).get("message_id")) if kind == "reaction" else ""
    )
    return wamid if len(wamid) <= 128 else ""


def _outbound_with_wamid(wamid: str) -> OutboundMessage | None:
    if not wamid:
        return None
    return OutboundMessage.objects.filter(attempts__wamid=wamid).first()


def _phone_from_wa_id(wa_id: str) -> str | None:
    if not wa_id or not wa_id.isdigit():
        return None
    try:
        return normalize_phone("+" + wa_id)
    except InvalidPhoneNumber:
        return None


def _create_contact(sender: Sender, phone: str | None) -> Contact | None:
    contact = Contact(
        phone=phone,
        wa_id=sender.wa_id or None,
        user_id=sender.user_id or None,
        whatsapp_profile_name=sender.profile_name,
    )
    try:
        with transaction.atomic():
            contact.full_clean()
            contact.save()
    except IntegrityError:
        # A concurrent delivery created the same person first.
        return Contact.objects.filter(
            Q(wa_id=sender.wa_id) if sender.wa_id else Q(user_id=sender.user_id)
        ).first()
    except ValidationError:
        return None  # identifiers no contact can hold; the raw event still has the message
    log_activity(
        actor=_SYSTEM,
        action="contact.created_from_whatsapp",
        obj=contact,
        details={"wa_id": sender.wa_id, "user_id": sender.user_id},
    )
    return contact


def _update_identity(contact: Contact, sender: Sender, *, taken: list[Contact]) -> None:
    changes: dict[str, str] = {}
    others = [c for c in taken if c.pk != contact.pk]
    if sender.wa_id and not contact.wa_id and not any(c.wa_id == sender.wa_id for c in others):
        changes["wa_id"] = sender.wa_id
    if sender.user_id and not contact.user_id and not any(c.user_id == sender.user_id for c in others):
        changes["user_id"] = sender.user_id
    if sender.profile_name and sender.profile_name != contact.whatsapp_profile_name:
        changes["whatsapp_profile_name"] = sender.profile_name
    if changes:
        Contact.objects.filter(pk=contact.pk).update(**changes, updated_at=timezone.now())
        for name, value in changes.items():
            setattr(contact, name, value)
