"""The kinds messaging registers with the segment engine: received a message within N days."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from contacts.segments.compiler import members_q
from contacts.segments.registry import get_kind
from contacts.segments.rules import validate_rules
from messaging.models import MessageStatus
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import outbound

pytestmark = pytest.mark.django_db


def test_messaging_registers_its_kind_without_contacts_importing_messaging():
    kind = get_kind("received_message_within_days")
    assert kind is not None and kind.compile.__module__ == "messaging.segment_kinds"


def test_received_a_message_within_n_days():
    now = timezone.now()
    sent, delivered_long_ago, read, failed, queued, _nothing = (
        ContactFactory(first_name=name) for name in ("sent", "old", "read", "failed", "queued", "nothing")
    )
    outbound(sent, status=MessageStatus.SENT, sent_at=now - timedelta(days=3))
    outbound(delivered_long_ago, status=MessageStatus.DELIVERED, sent_at=now - timedelta(days=40))
    outbound(read, status=MessageStatus.READ, sent_at=now - timedelta(hours=1))
    # Never reached them: a failure after WhatsApp took it, and a message still waiting.
    outbound(failed, status=MessageStatus.FAILED, sent_at=now - timedelta(days=1))
    outbound(queued, status=MessageStatus.QUEUED)

    def members(days, op="all"):
        tree = validate_rules({"op": op, "rules": [{"kind": "received_message_within_days", "days": days}]})
        return sorted(Contact.objects.filter(members_q(tree)).values_list("first_name", flat=True))

    assert members(7) == ["read", "sent"]
    assert members(60) == ["old", "read", "sent"]
    assert members(7, op="none") == ["failed", "nothing", "old", "queued"]
