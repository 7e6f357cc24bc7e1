"""A conversation is created by a person's first message and follows every later one."""

import pytest

from contacts.models import ActivityLogEntry
from inbox.models import Conversation, ConversationState
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import deliver, inbound, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

T0 = 1_750_000_000


def test_the_first_message_creates_the_conversation_and_later_ones_count(deliver):  # noqa: F811
    contact = ContactFactory(phone="+4915112345678")
    deliver(text_message("Hello, is my order on its way?", at=T0))
    deliver(inbound("image", {"id": "media-1", "mime_type": "image/jpeg", "caption": ""}, at=T0 + 5))
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.state == ConversationState.OPEN
    assert conversation.unread_count == 2
    assert conversation.awaiting_reply is True
    assert conversation.last_message_preview == "📷 Photo"
    assert conversation.last_inbound_at.timestamp() == T0 + 5


def test_an_older_message_delivered_late_counts_but_does_not_become_the_preview(deliver):  # noqa: F811
    ContactFactory(phone="+4915112345678")
    deliver(text_message("Second", at=T0 + 10))
    deliver(text_message("First", at=T0))
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "Second"
    assert conversation.last_activity_at.timestamp() == T0 + 10


def test_a_new_message_reopens_a_resolved_conversation_and_says_so(deliver):  # noqa: F811
    ContactFactory(phone="+4915112345678")
    deliver(text_message("Thanks, all good", at=T0))
    Conversation.objects.update(state=ConversationState.RESOLVED, awaiting_reply=False, unread_count=0)
    deliver(text_message("Actually, one more thing", at=T0 + 60))
    conversation = Conversation.objects.get()
    assert conversation.state == ConversationState.OPEN
    assert conversation.awaiting_reply is True
    entry = ActivityLogEntry.objects.get(action="conversation.reopened")
    assert entry.object_id == str(conversation.pk)


def test_any_reply_answers_the_conversation_unless_the_person_wrote_again(deliver):  # noqa: F811
    from core.actors import Actor
    from messaging.models import InboundMessage
    from messaging.sending.service import send_message

    contact = ContactFactory(phone="+4915112345678")
    deliver(text_message("Can I change my appointment?"))
    question = InboundMessage.objects.get()
    contact.refresh_from_db()  # the webhook opened the window
    send_message(
        contact=contact, actor=Actor.system("survey"), text="Which day suits you?", reply_to=question
    )
    conversation = Conversation.objects.get()
    assert (conversation.awaiting_reply, conversation.last_message_inbound) == (False, False)
    assert conversation.last_message_preview == "Which day suits you?"

    deliver(text_message("Tuesday"))
    send_message(
        contact=contact, actor=Actor.system("survey"), text="Noted.", reply_to=question
    )  # answers the older one
    conversation.refresh_from_db()
    assert conversation.awaiting_reply is True
    assert conversation.last_message_preview == "Tuesday"
