"""Fixes from a browser walk-through of the thread page: what each role sees, and the flash after a note."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]


def url(name, conversation):
    return reverse(f"admin:inbox_conversation_{name}", args=[conversation.pk])


def test_take_is_hidden_once_the_viewer_has_the_conversation(client, support, conversation):
    client.force_login(support)
    assert 'id="inbox-take"' in client.get(url("change", conversation)).content.decode()
    client.post(url("assign", conversation), {"assignee": "me"})
    page = client.get(url("change", conversation)).content.decode()
    assert 'id="inbox-take"' not in page
    assert 'id="inbox-assignee"' in page  # giving it to someone else stays possible


def test_adding_a_note_says_so(client, support, conversation):
    client.force_login(support)
    response = client.post(url("note", conversation), {"text": "Called back"}, follow=True)
    assert "Note added" in response.content.decode()


def test_an_auditor_sees_the_page_is_read_only_and_that_there_are_no_notes(client, auditor, conversation):
    client.force_login(auditor)
    page = client.get(url("change", conversation)).content.decode()
    assert "Read-only: your reading marks nothing read." in page
    assert 'id="inbox-no-notes"' in page


def test_an_agent_sees_no_read_only_line_and_no_empty_notes_line_once_there_is_a_note(
    client, support, conversation
):
    client.force_login(support)
    client.post(url("note", conversation), {"text": "Called back"})
    page = client.get(url("change", conversation)).content.decode()
    assert "Read-only" not in page
    assert 'id="inbox-no-notes"' not in page
