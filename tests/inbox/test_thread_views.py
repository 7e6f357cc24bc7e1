"""The thread page and its POSTs for every role: Support works, Auditors read (marking nothing read),
everyone else is refused; CSRF on every POST; the poll and earlier-pages endpoints."""

import pytest
from django.test import Client
from django.urls import reverse

from inbox.models import Conversation, ConversationNote, ConversationState
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]

ROLES = ["support", "editor", "approver", "auditor", "administrator"]
READERS = {"support", "auditor"}
AGENTS = {"support"}


def url(name, conversation, *args):
    return reverse(f"admin:inbox_conversation_{name}", args=[conversation.pk, *args])


@pytest.mark.parametrize("role", ROLES)
def test_the_page_for_each_role(role, request, client, conversation):
    user = request.getfixturevalue(role)
    client.force_login(user)
    response = client.get(url("change", conversation))
    if role not in READERS:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    page = response.content.decode()
    assert "The 24-hour window is open until" in page
    assert ('id="composer"' in page) == (role in AGENTS)
    assert ("inbox-resolve" in page) == (role in AGENTS)
    # An Auditor's reading never marks anything read.
    assert Conversation.objects.get().unread_count == (0 if role in AGENTS else 1)


def test_anonymous_is_sent_to_the_login(client, conversation):
    response = client.get(url("change", conversation))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.post(url("reply", conversation), {"tab": "text", "body": "Hi"}).status_code == 302
    assert not OutboundMessage.objects.exists()


POSTS = [
    ("reply", {"tab": "text", "body": "Happy to help", "seen_outbound_id": ""}),
    ("note", {"text": "Called back"}),
    ("assign", {"assignee": "me"}),
    ("resolve", {}),
    ("typing", {}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("action", "data"), POSTS)
def test_every_post_for_each_role(role, action, data, request, client, conversation):
    user = request.getfixturevalue(role)
    client.force_login(user)
    response = client.post(url(action, conversation), data)
    if role not in AGENTS:
        assert response.status_code == 403
        assert not OutboundMessage.objects.exists() and not ConversationNote.objects.exists()
        row = Conversation.objects.get()
        assert row.assigned_to is None and row.state == ConversationState.OPEN
        return
    assert response.status_code in (200, 302)


def test_posts_need_the_csrf_token(conversation, support):
    client = Client(enforce_csrf_checks=True)
    client.force_login(support)
    assert client.post(url("reply", conversation), {"tab": "text", "body": "Hi"}).status_code == 403
    assert not OutboundMessage.objects.exists()


def test_a_bad_reply_is_shown_with_its_reason_and_nothing_is_sent(client, support, conversation):
    client.force_login(support)
    too_many = {"tab": "list", "body": "Pick", "button": "Options", "row_1": "x" * 25}
    response = client.post(url("reply", conversation), too_many)
    assert response.status_code == 400
    assert "Ensure this value has at most 24 characters" in response.content.decode()
    response = client.post(url("reply", conversation), {"tab": "nonsense"})
    assert response.status_code == 400 and "Unknown kind of message" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_someone_replied_shows_their_message_and_the_retry_goes(client, support, conversation):
    from inbox import services
    from messaging.sending import content
    from tests.factories import UserFactory

    other = UserFactory(username="sasha_support", role="Support")
    first = services.reply(conversation, user=other, content=content.text("I'm on it"), seen_outbound_id=None)
    client.force_login(support)
    response = client.post(
        url("reply", conversation), {"tab": "text", "body": "Hello", "seen_outbound_id": ""}
    )
    assert response.status_code == 409
    assert "sasha_support sent a message" in response.content.decode()
    again = {"tab": "text", "body": "Hello", "seen_outbound_id": str(first.pk)}
    assert client.post(url("reply", conversation), again).status_code == 302
    assert OutboundMessage.objects.count() == 2


def test_poll_brings_new_messages_and_refuses_bad_values(client, auditor, conversation):
    from django.utils import timezone

    from tests.inbox.thread_world import person_writes

    client.force_login(auditor)
    since = timezone.now().isoformat()
    newer = person_writes(conversation.contact, "Are you there?")
    answer = client.get(
        url("poll", conversation), {"after_inbound": newer.pk - 1, "after_note": 0, "since": since}
    )
    assert answer.status_code == 200
    keys = [b["key"] for b in answer.json()["bubbles"]]
    assert keys == [f"in-{newer.pk}"]
    assert Conversation.objects.get().unread_count == 2  # the Auditor's poll marks nothing read
    bad = client.get(url("poll", conversation), {"after_inbound": "x", "after_note": 0, "since": since})
    assert bad.status_code == 400 and "after_inbound" in bad.json()["error"]
    assert client.get(url("earlier", conversation), {"before": "junk"}).status_code == 400
