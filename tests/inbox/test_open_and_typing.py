"""Opening a conversation clears its unread count and marks the person's messages read on WhatsApp
(a task after commit); the typing indicator is throttled; an Auditor's reading changes nothing."""

from datetime import timedelta

import pytest

from contacts.models import Purpose
from inbox import services, tasks
from inbox.models import Conversation
from messaging.models import InboundMessage
from tests.factories import opt_in, opt_out
from tests.inbox.thread_world import person_writes
from tests.sandbox import control, wait_until

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def test_an_agent_opening_it_clears_unread_and_queues_mark_read_on_the_latest(
    conversation,
    support,
    queued,
    django_capture_on_commit_callbacks,
):
    latest = person_writes(conversation.contact, "Second message")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.open_conversation(conversation, user=support) is True
    assert Conversation.objects.get().unread_count == 0
    assert queued == [(services.MARK_READ_TASK, latest.pk, False)]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.open_conversation(conversation, user=support) is False  # nothing new
    assert len(queued) == 1


def test_an_auditor_reading_changes_nothing_and_sends_nothing(
    conversation,
    auditor,
    editor,
    queued,
    django_capture_on_commit_callbacks,
):
    for user in (auditor, editor):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.open_conversation(conversation, user=user) is False
    assert Conversation.objects.get().unread_count == 1
    assert queued == []


def test_typing_is_sent_at_most_once_per_twenty_seconds_and_only_by_agents(
    conversation,
    support,
    auditor,
    queued,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.typing(conversation, user=support) is True
        assert services.typing(conversation, user=support) is False
    latest = InboundMessage.objects.get()
    assert queued == [(services.MARK_READ_TASK, latest.pk, True)]
    with pytest.raises(services.ApplicationError):
        services.typing(conversation, user=auditor)


def test_no_typing_to_someone_who_opted_out_of_everything_until_they_write_again(
    person, support, queued, django_capture_on_commit_callbacks
):
    stop = person_writes(person, "STOP ALL")
    opt_in(person, Purpose.SERVICE, occurred_at=stop.sent_at - timedelta(days=3))
    for purpose in (Purpose.MARKETING, Purpose.SERVICE):
        opt_out(person, purpose, occurred_at=stop.sent_at, evidence={"inbound_message_id": stop.pk})
    conversation = Conversation.objects.get(contact=person)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.typing(conversation, user=support) is False
    assert queued == []
    later = person_writes(person, "Wait, where is my parcel?", at=stop.sent_at + timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.typing(conversation, user=support) is True
    assert queued == [(services.MARK_READ_TASK, later.pk, True)]


def test_the_task_marks_the_message_read_in_the_sandbox(app_sandbox, person):
    wamid = control(app_sandbox, "inbound", {"from": person.phone, "kind": "text", "body": "Hi"})["wamid"]
    inbound = person_writes(person)
    InboundMessage.objects.filter(pk=inbound.pk).update(wamid=wamid)
    # The sandbox records the person's message a moment after answering: ask until it knows it.
    wait_until(lambda: tasks.mark_read(inbound.pk, True) == "typing")
    assert control(app_sandbox, "read_marks")["data"] == [wamid]
    assert tasks.mark_read(10**9) == "gone"
