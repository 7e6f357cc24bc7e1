"""A message matched to a contact just before a merge of that contact commits is stored on the
survivor: the message, its window and its conversation follow the person."""

import pytest

import messaging.webhooks.inbound as inbound_module
from contacts.merging import contact_merge
from core.actors import Actor
from inbox.models import Conversation
from messaging.models import InboundMessage
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_a_message_matched_before_a_merge_committed_lands_on_the_survivor(deliver, monkeypatch):  # noqa: F811
    survivor = ContactFactory(phone="+4915112345678")
    merged = ContactFactory(phone="+4915187654321")
    real = inbound_module.contact_for

    def matched_then_merged(sender, **kwargs):
        real(sender, **kwargs)
        contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="Same person")
        return merged  # what the matcher had found before the merge committed

    monkeypatch.setattr(inbound_module, "contact_for", matched_then_merged)
    deliver(text_message("Is my order on its way?", wa_id="4915187654321"))
    message = InboundMessage.objects.get()
    assert message.contact_id == survivor.pk
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert survivor.last_inbound_at == message.sent_at
    assert merged.last_inbound_at is None
    assert Conversation.objects.get().contact_id == survivor.pk
