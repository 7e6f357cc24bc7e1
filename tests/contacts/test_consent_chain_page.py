"""The Auditor sees on the compliance pages when the consent ledger was last verified, with what
result, and its latest anchor (docs/consent-chain.md, "On the Auditor's pages")."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from compliance.templatetags import ledger_status
from contacts import ledger_chain
from contacts.ledger_chain import anchor_heads
from contacts.ledger_verify import VERIFIED_ACTION
from contacts.models import ActivityLogEntry
from tests.contacts.test_consent_chain import history, raw

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/compliance/consentauditexport/",
    "/admin/compliance/consentauditexport/at/",
    "/admin/compliance/",
]


def status_of(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('id="ledger-status"')
    return " ".join(html[start : html.index("</div>", start)].split())


@pytest.mark.parametrize("url", PAGES)
def test_a_ledger_never_verified_says_so(client_for, auditor, url):
    status = status_of(client_for(auditor).get(url))
    assert "Ledger last verified: <strong>never verified</strong>" in status
    assert "Latest anchor: none yet" in status


@pytest.mark.parametrize("url", PAGES)
def test_a_verified_ledger_shows_when_ok_and_how_many_events_and_the_anchor(
    client_for, auditor, contact, monkeypatch, url
):
    monkeypatch.setattr(ledger_chain, "ANCHOR_MARGIN", timedelta(0))
    history(contact)
    anchor = anchor_heads()
    call_command("verify_ledger")
    entry = ActivityLogEntry.objects.get(action=VERIFIED_ACTION)
    status = status_of(client_for(auditor).get(url))
    assert f"Ledger last verified: {timezone.localtime(entry.occurred_at):%Y-%m-%d %H:%M:%S}" in status
    assert "<strong>OK</strong>, 4 events of 1 contact" in status
    assert (
        f"<code>{anchor.digest[:16]}…</code> at {timezone.localtime(anchor.at):%Y-%m-%d %H:%M:%S}" in status
    )
    assert "covering 4 events in 1 chain" in status
    assert "overdue" not in status


@pytest.mark.postgres
def test_a_failed_verification_names_the_event_the_contact_and_the_reason(client_for, auditor, contact):
    events = history(contact)
    raw("UPDATE contacts_consentevent SET action = 'opt_in' WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError):
        call_command("verify_ledger")
    status = status_of(client_for(auditor).get(PAGES[0]))
    assert f"FAILED</strong> at event {events[1].pk} (contact {contact.pk}): mac_mismatch" in status


def test_a_resumed_run_and_an_old_result_are_flagged(client_for, auditor, contact, monkeypatch):
    history(contact)
    call_command("verify_ledger", "--after-contact", str(contact.pk))  # nothing after: 0 events
    status = status_of(client_for(auditor).get(PAGES[0]))
    assert "a resumed run: only part of the ledger" in status
    # The activity log is append-only, so the result cannot be made old: the threshold is moved.
    monkeypatch.setattr(ledger_status, "OVERDUE_AFTER", timedelta(seconds=-60))
    status = status_of(client_for(auditor).get(PAGES[0]))
    assert "overdue: the daily verification has not run for days" in status


def test_only_users_who_may_export_see_it(client_for, editor, support, approver):
    for user in (editor, support, approver):
        client = client_for(user)
        assert client.get(PAGES[0]).status_code == 403
        response = client.get(reverse("admin:index"))
        assert 'id="ledger-status"' not in response.content.decode()
