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
