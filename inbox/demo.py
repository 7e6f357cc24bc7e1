"""Demo conversations for `make run`, so the support inbox has something to work on.

A few demo contacts "wrote" in the last days: each message is stored as an ``InboundMessage``
built as the webhook builds one (``message_text`` reads the payload) and goes through
``record_inbound``, the path a real message takes, with the contact's 24-hour window moved as the
webhook moves it. Some windows are open (free replies), one closed two days ago (templates only).
Deterministic and safe to run twice: a message already stored is skipped.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from contacts.models import Contact
from contacts.phones import normalize_phone
from inbox.conversations import record_inbound
from inbox.models import CannedReply
from messaging.models import InboundMessage
from messaging.webhooks.inbound import message_text, open_window

# (phone of a contacts.demo person, minutes ago, kind, the kind's object as WhatsApp sends it)
MESSAGES = [
    ("+49 151 23456701", 14, "text", {"body": "Hallo! Meine Bestellung DEMO-1001 ist noch nicht da."}),
    ("+49 151 23456701", 12, "text", {"body": "Können Sie bitte nachsehen?"}),
    (
        "+39 312 345 6703",
        95,
        "image",
        {"id": "demo-media-1", "mime_type": "image/jpeg", "caption": "Arrivato rotto"},
    ),
    ("+44 7911 123456", 35, "location", {"latitude": 51.5072, "longitude": -0.1276, "name": "Trafalgar Sq"}),
    (
        "+55 11 91234-5670",
        180,
        "button",
        {"text": "Confirm", "payload": "appointment:confirm"},
    ),
    (
        "+52 55 1234 5670",
        60,
        "interactive",
        {"type": "list_reply", "list_reply": {"id": "size-m", "title": "Size M", "description": "Medium"}},
    ),
    ("+33 6 12 34 56 70", 2 * 24 * 60, "text", {"body": "Merci pour la livraison rapide !"}),
]


def seed_conversations() -> int:
    """Store the demo's inbound messages not stored yet; returns how many were new."""
    now = timezone.now()
    created = 0
    for index, (phone, minutes_ago, kind, content) in enumerate(MESSAGES):
        wamid = f"wamid.DEMO-INBOX-{index}"
        contact = Contact.objects.filter(phone=normalize_phone(phone)).first()
        if contact is None or InboundMessage.objects.filter(wamid=wamid).exists():
            continue
        sent_at = now - timedelta(minutes=minutes_ago)
        payload = {
            "from": contact.phone.lstrip("+"),
            "id": wamid,
            "timestamp": str(int(sent_at.timestamp())),
            "type": kind,
            kind: content,
        }
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                wamid=wamid,
                contact=contact,
                type=kind,
                text=message_text(payload, kind),
                payload=payload,
                sent_at=sent_at,
            )
            record_inbound(inbound)
            open_window(contact=contact, at=sent_at)
        created += 1
    return created


# Canned replies an agent picks in the composer, one per language of the demo people.
CANNED_REPLIES = [
    (
        "Order delayed",
        "en",
        "Hi {{first_name}}, sorry for the wait: your order is on its way and should arrive within two days.",
    ),
    (
        "Order delayed",
        "de",
        "Hallo {{first_name}}, entschuldigen Sie die Verzögerung: Ihre Bestellung ist unterwegs "
        "und kommt in zwei Tagen an.",
    ),
    (
        "Damaged item",
        "en",
        "Hi {{first_name}}, we are sorry it arrived damaged. Send us a photo and we will replace it at once.",
    ),
]


def seed_canned_replies() -> int:
    """The demo's canned replies; returns how many were created (none the second time)."""
    created = 0
    for title, language, body in CANNED_REPLIES:
        _, made = CannedReply.objects.get_or_create(title=title, language=language, defaults={"body": body})
        created += made
    return created
