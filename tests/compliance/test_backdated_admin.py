"""The back-dated opt-out report's admin page: who may open it, its rows, masking, bad input, the log."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from contacts.models import ActivityLogEntry, ConsentAction, ConsentEvent, ConsentSource
from core.actors import Actor
from core.roles import ROLES
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from tests.factories import ContactFactory, UserFactory

PAGE = "admin:compliance_backdatedoptoutreport_changelist"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def late_stop(db):
    """A STOP typed in from a paper form: it happened at 9:05 and was recorded at 9:20; a message
    left at 9:10 in between."""
    contact = ContactFactory()
    stop = ConsentEvent(
        contact=contact,
        purpose="marketing",
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.STAFF,
        evidence={"form": "paper 17", "ip": "198.51.100.4"},
        occurred_at=T0 + timedelta(minutes=5),
        recorded_at=T0 + timedelta(minutes=20),
    )
    stop.set_actor(Actor.system("tests"))
    stop.save()
    message = OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose="marketing",
        status=MessageStatus.DELIVERED,
        accepted_at=T0 + timedelta(minutes=10),
        actor_kind="system",
        actor_label="tests",
    )
    return stop, message


@pytest.mark.parametrize("role", ROLES)
def test_only_the_auditor_of_the_five_roles_may_open_it(client_for, role, db):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    assert client_for(user).get(reverse(PAGE)).status_code == (200 if role == "Auditor" else 403)


def test_the_page_lists_the_message_and_the_opt_out_and_logs_the_reading(client_for, auditor, late_stop):
    stop, message = late_stop

    text = client_for(auditor).get(reverse(PAGE)).content.decode()

    assert "<strong>1</strong> row" in text
    assert str(message.public_id) in text and f"#{stop.pk}" in text
    assert "ip: 198.51.100.4" in text
    entry = ActivityLogEntry.objects.get(action="compliance.exported")
    assert entry.details["report"] == "backdated_opt_outs" and entry.details["rows"] == 1
    assert entry.actor_user == auditor


def test_a_period_limits_the_rows(client_for, auditor, late_stop):
    client = client_for(auditor)
    inside = client.get(reverse(PAGE), {"since": "2026-03-01", "until": "2026-03-01"}).content.decode()
    outside = client.get(reverse(PAGE), {"since": "2026-03-02", "until": "2026-03-05"}).content.decode()
    assert "<strong>1</strong> row" in inside
    assert (
        "<strong>0</strong> rows" in outside and "No message was sent after a back-dated opt-out." in outside
    )


def test_evidence_is_masked_without_the_personal_data_permission(client_for, editor, late_stop):
    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))

    text = client_for(editor).get(reverse(PAGE)).content.decode()

    assert "198.51.100.4" not in text and "ip: masked" in text and "form: paper 17" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-03-05", "until": "2026-03-01"}, "before it starts"),
        ({"since": "yesterday", "until": "2026-03-01"}, "Correct the period"),
    ],
)
def test_a_bad_period_is_refused_with_a_message(client_for, auditor, late_stop, query, message):
    response = client_for(auditor).get(reverse(PAGE), query)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()
