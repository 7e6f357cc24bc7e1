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
