"""The conversation list's reads: filters, order, unread counts, keyset pages, bad input (the poll's
changes: ``test_conversation_list_changes``).

The world helpers here (``conversation``, ``grant_inbox_reading``) serve the list's view tests too.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from core.errors import ApplicationError
from inbox import selectors
from inbox.models import Conversation, ConversationState
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
RESOLVED = ConversationState.RESOLVED


def conversation(
    *, minute, state=ConversationState.OPEN, waiting=False, unread=0, assigned_to=None, preview="Hi"
):
    """A conversation whose last activity was ``minute`` minutes after T0."""
    return Conversation.objects.create(
        contact=ContactFactory(),
        state=state,
        awaiting_reply=waiting,
        unread_count=unread,
        assigned_to=assigned_to,
        last_activity_at=T0 + dt.timedelta(minutes=minute),
        last_message_preview=preview,
    )


def grant_inbox_reading() -> None:
    """Support and Auditors read conversations (inbox 0002_roles grants it too; this is idempotent)."""
    permission = Permission.objects.get(content_type__app_label="inbox", codename="view_conversation")
    for role in ("Support", "Auditor"):
        Group.objects.get(name=role).permissions.add(permission)


def ids(rows):
    return [row.id for row in rows]


def page(user, state="open", assignee="anyone", cursor=None, limit=50):
    return selectors.conversation_page(user=user, state=state, assignee=assignee, cursor=cursor, limit=limit)


@pytest.fixture
def world(support):
    other = UserFactory(username="olga_other", role="Support")
    return {
        "mine_waiting": conversation(minute=6, waiting=True, unread=2, assigned_to=support),
        "unassigned_waiting": conversation(minute=5, waiting=True, unread=1),
        "others_answered": conversation(minute=4, assigned_to=other),
        "unassigned_answered": conversation(minute=3),
        "mine_resolved": conversation(minute=2, state=RESOLVED, assigned_to=support),
        "resolved_unread": conversation(minute=1, state=RESOLVED, unread=1),
        # Resolved while someone still waited: not "waiting on us" any more.
        "resolved_waiting": conversation(minute=0, state=RESOLVED, waiting=True),
    }


@pytest.mark.parametrize(
    ("state", "assignee", "expected"),
    [
        ("open", "anyone", ["mine_waiting", "unassigned_waiting", "others_answered", "unassigned_answered"]),
        ("open", "me", ["mine_waiting"]),
        ("open", "unassigned", ["unassigned_waiting", "unassigned_answered"]),
        ("waiting", "anyone", ["mine_waiting", "unassigned_waiting"]),
        ("waiting", "unassigned", ["unassigned_waiting"]),
        ("resolved", "anyone", ["mine_resolved", "resolved_unread", "resolved_waiting"]),
        ("resolved", "me", ["mine_resolved"]),
    ],
)
def test_each_filter_lists_its_conversations_newest_activity_first(world, support, state, assignee, expected):
    assert ids(page(support, state, assignee).rows) == [world[name].pk for name in expected]


def test_a_row_says_who_what_and_whether_we_owe_an_answer(world, support):
    support.first_name, support.last_name = "Sam", "Support"
    support.save()
    contact = world["mine_waiting"].contact
    row = page(support, "waiting", "me").rows[0]
    assert (row.contact_name, row.contact_number) == (contact.display_name, contact.phone)
    assert (row.preview, row.unread_count, row.waiting, row.state) == ("Hi", 2, True, "open")
    assert (row.assignee, row.assigned_to_me) == ("Sam Support", True)
    other = page(support, "open", "anyone").rows[2]
    assert (other.assignee, other.assigned_to_me, other.waiting) == ("olga_other", False, False)
    assert page(support, "resolved").rows[2].waiting is False


def test_counts_are_unread_conversations_for_every_pair_of_filters(world, support):
    counts = selectors.filter_counts(user=support)
    assert counts == {
        "open": {"me": 1, "unassigned": 1, "anyone": 2},
        "waiting": {"me": 1, "unassigned": 1, "anyone": 2},
        "resolved": {"me": 0, "unassigned": 1, "anyone": 1},
    }


def test_keyset_pages_walk_the_list_once_with_equal_times_ordered_by_id(support):
    made = [conversation(minute=minute // 2) for minute in range(7)]  # pairs share a time
    expected = [c.pk for c in sorted(made, key=lambda c: (c.last_activity_at, c.pk), reverse=True)]
    seen, cursor = [], None
    for _ in range(4):
        current = page(support, cursor=cursor, limit=3)
        seen += ids(current.rows)
        cursor = current.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert cursor is None


def test_new_activity_between_pages_loses_no_row_and_repeats_none(support):
    made = [conversation(minute=minute) for minute in range(8)]  # made[7] is the newest
    first = page(support, limit=3)
    assert ids(first.rows) == [made[7].pk, made[6].pk, made[5].pk]
    # Between the pages: a new person writes, a shown and an unseen conversation get messages.
    newcomer = conversation(minute=100)
    for moved in (made[6], made[2]):
        Conversation.objects.filter(pk=moved.pk).update(
            last_activity_at=T0 + dt.timedelta(minutes=101), changed_at=timezone.now()
        )
    rest, cursor = [], first.next_cursor
    while cursor:
        current = page(support, cursor=cursor, limit=3)
        rest += ids(current.rows)
        cursor = current.next_cursor
    assert rest == [made[4].pk, made[3].pk, made[1].pk, made[0].pk]  # an OFFSET would repeat made[5]
    newer = selectors.conversations_since(user=support, state="open", assignee="anyone", since=first.since)
    assert {newcomer.pk, made[6].pk, made[2].pk} <= set(ids(newer.rows))
    shown = ids(first.rows) + rest + ids(newer.rows)
    assert set(shown) == {c.pk for c in [*made, newcomer]}


@pytest.mark.parametrize(
    ("state", "assignee", "code", "field"),
    [("pending", "anyone", "unknown_state", "state"), ("open", "everyone", "unknown_assignee", "assignee")],
)
def test_an_unknown_filter_is_refused_naming_it(support, state, assignee, code, field):
    with pytest.raises(ApplicationError) as refused:
        page(support, state, assignee)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert f"“{state if field == 'state' else assignee}”" in refused.value.message


def test_a_damaged_or_forged_cursor_is_refused(support):
    for minute in range(3):
        conversation(minute=minute)
    cursor = page(support, limit=1).next_cursor
    payload, signature = cursor.rsplit(":", 1)
    forged = f"{payload[:-2]}xx:{signature}"
    for bad in ("garbage", cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), forged, "a:b:c"):
        with pytest.raises(ApplicationError) as refused:
            page(support, cursor=bad, limit=1)
        assert (refused.value.code, refused.value.field) == ("bad_cursor", "cursor")


def test_a_cursor_of_another_filter_is_refused(support):
    for minute in range(3):
        conversation(minute=minute, waiting=True)
    cursor = page(support, "waiting", limit=1).next_cursor
    with pytest.raises(ApplicationError) as refused:
        page(support, "open", cursor=cursor, limit=1)
    assert refused.value.code == "cursor_for_another_filter"
    assert "Waiting on us" in refused.value.message


@pytest.mark.parametrize("limit", [0, -1, selectors.MAX_PAGE_SIZE + 1])
def test_a_page_size_out_of_range_is_refused(support, limit):
    with pytest.raises(ApplicationError) as refused:
        page(support, limit=limit)
    assert (refused.value.code, refused.value.field) == ("bad_limit", "limit")
