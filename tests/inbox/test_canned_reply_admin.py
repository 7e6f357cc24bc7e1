"""Canned replies in the admin: what agents may send is a change the activity log keeps — an
Editor's addition and every change, with who made it."""

import pytest
from django.urls import reverse

from contacts.models import ActivityLogEntry
from inbox.models import CannedReply

pytestmark = pytest.mark.django_db


def test_an_editor_s_addition_and_change_are_in_the_activity_log(client, editor):
    client.force_login(editor)
    data = {"title": "Opening hours", "language": "en", "body": "Open 9-5, {{first_name}}.", "active": "on"}
    response = client.post(reverse("admin:inbox_cannedreply_add"), data)
    assert response.status_code == 302
    canned = CannedReply.objects.get()
    response = client.post(
        reverse("admin:inbox_cannedreply_change", args=[canned.pk]), {**data, "body": "Open 9-6."}
    )
    assert response.status_code == 302
    entries = ActivityLogEntry.objects.filter(object_type="inbox.cannedreply").order_by("pk")
    assert [(e.action, e.object_id, e.actor_user) for e in entries] == [
        ("cannedreply.added", str(canned.pk), editor),
        ("cannedreply.changed", str(canned.pk), editor),
    ]
    assert entries[1].details["change"]  # names the changed field


def test_a_refused_body_changes_nothing_and_logs_nothing(client, editor):
    client.force_login(editor)
    data = {"title": "Hi", "language": "en", "body": "Hello {{frist_name}}", "active": "on"}
    response = client.post(reverse("admin:inbox_cannedreply_add"), data)
    assert response.status_code == 200
    assert "frist_name" in response.content.decode()
    assert not CannedReply.objects.exists()
    assert not ActivityLogEntry.objects.filter(object_type="inbox.cannedreply").exists()
