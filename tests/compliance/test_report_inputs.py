"""Inputs the compliance reports used to read silently in their own way: a phone and a contact id
together, and the back-dated page's size."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.forms import ConsentAtForm, ConsentExportForm
from contacts.models import ActivityLogEntry
from tests.factories import ContactFactory


@pytest.mark.parametrize("form_class", [ConsentExportForm, ConsentAtForm])
def test_a_phone_and_a_contact_together_are_refused(db, form_class):
    ana, bea = ContactFactory(), ContactFactory()
    form = form_class(
        {"purpose": "marketing", "at": "2026-05-01T00:00", "phone": ana.phone, "contact": bea.pk}
    )
    assert not form.is_valid()
    assert "either a phone number or a contact id" in str(form.errors)


def test_the_export_page_says_so(client_for, auditor, db):
    ana = ContactFactory()
    page = client_for(auditor).get(
        reverse("admin:compliance_consentauditexport_changelist") + f"?phone={ana.phone}&contact={ana.pk}"
    )
    assert "either a phone number or a contact id" in page.content.decode()


def test_the_command_says_so(db):
    ana = ContactFactory()
    with pytest.raises(CommandError, match="either a phone number or a contact id"):
        call_command("compliance_export", "consent_audit", "--phone", ana.phone, "--contact", str(ana.pk))
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


def test_the_back_dated_page_counts_all_and_reads_only_the_rows_it_shows(
    client_for, auditor, db, monkeypatch
):
    from datetime import UTC, datetime, timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from contacts.models import ConsentAction, ConsentSource
    from messaging.models import MessageKind, MessageStatus, OutboundMessage
    from tests.factories import ledger_event

    monkeypatch.setattr("compliance.admin_proof.BACKDATED_PAGE_ROWS", 2)
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    contact = ContactFactory()
    ledger_event(
        contact, action=ConsentAction.OPT_IN, source=ConsentSource.WEB_FORM, occurred_at=t0, recorded_at=t0
    )
    ledger_event(
        contact,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.KEYWORD,
        occurred_at=t0 + timedelta(hours=1),
        recorded_at=t0 + timedelta(hours=9),
    )
    for hour in (2, 3, 4):
        OutboundMessage.objects.create(
            contact=contact,
            kind=MessageKind.TEMPLATE,
            purpose="marketing",
            status=MessageStatus.DELIVERED,
            accepted_at=t0 + timedelta(hours=hour),
            actor_kind="system",
            actor_label="tests",
        )
    with CaptureQueriesContext(connection) as queries:
        page = client_for(auditor).get(reverse("admin:compliance_backdatedoptoutreport_changelist"))
    html = page.content.decode()
    assert "<strong>3</strong> rows" in html and "the first 2 are shown" in html
    assert html.count('class="backdated-row"') == 2 or len(page.context["rows"]) == 2
    assert any("LIMIT" in q["sql"].upper() and "OPT_OUT" in q["sql"].upper() for q in queries)
    assert ActivityLogEntry.objects.get(action="compliance.exported").details["rows"] == 3


def test_the_proof_for_a_period_selects_messages_by_when_they_were_sent(db):
    """Queued late on one day, accepted by WhatsApp on the next: it belongs to the day it was sent.
    A message that never left is placed by when it was queued."""
    from datetime import UTC, datetime, timedelta

    from compliance.campaign_proof import period_scope, proof_messages
    from messaging.models import MessageKind, MessageStatus, OutboundMessage

    day = datetime(2026, 5, 1, tzinfo=UTC)
    contact = ContactFactory()

    def message(created, accepted, status=MessageStatus.DELIVERED):
        m = OutboundMessage.objects.create(
            contact=contact,
            kind=MessageKind.TEMPLATE,
            purpose="marketing",
            status=status,
            accepted_at=accepted,
            actor_kind="system",
            actor_label="tests",
        )
        OutboundMessage.objects.filter(pk=m.pk).update(created_at=created)
        return m.pk

    late = message(day + timedelta(hours=23, minutes=59), day + timedelta(days=1, minutes=1))
    same_day = message(day + timedelta(hours=10), day + timedelta(hours=10, seconds=2))
    never_left = message(day + timedelta(hours=12), None, status=MessageStatus.SKIPPED)

    def selected(first, last):
        scope = period_scope(since=first, until=last)
        return set(proof_messages(scope).values_list("pk", flat=True))

    assert selected(day, day + timedelta(days=1)) == {same_day, never_left}
    assert selected(day + timedelta(days=1), day + timedelta(days=2)) == {late}
