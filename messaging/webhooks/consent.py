"""Consent a person gives or withdraws on WhatsApp: keywords, the opt-out button, Meta's signals.

Everything is recorded through ``contacts.services.record_consent`` with the inbound message (or
the webhook event) as evidence. Keywords and the button get a confirmation through the one send
path, as a reply inside the window the person just opened.

Each signal is recorded with a key naming it (docs/consent.md): ``wamid:<wamid>`` for an inbound
message, ``user_preferences:<wa or user id>:<value>:<Meta's timestamp>`` for Meta's signal, or — when
Meta sent no timestamp — the stored body's SHA-256 and the item's place in it. The database keeps
one event per key and purpose, so a replay, a second stored copy of the same body or a second
worker racing the first records nothing new: no look-before-insert here can be raced.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts.models import ActivityLogEntry, ConsentAction, ConsentEvent, ConsentSource, Contact, Purpose
from contacts.selectors import has_opt_in
from contacts.services import (
    OPT_IN_FROM_ANOTHER_ADDRESS,
    log_activity,
    record_consent,
    record_opt_out_everywhere,
)
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.sending.service import send_message
from messaging.webhooks.envelope import Change, as_dict, text, unix_time
from messaging.webhooks.inbound import Sender, contact_for
from messaging.webhooks.keywords import (
    KeywordAction,
    confirmation_text,
    match_keyword,
    normalize,
    opt_in_wording,
    reply_language,
)
from templates_app.components import buttons_of

logger = logging.getLogger(__name__)

KEYWORD_ACTOR = Actor.system("WhatsApp keyword")
BUTTON_ACTOR = Actor.system("WhatsApp opt-out button")
SIGNAL_ACTOR = Actor.system("WhatsApp user_preferences")
OPT_OUT_PAYLOAD_PREFIX = "optout:"


def act_on_inbound(*, inbound: InboundMessage, webhook_event: WebhookEvent) -> list[ConsentEvent]:
    """Record the consent a keyword or an opt-out button press asks for, and confirm it."""
    if inbound.type == "text":
        try:
            return _keyword(inbound, webhook_event)
        except ApplicationError as exc:
            if exc.code != OPT_IN_FROM_ANOTHER_ADDRESS:
                raise
            # A START from a number only a merged-away row keeps: logged for staff by
            # record_consent; nobody is opted in and nothing is confirmed (docs/consent.md).
            return []
    if inbound.type == "button":
        return _opt_out_button(inbound, webhook_event)
    return []


def apply_user_preference(
    *, item: Any, change: Change, item_index: int, senders: dict[str, Sender], webhook_event: WebhookEvent
) -> bool:
    """One ``user_preferences`` item: "stop" is a marketing opt-out; "resume"/"signup" only a note.

    Resuming in WhatsApp is not consent to our marketing (docs/consent.md), so it goes on the contact's
    timeline for staff to see, and current consent stays as it was. The person is named by
    ``wa_id`` or, for people Meta knows only by their business-scoped id, ``user_id``; someone we
    do not know yet becomes a contact (no consent implied) so that their STOP is on record when
    they are matched later. False when the item names nobody or no value.
    """
    item = as_dict(item)
    wa_id = _identifier(item.get("wa_id"), 32)
    user_id = _identifier(item.get("user_id"), 128)
    choice = text(item.get("value"), 32).strip().lower()
    if not (wa_id or user_id) or not choice:
        return False
    known = senders.get(wa_id) or senders.get(user_id)
    contact = contact_for(
        Sender(
            wa_id=wa_id or (known.wa_id if known else ""),
            user_id=user_id or (known.user_id if known else ""),
            profile_name=known.profile_name if known else "",
        )
    )
    if contact is None:
        return False
    meta_seconds = _meta_seconds(item.get("timestamp"))
    occurred_at = min(unix_time(item.get("timestamp")) or webhook_event.received_at, timezone.now())
    if meta_seconds:
        # Named by Meta's own identifier, not our row: the key stays the same after a merge.
        person = f"wa:{wa_id}" if wa_id else f"user:{user_id}"
        signal_key = f"user_preferences:{person}:{choice}:{meta_seconds}"
    else:
        # No time from Meta: the signal is this item of this body, the same in every stored copy.
        digest = hashlib.sha256(bytes(webhook_event.body)).hexdigest()
        signal_key = f"user_preferences:body:{digest}:{change.index}:{item_index}"
    details = {
        "webhook_event_id": webhook_event.pk,
        "wa_id": wa_id,
        "user_id": user_id,
        "value": choice,
        "category": text(item.get("category"), 64),
        "detail": text(item.get("detail"), 500),
        "timestamp": occurred_at.isoformat(),
        "meta_timestamp": meta_seconds,
        "signal_key": signal_key,
    }
    if choice == "stop":
        record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.WHATSAPP_SIGNAL,
            actor=SIGNAL_ACTOR,
            occurred_at=occurred_at,
            evidence=details,
            signal_key=signal_key,
        )
    else:
        _timeline_note(contact, choice, details)
    return True


def inbound_signal_key(inbound: InboundMessage) -> str:
    """The key of a consent signal sent as a message: its wamid, the same in every copy Meta sends."""
    return f"wamid:{inbound.wamid}"


# --- Keywords ---------------------------------------------------------------------------------


def _keyword(inbound: InboundMessage, webhook_event: WebhookEvent) -> list[ConsentEvent]:
    match = match_keyword(inbound.text)
    if match is None:
        return []
    contact = inbound.contact
    evidence = _evidence(inbound, webhook_event)
    when = inbound.sent_at
    if match.action == KeywordAction.OPT_OUT_ALL:
        events = record_opt_out_everywhere(
            contact=contact,
            source=ConsentSource.KEYWORD,
            actor=KEYWORD_ACTOR,
            occurred_at=when,
            evidence=evidence,
            signal_key=inbound_signal_key(inbound),
        )
    else:
        events = [
            record_consent(
                contact=contact,
                purpose=Purpose.MARKETING,
                action=ConsentAction.OPT_IN
                if match.action == KeywordAction.OPT_IN
                else ConsentAction.OPT_OUT,
                source=ConsentSource.KEYWORD,
                actor=KEYWORD_ACTOR,
                occurred_at=when,
                wording_text=opt_in_wording(match.keyword) if match.action == KeywordAction.OPT_IN else "",
                evidence=evidence,
                signal_key=inbound_signal_key(inbound),
                sent_from=_sent_from(inbound) if match.action == KeywordAction.OPT_IN else None,
            )
        ]
    language = reply_language(keyword_language=match.language, contact_language=contact.language)
    said = match.action
    if said == KeywordAction.OPT_IN and not has_opt_in(contact=events[0].contact, purpose=Purpose.MARKETING):
        # A STOP in the same whole second still wins (the order rule): say what is true now.
        said = KeywordAction.OPT_OUT
    _confirm(
        inbound, confirmation_text(action=said, purpose=Purpose.MARKETING, language=language), KEYWORD_ACTOR
    )
    return events


# --- The opt-out button -----------------------------------------------------------------------


def _opt_out_button(inbound: InboundMessage, webhook_event: WebhookEvent) -> list[ConsentEvent]:
    button = as_dict(inbound.payload.get("button"))
    payload = text(button.get("payload")).strip()
    purpose, credited = _from_payload(payload, inbound.contact)
    if purpose is None:
        purpose, credited = _from_button_text(text(button.get("text")), inbound)
    if purpose is None:
        return []
    evidence = _evidence(inbound, webhook_event) | {
        "button_payload": payload[:200],
        "button_text": inbound.text,
    }
    if credited is not None:
        evidence |= {
            "outbound_message_id": credited.pk,
            "outbound_message_public_id": str(credited.public_id),
        }
    event = record_consent(
        contact=inbound.contact,
        purpose=purpose,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.BUTTON,
        actor=BUTTON_ACTOR,
        occurred_at=inbound.sent_at,
        evidence=evidence,
        signal_key=inbound_signal_key(inbound),
    )
    language = reply_language(keyword_language="", contact_language=inbound.contact.language)
    _confirm(
        inbound,
        confirmation_text(action=KeywordAction.OPT_OUT, purpose=purpose, language=language),
        BUTTON_ACTOR,
    )
    return [event]


def _from_payload(payload: str, contact: Contact) -> tuple[str | None, OutboundMessage | None]:
    """``optout:<purpose>:<message uuid>``, as the send path sets it; credits the message if it is theirs."""
    if not payload.startswith(OPT_OUT_PAYLOAD_PREFIX):
        return None, None
    parts = payload.split(":")
    if len(parts) < 2 or parts[1] not in Purpose.values:
        return None, None
    credited = None
    if len(parts) >= 3:
        try:
            public_id = uuid.UUID(parts[2])
        except ValueError:
            public_id = None
        if public_id is not None:
            credited = OutboundMessage.objects.filter(public_id=public_id, contact=contact).first()
    return parts[1], credited


def _from_button_text(label: str, inbound: InboundMessage) -> tuple[str | None, OutboundMessage | None]:
    """No payload: the button the person pressed is the opt-out button of the template they answer."""
    message = inbound.in_reply_to
    version = message.template_version if message is not None else None
    if version is None or version.opt_out_button_index is None or not version.opt_out_purpose:
        return None, None
    buttons = buttons_of(version.components)
    if version.opt_out_button_index >= len(buttons):
        return None, None
    opt_out_label = text(buttons[version.opt_out_button_index].get("text"))
    if not label or normalize(label) != normalize(opt_out_label):
        return None, None
    return version.opt_out_purpose, message


# --- Meta's user_preferences ------------------------------------------------------------------


def _timeline_note(contact: Contact, choice: str, details: dict) -> None:
    """A note on the contact's timeline, once per signal (the activity log has no key of its own).

    The contact's row lock — the one ``record_consent`` takes — makes the look and the write one
    step, so two workers processing copies of one body cannot both add it.
    """
    Contact.objects.select_for_update().filter(pk=contact.pk).first()
    action = f"whatsapp.user_preferences.{choice}"[:64]
    already = ActivityLogEntry.objects.filter(
        action=action, object_id=str(contact.pk), details__signal_key=details["signal_key"]
    ).exists()
    if not already:
        log_activity(actor=SIGNAL_ACTOR, action=action, obj=contact, details=details)


def _identifier(value: Any, limit: int) -> str:
    """An identifier as given; "" when missing, not a string or number, or too long to be one.

    A too-long id is refused rather than cut: cut, it could name someone else.
    """
    found = text(value).strip()
    if len(found) > limit:
        logger.warning("user_preferences: an identifier of %d characters is not one; ignored", len(found))
        return ""
    return found


def _meta_seconds(value: Any) -> str:
    """Meta's timestamp as whole seconds ("" when absent), the same however it was written."""
    when = unix_time(value)
    if when is not None:
        return str(int(when.timestamp()))
    return text(value, 40).strip()


# --- Shared -----------------------------------------------------------------------------------


def _sent_from(inbound: InboundMessage) -> dict[str, str]:
    """The address the message came from, as Meta named it (an opt-in counts only from the contact's own)."""
    return {
        "wa_id": text(inbound.payload.get("from"), 32),
        "user_id": text(inbound.payload.get("from_user_id"), 128),
    }


def _evidence(inbound: InboundMessage, webhook_event: WebhookEvent) -> dict[str, Any]:
    return {"inbound_message_id": inbound.pk, "wamid": inbound.wamid, "webhook_event_id": webhook_event.pk}


def _confirm(inbound: InboundMessage, body: str, actor: Actor) -> None:
    """Send the confirmation as a reply. The consent is recorded whether or not it can be sent.

    One confirmation per inbound message: a signal acted on again (its events already recorded)
    is not confirmed twice.
    """
    if OutboundMessage.objects.filter(reply_to=inbound, is_reply=True).exists():
        return
    try:
        with transaction.atomic():
            send_message(contact=inbound.contact, actor=actor, text=body, reply_to=inbound)
    except NotImplementedError:
        logger.info("confirmation for inbound %s not sent: the send path is not there yet", inbound.pk)
    except ApplicationError as exc:
        logger.warning("confirmation for inbound %s refused: %s", inbound.pk, exc)
    except Exception:
        # An opt-out must stick even if the reply cannot be queued; the error is for the logs.
        logger.exception("confirmation for inbound %s failed", inbound.pk)
