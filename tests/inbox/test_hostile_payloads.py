"""A signed webhook is stored as received, so a message may hold a string, a list, a number or a null
where Meta documents an object. Each is stored with its conversation, and its thread still draws —
on the page, in the poll and on the conversation list — for every kind WhatsApp delivers."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation
from inbox.thread import thread_changes, thread_page
from messaging.models import InboundMessage
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import deliver, inbound  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

T0 = int(timezone.now().timestamp()) - 600
ODD = ["a string", ["a", "list"], 42, None, True, {"nested": {"deeper": ["x"]}}]
HUGE = 10**400  # JSON holds it; float() refuses it

KINDS = {
    "text": lambda v: {"body": v},
    "image": lambda v: {"id": v, "mime_type": v, "caption": v},
    "document": lambda v: {"id": "m-1", "filename": v, "caption": v},
    "location": lambda v: {"latitude": v, "longitude": v, "name": v, "address": v},
    "contacts": lambda v: [{"name": v, "phones": v}, v],
    "reaction": lambda v: {"message_id": v, "emoji": v},
    "interactive": lambda v: {"type": "button_reply", "button_reply": v, "list_reply": v},
    "button": lambda v: {"text": v, "payload": v},
    "order": lambda v: {"catalog_id": v, "product_items": v, "text": v},
    "unsupported": lambda v: {"errors": v},
    "brand_new_kind": lambda v: v,
}


def shapes():
    for kind, build in KINDS.items():
        yield pytest.param(kind, ODD, id=f"{kind}-inner")
        yield pytest.param(kind, [build(v) for v in ODD], id=f"{kind}-whole")
    yield pytest.param(
        "location", [{"latitude": HUGE, "longitude": 1}, {"latitude": "nan"}], id="location-huge"
    )
    yield pytest.param("reaction", [{"message_id": "wamid.x", "emoji": ["👍"]}], id="reaction-emoji-list")


@pytest.mark.parametrize(("kind", "contents"), list(shapes()))
def test_every_inbound_kind_of_an_odd_shape_is_stored_and_drawn(
    deliver,  # noqa: F811
    client,
    support,
    kind,
    contents,
):
    contact = ContactFactory(phone="+4915112345678")
    build = KINDS.get(kind, lambda v: v)
    for index, content in enumerate(contents):
        value = content if contents is not ODD else build(content)
        assert deliver(inbound(kind, value, at=T0 + index)).status_code == 200
    stored = InboundMessage.objects.filter(contact=contact).count()
    assert stored == len(contents)
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.unread_count == stored
    assert len(thread_page(conversation).bubbles) == stored
    since = timezone.now() - timedelta(hours=1)
    assert len(thread_changes(conversation, after_inbound=0, after_note=0, outbound_since=since)) == stored

    client.force_login(support)
    assert client.get(reverse("admin:inbox_conversation_change", args=[conversation.pk])).status_code == 200
    poll = client.get(
        reverse("admin:inbox_conversation_poll", args=[conversation.pk]),
        {"after_inbound": 0, "after_note": 0, "since": since.isoformat()},
    )
    assert poll.status_code == 200 and len(poll.json()["bubbles"]) == stored
    assert client.get(reverse("admin:inbox_conversation_changelist")).status_code == 200


def test_a_reaction_that_is_not_an_object_is_the_conversation_s_preview(deliver):  # noqa: F811
    contact = ContactFactory(phone="+4915112345678")
    deliver(inbound("reaction", "👍", at=T0))
    assert Conversation.objects.get(contact=contact).last_message_preview == "Reacted"
    deliver(inbound("reaction", {"message_id": "wamid.x", "emoji": {"x": 1}}, at=T0 + 1))
    assert Conversation.objects.get(contact=contact).last_message_preview == "Reacted"
