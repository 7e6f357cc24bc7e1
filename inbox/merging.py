"""The inbox's part of a contact merge: one person, one conversation.

``contacts.merging.contact_merge`` sends ``contacts.signals.contact_merged`` inside its transaction
(messaging moves the messages on the same signal); this receiver, connected in ``InboxConfig.ready``,
folds the merged-away contact's conversation into the survivor's. A failure here rolls the whole
merge back. The folded row is deleted, so the activity log says on the survivor's conversation
which one it took in (``conversation.merged``): the folded row's own entries stay findable by its id.
"""

from __future__ import annotations

from django.utils import timezone

from contacts.models import Contact
from contacts.services import log_activity
from core.actors import Actor
from inbox.models import Conversation, ConversationNote, ConversationState

FOLDED = "conversations folded"
NOTES = "conversation notes moved"


def fold_conversations(
    sender, *, survivor: Contact, merged: Contact, actor: Actor, **kwargs
) -> dict[str, int]:
    """Move the merged-away contact's conversation to the survivor, or fold it into theirs.

    Folding keeps what is true of both: the notes (moved), the unread messages (summed), the later
    activity (its time, preview and who wrote last), the later inbound message, open if either is
    open, and the survivor's assignee unless they had none.
    """
    rows = {
        c.contact_id: c
        for c in Conversation.objects.select_for_update().filter(contact_id__in=[survivor.pk, merged.pk])
    }
    away = rows.get(merged.pk)
    if away is None:
        return {}
    kept = rows.get(survivor.pk)
    if kept is None:
        Conversation.objects.filter(pk=away.pk).update(contact_id=survivor.pk, changed_at=timezone.now())
        return {FOLDED: 1}
    away_pk = away.pk  # delete() clears it
    notes = ConversationNote.objects.filter(conversation_id=away.pk).update(conversation_id=kept.pk)
    kept.unread_count += away.unread_count
    if away.last_activity_at > kept.last_activity_at:
        kept.last_activity_at = away.last_activity_at
        kept.last_message_preview = away.last_message_preview
        kept.last_message_inbound = away.last_message_inbound
        kept.awaiting_reply = away.awaiting_reply
    if away.last_inbound_at and (kept.last_inbound_at is None or away.last_inbound_at > kept.last_inbound_at):
        kept.last_inbound_at = away.last_inbound_at
    if ConversationState.OPEN in (kept.state, away.state):
        kept.state = ConversationState.OPEN
        kept.resolved_at = None
    if kept.assigned_to_id is None:
        kept.assigned_to_id = away.assigned_to_id
    kept.created_at = min(kept.created_at, away.created_at)
    away.delete()
    kept.changed_at = timezone.now()
    kept.save()
    kept.contact = survivor  # names the entry without a query
    log_activity(
        actor=actor,
        action="conversation.merged",
        obj=kept,
        details={
            "conversation": kept.pk,
            "merged_conversation": away_pk,
            "contact": survivor.pk,
            "merged_contact": merged.pk,
            "notes_moved": notes,
            "unread_added": away.unread_count,
            "merged_state": away.state,
            "merged_assignee": away.assigned_to_id,
        },
    )
    return {FOLDED: 1, NOTES: notes}
