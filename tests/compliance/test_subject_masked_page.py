"""A masked data-subject page names the person without their number: a contact without a name is
labelled by its id and masked number, never by ``str(contact)`` (which falls back to the phone)."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import ContactFactory, opt_in

PAGE = "admin:compliance_datasubjectreport_report"
PHONE = "+4915198765432"
WA_ID = "4915198765432"


@pytest.fixture
def nameless(db):
    contact = ContactFactory(phone=PHONE, wa_id=WA_ID, first_name="", last_name="")
    opt_in(contact, evidence={"ip": "203.0.113.9", "user_agent": "Firefox/140"})
    return contact


def _export_only(editor):
    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    return type(editor).objects.get(pk=editor.pk)


def _assert_no_number(html: str, contact) -> None:
    assert PHONE not in html and WA_ID not in html
    assert f"Contact #{contact.pk}" in html and "+49…32" in html


def test_the_auditor_asking_for_a_masked_page_sees_no_number(client_for, auditor, nameless):
    page = client_for(auditor).get(reverse(PAGE, args=[nameless.pk]) + "?masked=1")
    assert page.status_code == 200
    _assert_no_number(page.content.decode(), nameless)


def test_a_reader_without_the_personal_data_right_sees_no_number(client_for, editor, nameless):
    page = client_for(_export_only(editor)).get(reverse(PAGE, args=[nameless.pk]))
    assert page.status_code == 200
    _assert_no_number(page.content.decode(), nameless)


def test_unmasked_the_auditor_sees_the_number_in_the_title(client_for, auditor, nameless):
    html = client_for(auditor).get(reverse(PAGE, args=[nameless.pk])).content.decode()
    assert f"<title>Data-subject report: Contact #{nameless.pk} ({PHONE})" in html
