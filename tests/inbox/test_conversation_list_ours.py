"""The list marks our last message "Us:": it may be a colleague's, an automation's or a campaign's,
so the list never claims the viewer wrote it."""

import pytest
from django.urls import reverse

from inbox.models import Conversation
from tests.factories import UserFactory
from tests.inbox.test_conversation_list_selectors import conversation, grant_inbox_reading

pytestmark = pytest.mark.django_db


def test_our_last_message_is_ours_not_the_viewers(client):
    grant_inbox_reading()
    row = conversation(minute=1, preview="Your order shipped")
    Conversation.objects.filter(pk=row.pk).update(last_message_inbound=False)
    client.force_login(UserFactory(role="Auditor"))
    page = client.get(reverse("admin:inbox_conversation_changelist")).content.decode()
    assert ">Us: </span>Your order shipped" in page
    assert "You:" not in page
