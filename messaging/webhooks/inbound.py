"""Inbound messages: the person found (or created, with no consent implied), the message kept once.

Every documented type is stored with Meta's message object as it came (``payload``) and the one
line a person would read (``text``); a type Meta adds later is stored the same way. Writing opens
the person's 24-hour window, so ``contact.last_inbound_at`` moves forward (never back: Meta may
deliver an older message late).

The person is found by the contact matcher (``contacts.matching``): any form of their number,
their wa_id or user id, following merges. Meta's ``system`` messages ``user_changed_number`` and
``user_changed_user_id`` say the same person has a new identity: the contact takes it (docs/
contacts.md) instead of a second contact being created for it. A system message is Meta speaking,
not the person, so it does not open the window.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from contacts.matching import contact_find_or_create, contact_identity_changed, contact_match
from contacts.models import Contact
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.signals import inbound_message_received
from messaging.webhooks.envelope import as_dict, as_list, text, unix_time

logger = logging.getLogger(__name__)

_SYSTEM = Actor.system("WhatsApp webhook")
_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# Meta's system messages that report a new identity for the same person.
USER_CHANGED_NUMBER = "user_changed_number"
USER_CHANGED_USER_ID = "user_changed_user_id"


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
    kind = text(message.get("type"), 32).strip() or "unknown"
    change = identity_change_of(message) if kind == "system" else None
    sent_at = min(unix_time(message.get("timestamp")) or timezone.now(), timezone.now())
    if change is not None:
        contact = _apply_identity_change(change, message=message, wamid=wamid, webhook_event=webhook_event)
    else:
        contact = contact_for(sender, sent_at=sent_at)
    if contact is None:
        return None
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
            if kind != "system":
                inbound.contact = contact = _survivor_locked(contact)
            inbound.save()
            if kind != "system":  # Meta speaking, not the person
                # The window opens with the message, before the apps that answer it hear of it
                # (a survey's next question, the inbox): they send inside the window it opened.
                open_window(contact=contact, at=sent_at)
                inbound_message_received.send(sender=InboundMessage, inbound=inbound)
    except IntegrityError:
        return None  # the same wamid, stored by a concurrent delivery
    return inbound


def _survivor_locked(contact: Contact) -> Contact:
    """``contact``'s row locked for this transaction, or its survivor's when a merge committed since
    the matcher found it: the message, its window and its conversation follow the person, as the
    merge moved their earlier messages. A merge locks both rows, so none can start meanwhile."""
    seen = set()
    while True:
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if locked.merged_into_id is None or locked.pk in seen:
            return locked
        seen.add(locked.pk)
        contact = Contact(pk=locked.merged_into_id)


def contact_for(sender: Sender, *, sent_at: dt.datetime | None = None) -> Contact | None:
    """The contact for this wa_id or user id; a new one (no consent implied) if nobody matches.

    The matcher finds any form of the number and follows merges; two live rows of one identity
    are merged. Fills identifiers the contact lacks and keeps the profile name it shows on
    WhatsApp. ``sent_at``: when the person wrote, so a message delivered or retried after the
    number changed hands reaches who had it then.
    """
    return contact_find_or_create(
        wa_id=sender.wa_id,
        user_id=sender.user_id,
        profile_name=sender.profile_name,
        actor=_SYSTEM,
        sent_at=sent_at,
    )


@dataclass(frozen=True)
class IdentityChange:
    """What a ``user_changed_number`` or ``user_changed_user_id`` system message reports."""

    kind: str
    old_wa_id: str
    old_user_id: str
    new_wa_id: str
    new_user_id: str


def identity_change_of(message: dict) -> IdentityChange | None:
    """The identity change a system message reports; None for other system messages or no new id.

    ``user_changed_number`` comes from the old number (``from``) and carries the new wa_id in
    ``system.wa_id`` (older payloads: ``system.new_wa_id``); ``user_changed_user_id`` carries
    the new user id in ``system.user_id`` and the old one in ``system.previous_user_id``, which
    newer payloads also add to a number change.
    """
    system = as_dict(message.get("system"))
    kind = text(system.get("type"), 64).strip()
    old_wa_id = text(message.get("from"), 32).strip()
    new_user_id = text(system.get("user_id"), 128).strip()
    from_user_id = text(message.get("from_user_id"), 128).strip()
    old_user_id = text(system.get("previous_user_id"), 128).strip() or (
        from_user_id if from_user_id != new_user_id else ""
    )
    if kind == USER_CHANGED_NUMBER:
        new_wa_id = (text(system.get("wa_id"), 32) or text(system.get("new_wa_id"), 32)).strip()
        if not new_wa_id or new_wa_id == old_wa_id:
            return None
        return IdentityChange(kind, old_wa_id, old_user_id, new_wa_id, new_user_id)
    if kind == USER_CHANGED_USER_ID:
        if not new_user_id or new_user_id == old_user_id:
            return None
        return IdentityChange(kind, old_wa_id, old_user_id, "", new_user_id)
    return None


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


def _apply_identity_change(
    change: IdentityChange, *, message: dict, wamid: str, webhook_event: WebhookEvent
) -> Contact | None:
    """The contact after Meta's identity change; one that cannot be applied is logged, not raised.

    A refusal (the new wa_id is held by a row merged into someone else, say) leaves the contact
    as it was for staff to sort out; the message is still stored on the person it came from.
    """
    evidence = {
        "system_type": change.kind,
        "wamid": wamid,
        "webhook_event_id": webhook_event.pk,
        "body": text(as_dict(message.get("system")).get("body"), 500),
    }
    try:
        with transaction.atomic():
            return contact_identity_changed(
                old_wa_id=change.old_wa_id,
                old_user_id=change.old_user_id,
                new_wa_id=change.new_wa_id,
                new_user_id=change.new_user_id,
                actor=_SYSTEM,
                evidence=evidence,
            )
    except ApplicationError as exc:
        logger.warning("%s in %s not applied: %s", change.kind, wamid, exc)
        log_activity(
            actor=_SYSTEM,
            action="contact.identity_change_refused",
            details={**evidence, "error": exc.message, "code": exc.code},
        )
        return contact_match(wa_id=change.old_wa_id or None, user_id=change.old_user_id or None)
