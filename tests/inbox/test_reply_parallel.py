"""Two agents answer the same conversation at the same moment, each from its own connection, both
pages having shown the same newest message of ours: exactly one reply is queued, the other agent is
refused with ``someone_replied`` naming the first, and their page shows who sent what (409).

The interleaving is forced, not hoped for: the first agent's request holds the conversation's row
lock until the second one's is seen waiting on it in PostgreSQL (``pg_stat_activity``); only then
does the first go on and commit.
"""

import threading

import pytest
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse

from contacts.models import ActivityLogEntry
from core.actors import Actor
from inbox import services
from inbox.conversations import record_inbound
from inbox.models import Conversation
from messaging.models import OutboundMessage
from messaging.sending import content
from messaging.sending.service import send_message
from tests.factories import ContactFactory, UserFactory
from tests.locks import someone_waits_on_a_lock
from tests.messaging.conftest import inbound_message
from tests.sandbox import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_of_two_agents_replying_at_once_exactly_one_is_queued_and_the_other_is_told_who(monkeypatch):
    person = ContactFactory(phone="+4915112345678", first_name="Pablo")
    with transaction.atomic():  # as the webhook stores it
        written = inbound_message(person, "Is my order on its way?")
        record_inbound(written)
    conversation = Conversation.objects.get()
    earlier = send_message(  # both agents' pages show this one as our newest
        contact=person, actor=Actor.system(), content=content.text("We got your message."), reply_to=written
    )
    first_agent = UserFactory(username="sasha_support", role="Support")
    second_agent = UserFactory(username="sam_support", role="Support")

    first_holds_the_lock = threading.Event()
    release = threading.Event()
    real_check = services._refuse_if_someone_replied

    def check(contact, *, user, seen_outbound_id):
        # Runs right after reply() took the conversation's row lock.
        if user == first_agent:
            first_holds_the_lock.set()
            assert release.wait(30)
        return real_check(contact, user=user, seen_outbound_id=seen_outbound_id)

    monkeypatch.setattr(services, "_refuse_if_someone_replied", check)
    url = reverse("admin:inbox_conversation_reply", args=[conversation.pk])
    answers = {}

    def agent(user, text, before=None):
        try:
            if before is not None:
                assert before.wait(30)
            client = Client()
            client.force_login(user)
            data = {"tab": "text", "body": text, "seen_outbound_id": str(earlier.pk)}
            answers[user.username] = client.post(url, data)
        finally:
            connections.close_all()  # this thread's connection

    first = threading.Thread(target=agent, args=(first_agent, "It left the warehouse today."))
    second = threading.Thread(
        target=agent,
        args=(second_agent, "Let me check that for you."),
        kwargs={"before": first_holds_the_lock},
    )
    first.start()
    second.start()
    try:
        wait_until(someone_waits_on_a_lock, timeout=10)  # the second agent's request waits on the row
    finally:
        release.set()
        first.join(30)
        second.join(30)
    assert not first.is_alive() and not second.is_alive()

    assert answers["sasha_support"].status_code == 302
    refused = answers["sam_support"]
    assert refused.status_code == 409
    page = refused.content.decode()
    assert 'data-code="someone_replied"' in page
    assert "sasha_support sent a message since you loaded this conversation" in page
    assert "It left the warehouse today." in page  # theirs is quoted, and drawn in the thread
    assert "Let me check that for you." in page  # the refused agent's words are kept in the composer

    replies = OutboundMessage.objects.filter(pk__gt=earlier.pk)
    assert [(m.actor_user, m.rendered_text) for m in replies] == [
        (first_agent, "It left the warehouse today.")
    ]
    assert list(
        ActivityLogEntry.objects.filter(action="conversation.replied").values_list("actor_label", flat=True)
    ) == ["sasha_support"]
