"""Two contacts found to be one person: the merged-away contact's conversation folds into the survivor's."""

import pytest

from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry
from core.actors import Actor
from inbox import services
from inbox.conversations import record_inbound
from inbox.models import Conversation, ConversationNote
from tests.factories import ContactFactory
from tests.inbox.thread_world import person_writes
from tests.messaging.conftest import inbound_message

pytestmark = pytest.mark.django_db


def test_notes_move_unread_adds_up_and_the_later_activity_stays(support):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4915187654321")
    person_writes(survivor, "first")
    person_writes(merged, "second")
    person_writes(merged, "third, the latest")
    services.add_note(Conversation.objects.get(contact=merged), author=support, text="VIP")
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(support), reason="same person")
    (kept,) = Conversation.objects.all()
    assert kept.contact == survivor
    assert kept.unread_count == 3
    assert kept.last_message_preview == "third, the latest"
    assert ConversationNote.objects.get().conversation == kept


def test_a_conversation_of_the_merged_away_contact_alone_moves_over(support):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4915187654321")
    person_writes(merged, "hello")
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(support), reason="same person")
    assert Conversation.objects.get().contact == survivor


def test_the_survivor_s_conversation_logs_which_conversation_it_took_in(support):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4915187654321")
    person_writes(survivor, "first")
    person_writes(merged, "second")
    away = Conversation.objects.get(contact=merged)
    services.add_note(away, author=support, text="VIP")
    services.resolve(away, by=support)
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(support), reason="same person")
    (kept,) = Conversation.objects.all()
    entry = ActivityLogEntry.objects.get(action="conversation.merged")
    assert (entry.object_type, entry.object_id, entry.actor_label) == (
        "inbox.conversation",
        str(kept.pk),
        support.username,
    )
    assert entry.details == {
        "conversation": kept.pk,
        "merged_conversation": away.pk,
        "contact": survivor.pk,
        "merged_contact": merged.pk,
        "notes_moved": 1,
        "unread_added": 1,
        "merged_state": "resolved",
        "merged_assignee": None,
    }
    # The folded conversation's own entries are found by the id the merge names.
    assert ActivityLogEntry.objects.filter(
        object_type="inbox.conversation", object_id=str(away.pk), action="conversation.resolved"
    ).exists()


def test_a_message_matched_just_before_the_merge_counts_on_the_survivor_s_conversation(support):
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4915187654321")
    person_writes(survivor, "first")
    person_writes(merged, "second")
    # The webhook matched the merged-away row and stored the message on it; the merge then
    # committed first (it moved every message it could see, and folded the conversations).
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(support), reason="same person")
    late = inbound_message(merged, "third, matched before the merge")
    record_inbound(late)
    (kept,) = Conversation.objects.all()
    assert kept.contact == survivor
    assert kept.unread_count == 3
    assert kept.last_message_preview == "third, matched before the merge"
