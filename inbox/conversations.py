"""Keeping a contact's conversation in step with what arrives: created by the first inbound message,
reopened by any later one, and its list row (preview, unread, waiting on us) brought up to date.

Called inside the transaction that stores the inbound message (``messaging.signals``), so the
conversation and the message commit together; the row is locked, so two messages of one person
processed at once both count. Every write stamps ``changed_at``, so the list's poll brings the row.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from contacts.models import Contact
from contacts.services import log_activity
from core.actors import Actor
from inbox.models import Conversation, ConversationState
from messaging.models import InboundMessage, OutboundMessage
from messaging.webhooks.envelope import as_dict, text

PREVIEW_LENGTH = 200
_SYSTEM = Actor.system("support inbox")

# What the list shows for a message without text of its own.
KIND_LABELS = {
    "image": "📷 Photo",
    "video": "🎬 Video",
    "audio": "🎤 Voice message",
    "document": "📄 Document",
    "sticker": "Sticker",
    "location": "📍 Location",
    "contacts": "👤 Contact card",
    "reaction": "Reaction",
    "interactive": "Answer",
    "button": "Button",
    "order": "🛒 Order",
    "unsupported": "A message WhatsApp could not show",
}


def preview_of(inbound: InboundMessage) -> str:
    """One line for the conversation list: the text, else what kind of message it is."""
    label = KIND_LABELS.get(inbound.type, inbound.type)
    if inbound.type == "reaction":
        # The payload is stored as received: an odd shape must not fail the webhook's transaction.
        emoji = text(as_dict(as_dict(inbound.payload).get("reaction")).get("emoji"))
        return f"Reacted {emoji}".strip()
    words = " ".join(inbound.text.split())
    if not words:
        return label
    if inbound.type in ("image", "video", "document", "location"):
        words = f"{label}: {words}"
    return words[:PREVIEW_LENGTH]


def locked_conversation(contact_id: int) -> tuple[Conversation, bool]:
    """The contact's conversation, locked for this transaction; created if there is none yet."""
    conversation = Conversation.objects.select_for_update().filter(contact_id=contact_id).first()
    if conversation is not None:
        return conversation, False
    try:
        with transaction.atomic():
            return Conversation.objects.create(contact_id=contact_id), True
    except IntegrityError:  # created by a concurrent message of the same person
        return Conversation.objects.select_for_update().get(contact_id=contact_id), False


def record_inbound(inbound: InboundMessage) -> Conversation:
    """Bring the person's conversation up to date with a message they sent (any kind).

    The message names the contact the webhook matched; if a merge committed meanwhile, that row
    now points to its survivor, whose conversation took in its own. The pointer is read with the
    contact's row locked — the lock the merge holds until it commits — so a message matched just
    before a merge counts on the survivor's conversation instead of making a new one.
    """
    contact_id = _person_of(inbound.contact_id)
    conversation, created = locked_conversation(contact_id)
    reopened = conversation.state == ConversationState.RESOLVED
    conversation.state = ConversationState.OPEN
    conversation.resolved_at = None
    conversation.unread_count += 1
    # Meta may deliver an older message after a newer one: the list shows the newest.
    if created or conversation.last_inbound_at is None or inbound.sent_at >= conversation.last_inbound_at:
        conversation.last_inbound_at = inbound.sent_at
    if created or inbound.sent_at >= conversation.last_activity_at:
        conversation.last_activity_at = inbound.sent_at
        conversation.last_message_preview = preview_of(inbound)
        conversation.last_message_inbound = True
        conversation.awaiting_reply = True
    conversation.changed_at = timezone.now()
    conversation.save()
    if reopened:
        if contact_id == inbound.contact_id:
            conversation.contact = inbound.contact  # loaded by the webhook: names the entry without a query
        log_activity(
            actor=_SYSTEM,
            action="conversation.reopened",
            obj=conversation,
            details={"by": "a new message from the person", "inbound_message": inbound.pk},
        )
    return conversation


def _person_of(contact_id: int) -> int:
    """The contact whose conversation holds this contact's messages: itself, or the survivor it
    was merged into (a merge points every earlier merged row at the last survivor)."""
    merged_into = (
        Contact.objects.select_for_update(no_key=True)  # taken by the webhook's own window update too
        .filter(pk=contact_id)
        .values_list("merged_into_id", flat=True)
        .first()
    )
    return merged_into or contact_id


def record_answer(message: OutboundMessage) -> None:
    """The person has been answered (an agent's reply or template, a survey's next question, the
    STOP confirmation): the conversation leaves "waiting on us" and shows what we sent — unless
    the person wrote again since, which still waits. One UPDATE; no conversation is created (a
    campaign or an API send alone never makes one)."""
    preview = " ".join(message.rendered_text.split())[:PREVIEW_LENGTH]
    at = message.created_at
    # A reply answers what the person had written up to the message it quotes; anything else
    # (a template outside the window) what they had written up to now.
    answered_up_to = message.reply_to.sent_at if message.reply_to_id is not None else at
    Conversation.objects.filter(contact_id=message.contact_id).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lte=answered_up_to)
    ).update(
        awaiting_reply=False,
        last_message_inbound=False,
        last_message_preview=preview,
        last_activity_at=Greatest("last_activity_at", Value(at)),
        changed_at=timezone.now(),
    )
