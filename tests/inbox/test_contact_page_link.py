"""The contact's page links to their conversation for who may read conversations."""

import pytest
from django.urls import reverse

pytest_plugins = ["tests.inbox.thread_world"]

pytestmark = pytest.mark.django_db


def contact_page(client, contact) -> str:
    response = client.get(reverse("admin:contacts_contact_change", args=[contact.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_support_and_auditors_see_the_link_to_the_conversation(client_for, support, auditor, conversation):
    thread = reverse("admin:inbox_conversation_change", args=[conversation.pk])
    for user in (support, auditor):
        assert f'href="{thread}"' in contact_page(client_for(user), conversation.contact)


def test_no_link_without_the_permission_or_without_a_conversation(client_for, editor, support, conversation):
    from tests.factories import ContactFactory

    assert "conversation-link" not in contact_page(client_for(editor), conversation.contact)
    assert "conversation-link" not in contact_page(client_for(support), ContactFactory())
