"""The conversation list in the browser: a person's new message appears without a reload, a
conversation with new activity moves to the top, one a colleague resolves leaves the "Open" list,
one assigned to the viewer shows it, and the tabs' counts follow (inbox/static/inbox/list.js)."""

import pytest
from django.urls import reverse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_new_activity_appears_without_a_reload(login, live_server, monkeypatch):
    import datetime as dt

    from django.utils import timezone

    from inbox import services, views_list
    from inbox.models import Conversation
    from tests.factories import UserFactory
    from tests.inbox.test_conversation_list_selectors import conversation, grant_inbox_reading

    monkeypatch.setattr(views_list, "POLL_INTERVAL_MS", 200)
    grant_inbox_reading()
    agent = UserFactory(username="sam", role="Support")
    now = timezone.now()
    older = conversation(minute=0, preview="First question")
    newer = conversation(minute=1, preview="Second question")
    Conversation.objects.filter(pk=older.pk).update(last_activity_at=now - dt.timedelta(minutes=5))
    Conversation.objects.filter(pk=newer.pk).update(last_activity_at=now - dt.timedelta(minutes=4))

    browser_page = login(agent)
    browser_page.goto(f"{live_server.url}{reverse('admin:inbox_conversation_changelist')}")
    rows = "#inbox-list tbody tr"
    assert browser_page.locator(rows).count() == 2
    assert browser_page.locator('[data-count-state="open"]').is_hidden()  # nothing unread

    arrived = conversation(minute=0, waiting=True, unread=1, preview="<b>Hello</b> from a new person")
    Conversation.objects.filter(pk=arrived.pk).update(last_activity_at=now)
    browser_page.wait_for_function("document.querySelectorAll('#inbox-list tbody tr').length === 3")
    first = browser_page.locator(rows).first
    assert first.get_attribute("data-id") == str(arrived.pk)
    assert "<b>Hello</b> from a new person" in first.inner_text()  # text, not markup
    assert "waiting on us" in first.inner_text()
    assert browser_page.inner_text('[data-count-state="open"]') == "1"
    assert browser_page.title().startswith("(1) ")

    Conversation.objects.filter(pk=older.pk).update(
        last_activity_at=now + dt.timedelta(seconds=1),
        last_message_preview="Any news?",
        changed_at=timezone.now(),
    )
    browser_page.wait_for_function(
        f"document.querySelector('#inbox-list tbody tr').dataset.id === '{older.pk}'"
    )
    assert browser_page.locator(rows).count() == 3  # moved, not repeated
    assert "Any news?" in browser_page.locator(rows).first.inner_text()
    assert [browser_page.locator(rows).nth(i).get_attribute("data-id") for i in range(3)] == [
        str(older.pk),
        str(arrived.pk),
        str(newer.pk),
    ]

    colleague = UserFactory(username="olga", role="Support")
    services.resolve(arrived, by=colleague)
    services.assign(newer, to=agent, by=colleague)
    # Two commits: wait until the page shows both.
    browser_page.wait_for_function(
        "([gone, mine]) => !document.querySelector(`#inbox-list tr[data-id='${gone}']`) && "
        "document.querySelector(`#inbox-list tr[data-id='${mine}'] .inbox-assignee`).textContent === 'me'",
        arg=[arrived.pk, newer.pk],
    )
    assert [browser_page.locator(rows).nth(i).get_attribute("data-id") for i in range(2)] == [
        str(older.pk),
        str(newer.pk),
    ]
    assert browser_page.locator('[data-count-state="open"]').is_hidden()  # the unread one left "Open"
