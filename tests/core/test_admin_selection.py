"""A forged or garbled action selection gets a message on the list, never a 500."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTIONS = [
    ("admin:contacts_contact_changelist", "record_opt_out"),
    ("admin:contacts_contact_changelist", "merge_contacts"),
    ("admin:contacts_tag_changelist", "delete_selected"),
    ("admin:messaging_outboundmessage_changelist", "mark_failed"),
    ("admin:messaging_sendinghalt_changelist", "clear"),
    ("admin:auth_user_changelist", "deactivate"),
]


@pytest.mark.parametrize("value", ["abc", "1; DROP TABLE x", "99999999999999999999", ""])
@pytest.mark.parametrize("url,action", ACTIONS)
def test_a_selection_that_is_not_ids_is_refused_with_a_message(client, url, action, value):
    client.force_login(UserFactory(is_superuser=True))
    contact = ContactFactory()
    response = client.post(
        reverse(url), {"action": action, "index": "0", "_selected_action": [str(contact.pk), value]}
    )
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("not the id of" in m for m in shown), shown
