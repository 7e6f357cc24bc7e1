"""The conversation list page and its poll: who may see them, what they show, bad input, and a
constant number of queries whatever the number of conversations."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import ActivityLogEntry
from inbox.models import Conversation
from tests.factories import UserFactory
from tests.inbox.test_conversation_list_selectors import conversation, grant_inbox_reading

pytestmark = pytest.mark.django_db

LIST = "admin:inbox_conversation_changelist"
POLL = "admin:inbox_conversation_poll"


@pytest.fixture(autouse=True)
def reading_granted(db):
    grant_inbox_reading()


@pytest.mark.parametrize("role", ["Support", "Auditor"])
def test_support_and_auditors_see_the_list_and_its_poll(client_for, role):
    client = client_for(UserFactory(role=role))
    made = conversation(minute=0, preview="Where is my parcel?")
    response = client.get(reverse(LIST))
    assert response.status_code == 200
    assert reverse("admin:inbox_conversation_change", args=[made.pk]) in response.content.decode()
    assert "Where is my parcel?" in response.content.decode()
    assert client.get(reverse(POLL)).status_code == 200


@pytest.mark.parametrize("role", ["Editor", "Approver", "Administrator"])
def test_roles_without_the_permission_get_403(client_for, role):
    client = client_for(UserFactory(role=role))
    conversation(minute=0)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse(POLL)).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(client):
    for name in (LIST, POLL):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_viewing_the_list_and_polling_marks_nothing_read(client_for, support):
    made = conversation(minute=0, waiting=True, unread=3)
    client = client_for(support)
    client.get(reverse(LIST))
    client.get(reverse(POLL))
    made.refresh_from_db()
    assert (made.unread_count, made.awaiting_reply) == (3, True)
    assert not ActivityLogEntry.objects.exists()


def test_tabs_show_unread_counts_and_keep_the_other_filter(client_for, support):
    conversation(minute=0, waiting=True, unread=2, assigned_to=support)
    conversation(minute=1, unread=1)
    response = client_for(support).get(reverse(LIST), {"state": "waiting", "assignee": "me"})
    context = response.context
    assert [(tab["key"], tab["unread"]) for tab in context["state_tabs"]] == [
        ("open", 1),
        ("waiting", 1),
        ("resolved", 0),
    ]
    assert [(tab["key"], tab["unread"]) for tab in context["assignee_tabs"]] == [
        ("me", 1),
        ("unassigned", 0),
        ("anyone", 1),
    ]
    assert "state=open&assignee=me" in context["state_tabs"][0]["url"]
    assert context["unread"] == 1
    assert "<title>(1) Conversations" in response.content.decode()


def test_what_a_person_wrote_is_shown_as_text(client_for, support):
    conversation(minute=0, preview="<script>alert(1)</script>")
    body = client_for(support).get(reverse(LIST)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_older_conversations_follow_the_cursor(client_for, support, monkeypatch):
    monkeypatch.setattr("inbox.views_list.PAGE_SIZE", 2)
    made = [conversation(minute=minute) for minute in range(3)]
    client = client_for(support)
    first = client.get(reverse(LIST))
    assert [row["id"] for row in first.context["rows"]] == [made[2].pk, made[1].pk]
    assert first.context["live"] is True
    second = client.get(first.context["older_url"])
    assert [row["id"] for row in second.context["rows"]] == [made[0].pk]
    assert second.context["older_url"] is None
    assert second.context["live"] is False and second.context["newest_url"]


def test_a_bad_filter_is_named_above_the_default_list(client_for, support):
    made = conversation(minute=0)
    response = client_for(support).get(reverse(LIST), {"state": "archived", "assignee": "me"})
    assert response.status_code == 400
    assert "“archived” is not a conversation filter" in response.context["error"]
    assert (response.context["state"], response.context["assignee"]) == ("open", "anyone")
    assert [row["id"] for row in response.context["rows"]] == [made.pk]


def test_a_bad_cursor_is_named_above_the_first_page_of_the_same_filter(client_for, support):
    made = conversation(minute=0, waiting=True)
    response = client_for(support).get(reverse(LIST), {"state": "waiting", "cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "damaged or out of date" in response.content.decode()
    assert response.context["state"] == "waiting"
    assert [row["id"] for row in response.context["rows"]] == [made.pk]
    assert response.context["live"] is True


def test_the_poll_answers_changed_rows_gone_ones_and_the_counts(client_for, support):
    stays, leaves = conversation(minute=0), conversation(minute=1)
    Conversation.objects.update(changed_at=timezone.now() - dt.timedelta(hours=1))
    client = client_for(support)
    response = client.get(reverse(LIST))
    assert 'data-complete="true"' in response.content.decode()
    since = response.context["since"]
    arrived = conversation(minute=10, waiting=True, unread=1, preview="Hello again")
    Conversation.objects.filter(pk=stays.pk).update(assigned_to=support, changed_at=timezone.now())
    Conversation.objects.filter(pk=leaves.pk).update(state="resolved", changed_at=timezone.now())
    data = client.get(reverse(POLL), {"state": "open", "assignee": "anyone", "since": since}).json()
    assert {row["id"] for row in data["rows"]} == {arrived.pk, stays.pk}
    new = next(row for row in data["rows"] if row["id"] == arrived.pk)
    assert new["preview"] == "Hello again" and new["waiting"] is True
    assert new["url"] == reverse("admin:inbox_conversation_change", args=[arrived.pk])
    assert next(row for row in data["rows"] if row["id"] == stays.pk)["assigned_to_me"] is True
    assert data["gone"] == [leaves.pk]
    assert data["since"] and data["since"] != since and data["more"] is False
    assert data["counts"] == {
        "state": {"open": 1, "waiting": 1, "resolved": 0},
        "assignee": {"me": 0, "unassigned": 1, "anyone": 1},
    }
    assert data["unread"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": "closed"}, "state"),
        ({"assignee": "nobody"}, "assignee"),
        ({"since": "tampered"}, "since"),
    ],
)
def test_the_poll_refuses_bad_input_with_a_400_naming_it(client_for, support, query, field):
    response = client_for(support).get(reverse(POLL), query)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["message"]


def _queries(client, url, **params) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("filters", [{}, {"state": "waiting", "assignee": "me"}, {"state": "resolved"}])
def test_the_number_of_queries_does_not_grow_with_the_conversations(
    client_for, support, django_assert_num_queries, filters
):
    client = client_for(support)
    for minute in range(5):
        conversation(minute=minute, waiting=True, unread=1, assigned_to=support)
    few = _queries(client, reverse(LIST), **filters)
    few_polls = _queries(client, reverse(POLL), **filters)
    for minute in range(5, 50):
        conversation(minute=minute, waiting=True, unread=1, assigned_to=support)
    Conversation.objects.filter(pk__in=Conversation.objects.values("pk")[:10]).update(state="resolved")
    with django_assert_num_queries(len(few)):
        client.get(reverse(LIST), filters)
    with django_assert_num_queries(len(few_polls)):
        client.get(reverse(POLL), filters)
    conversation_sql = [sql for sql in few + few_polls if "inbox_conversation" in sql]
    # The page and its counts; the poll's changed rows, its gone ones and the counts.
    assert len(conversation_sql) == 5
    assert not any("OFFSET" in sql.upper() for sql in conversation_sql)
    counts = [sql for sql in conversation_sql if "COUNT(" in sql.upper()]
    assert counts and all('"unread_count" > 0' in sql for sql in counts)
