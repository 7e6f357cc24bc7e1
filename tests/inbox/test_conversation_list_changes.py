"""The conversation list's poll (``inbox.selectors.conversations_since``): every change of a
conversation row comes to the page once — new activity, read, assigned, answered, resolved,
reopened, merged — a row that left the page's filter comes as gone, and a change committed late
is still found."""

import datetime as dt

import pytest
from django.utils import timezone

from contacts.merging import contact_merge
from core.actors import Actor
from core.errors import ApplicationError
from inbox import selectors, services
from inbox.models import Conversation, ConversationState
from messaging.sending import content
from tests.factories import ContactFactory, UserFactory
from tests.inbox.test_conversation_list_selectors import conversation, ids, page
from tests.inbox.thread_world import person_writes

pytestmark = pytest.mark.django_db


def poll(user, since, state="open", assignee="anyone", limit=50):
    return selectors.conversations_since(user=user, state=state, assignee=assignee, since=since, limit=limit)


def written_to_us(contact=None) -> Conversation:
    """A conversation whose person wrote (its window is open), changed long before any poll."""
    contact = contact or ContactFactory()
    person_writes(contact, "Where is my parcel?")
    made = Conversation.objects.get(contact=contact)
    age(made)
    return Conversation.objects.get(pk=made.pk)


def age(*conversations) -> None:
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
        changed_at=timezone.now() - dt.timedelta(hours=1)
    )


def resolved(made: Conversation, support) -> Conversation:
    services.resolve(made, by=support)
    age(made)
    return Conversation.objects.get(pk=made.pk)


def change_inbound(made, support):
    person_writes(made.contact, "Any news?")


def change_read(made, support):
    assert services.open_conversation(made, user=support)


def change_assigned(made, support):
    services.assign(made, to=support, by=support)


def change_answered(made, support):
    services.reply(made, user=support, content=content.text("On its way!"), seen_outbound_id=None)


def change_reopened(made, support):
    services.reopen(resolved(made, support), by=support)


def change_merged(made, support):
    twin = written_to_us()
    contact_merge(survivor=made.contact, merged=twin.contact, actor=Actor.for_user(support), reason="same")


CHANGES = {
    "a message from the person": (
        change_inbound,
        lambda row: row.preview == "Any news?" and row.unread_count == 2,
    ),
    "read by an agent": (change_read, lambda row: row.unread_count == 0),
    "assigned": (change_assigned, lambda row: row.assigned_to_me),
    "answered": (change_answered, lambda row: not row.waiting and not row.last_message_inbound),
    "reopened": (change_reopened, lambda row: row.state == ConversationState.OPEN),
    "merged": (change_merged, lambda row: row.unread_count == 2),
}


@pytest.mark.parametrize("kind", CHANGES)
def test_each_kind_of_change_comes_once(support, monkeypatch, kind):
    monkeypatch.setattr(selectors, "CHANGE_SLACK", dt.timedelta(0))  # no look-back: nothing comes again
    made, untouched = written_to_us(), written_to_us()
    since = page(support).since
    assert not poll(support, since).rows  # nothing changed since the page was read
    change, shows = CHANGES[kind]
    change(made, support)
    changes = poll(support, since)
    assert ids(changes.rows) == [made.pk] and changes.gone == []
    assert shows(changes.rows[0])
    assert untouched.pk not in ids(changes.rows)
    again = poll(support, changes.since)
    assert again.rows == [] and again.gone == []


def test_a_row_that_left_the_filter_comes_as_gone(support):
    stays, leaves = written_to_us(), written_to_us()
    since = page(support).since
    services.resolve(leaves, by=support)
    services.open_conversation(stays, user=support)
    changes = poll(support, since)
    assert ids(changes.rows) == [stays.pk]
    assert changes.gone == [leaves.pk]
    age(stays, leaves)
    resolved_since = page(support, "resolved").since
    services.reopen(leaves, by=support)
    assert poll(support, resolved_since, "resolved").gone == [leaves.pk]


def test_under_assigned_to_me_rows_enter_and_leave_with_their_assignee(support):
    colleague = UserFactory(username="olga_other", role="Support")
    mine, coming = written_to_us(), written_to_us()
    services.assign(mine, to=support, by=support)
    age(mine)
    since = page(support, assignee="me").since
    services.assign(mine, to=colleague, by=colleague)
    services.assign(coming, to=support, by=colleague)
    changes = poll(support, since, assignee="me")
    assert ids(changes.rows) == [coming.pk] and changes.rows[0].assigned_to_me
    assert changes.gone == [mine.pk]


def test_a_change_committed_after_a_later_poll_is_still_found(support):
    """Stamped before the page was read, committed (visible) only after: the slack finds it."""
    first = page(support)
    read_at = timezone.now()
    late = conversation(minute=0)
    Conversation.objects.filter(pk=late.pk).update(changed_at=read_at - dt.timedelta(minutes=1))
    too_late = conversation(minute=1)
    beyond = read_at - selectors.CHANGE_SLACK - dt.timedelta(minutes=1)
    Conversation.objects.filter(pk=too_late.pk).update(changed_at=beyond)
    changes = poll(support, first.since)
    assert ids(changes.rows) == [late.pk]  # a transaction longer than the slack is not followed


def test_more_changes_than_one_answer_holds_ask_for_a_reload(support):
    since = page(support).since
    made = [conversation(minute=minute) for minute in range(5)]
    changes = poll(support, since, limit=3)
    assert len(changes.rows) == 3 and changes.more
    assert ids(changes.rows) == [c.pk for c in reversed(made)][:3]  # last changed first


def test_rows_sent_again_within_the_slack_do_not_ask_for_a_reload(support):
    made = [conversation(minute=minute) for minute in range(5)]
    since = page(support).since  # every row changed before the page was read: sent again, not new
    again = poll(support, since, limit=3)
    assert len(again.rows) == 3 and not again.more
    assert set(ids(again.rows)) <= {c.pk for c in made}


def test_without_a_starting_point_the_poll_starts_now(support):
    recent = conversation(minute=0)
    changes = poll(support, None)
    assert ids(changes.rows) == [recent.pk] and not changes.more
    assert ids(poll(support, changes.since).rows) == [recent.pk]  # within the slack, sent again


def test_a_page_cursor_or_another_filters_point_is_refused_as_since(support):
    for minute in range(3):
        conversation(minute=minute)
    cursor = page(support, limit=1).next_cursor
    for bad in (cursor, "garbage", page(support).since[:-1] + "x"):
        with pytest.raises(ApplicationError) as refused:
            poll(support, bad)
        assert (refused.value.code, refused.value.field) == ("bad_cursor", "since")
    with pytest.raises(ApplicationError) as refused:
        poll(support, page(support, "waiting").since)
    assert (refused.value.code, refused.value.field) == ("cursor_for_another_filter", "since")
    assert "Waiting on us" in refused.value.message
