"""Two contacts found to be one person: the merged-away contact's conversation folds into the survivor's."""

import pytest

from contacts.merging import contact_merge
from core.actors import Actor
from inbox import services
from inbox.models import Conversation, ConversationNote
from tests.factories import ContactFactory
from tests.inbox.thread_world import person_writes

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
