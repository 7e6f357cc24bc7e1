"""Consent a person gives or withdraws on WhatsApp: keywords, the opt-out button, Meta's signals.

Everything is recorded through ``contacts.services.record_consent`` with the inbound message (or
the webhook event) as evidence. Keywords and the button get a confirmation through the one send
path, as a reply inside the window the person just opened.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts.models import ActivityLogEntry, ConsentAction, ConsentEvent, ConsentSource, Contact, Purpose
from contacts.services import log_activity, record_consent, record_opt_out_everywhere
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.sending.service import send_message
from messaging.webhooks.envelope import as_dict, as_list, text, unix_time
from messaging.webhooks.inbound import Sender, contact_for, senders_of
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
        return _keyword(inbound, webhook_event)
    if inbound.type == "button":
        return _opt_out_button(inbound, webhook_event)
    return []


def apply_user_preferences(*, value: dict, webhook_event: WebhookEvent) -> None:
    """Meta's ``user_preferences``: "stop" is a marketing opt-out; "resume"/"signup" only a note.

    Resuming in WhatsApp is not consent to our marketing (DESIGN.md), so it goes on the contact's
    timeline for staff to see, and current consent stays as it was.
    """
    senders = senders_of(value)
    for item in as_list(value.get("user_preferences")):
        item = as_dict(item)
        wa_id = text(item.get("wa_id"), 32).strip()
        choice = text(item.get("value"), 32).strip().lower()
        if not wa_id or not choice:
            continue
        contact = contact_for(senders.get(wa_id) or Sender(wa_id=wa_id, user_id="", profile_name=""))
        if contact is None:
            continue
        occurred_at = min(unix_time(item.get("timestamp")) or webhook_event.received_at, timezone.now())
        details = {
            "webhook_event_id": webhook_event.pk,
            "wa_id": wa_id,
            "value": choice,
            "category": text(item.get("category"), 64),
            "detail": text(item.get("detail"), 500),
            "timestamp": occurred_at.isoformat(),
            # Meta's own timestamp identifies a signal delivered again (ours may be clamped to now).
            "meta_timestamp": text(item.get("timestamp"), 20) or f"webhook:{webhook_event.pk}",
        }
        if choice == "stop":
            _signal_opt_out(contact, occurred_at, details)
        else:
            _timeline_note(contact, choice, details)


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
            )
        ]
    language = reply_language(keyword_language=match.language, contact_language=contact.language)
    _confirm(
        inbound,
        confirmation_text(action=match.action, purpose=Purpose.MARKETING, language=language),
        KEYWORD_ACTOR,
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


def _signal_opt_out(contact: Contact, occurred_at, details: dict) -> None:
    already = ConsentEvent.objects.filter(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.WHATSAPP_SIGNAL,
        evidence__meta_timestamp=details["meta_timestamp"],
    ).exists()
    if already:
        return  # the same signal delivered again
    record_consent(
        contact=contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.WHATSAPP_SIGNAL,
        actor=SIGNAL_ACTOR,
        occurred_at=occurred_at,
        evidence=details,
    )


def _timeline_note(contact: Contact, choice: str, details: dict) -> None:
    action = f"whatsapp.user_preferences.{choice}"[:64]
    already = ActivityLogEntry.objects.filter(
        action=action, object_id=str(contact.pk), details__meta_timestamp=details["meta_timestamp"]
    ).exists()
    if not already:
        log_activity(actor=SIGNAL_ACTOR, action=action, obj=contact, details=details)


# --- Shared -----------------------------------------------------------------------------------


def _evidence(inbound: InboundMessage, webhook_event: WebhookEvent) -> dict[str, Any]:
    return {"inbound_message_id": inbound.pk, "wamid": inbound.wamid, "webhook_event_id": webhook_event.pk}


def _confirm(inbound: InboundMessage, body: str, actor: Actor) -> None:
    """Send the confirmation as a reply. The consent is recorded whether or not it can be sent."""
    try:
        with transaction.atomic():
            send_message(contact=inbound.contact, actor=actor, text=body, reply_to=inbound, is_reply=True)
    except NotImplementedError:
        logger.info("confirmation for inbound %s not sent: the send path is not there yet", inbound.pk)
    except ApplicationError as exc:
        logger.warning("confirmation for inbound %s refused: %s", inbound.pk, exc)
    except Exception:
        # An opt-out must stick even if the reply cannot be queued; the error is for the logs.
        logger.exception("confirmation for inbound %s failed", inbound.pk)
