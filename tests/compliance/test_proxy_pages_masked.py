"""The compliance proxies' read-only pages (they exist so the role test finds a change page) show
no phone number to a reader without ``compliance.view_personal_data``."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from messaging.models import MessageKind, MessageStatus, OutboundMessage
from tests.factories import ContactFactory

PHONE = "+4915198765432"


@pytest.fixture
def message(db):
    contact = ContactFactory(phone=PHONE, wa_id=PHONE[1:], first_name="", last_name="")
    return OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEXT,
        purpose="service",
        status=MessageStatus.DELIVERED,
        rendered_text=f"Your number {PHONE} is registered",
        actor_kind="system",
        actor_label="tests",
    )


def _export_only(editor):
    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    return type(editor).objects.get(pk=editor.pk)


@pytest.mark.parametrize("proxy", ["consentproof", "backdatedoptoutreport"])
def test_without_the_personal_data_right_the_page_shows_no_number(client_for, editor, message, proxy):
    page = client_for(_export_only(editor)).get(
        reverse(f"admin:compliance_{proxy}_change", args=[message.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert PHONE not in html and PHONE[1:] not in html
    assert f"Contact #{message.contact_id} (+49…32)" in html


@pytest.mark.parametrize("proxy", ["consentproof", "backdatedoptoutreport"])
def test_the_auditor_sees_the_message_whole(client_for, auditor, message, proxy):
    page = client_for(auditor).get(reverse(f"admin:compliance_{proxy}_change", args=[message.pk]))
    assert page.status_code == 200 and PHONE in page.content.decode()


@pytest.fixture
def event(db):
    from tests.factories import opt_in

    contact = ContactFactory(phone=PHONE, first_name="", last_name="")
    return opt_in(
        contact, evidence={"form": "shop", "request": {"ip": "203.0.113.7", "user_agent": "Firefox/1"}}
    )


def test_the_ledger_event_page_masks_the_person_and_nested_evidence_without_the_right(
    client_for, editor, event
):
    page = client_for(_export_only(editor)).get(
        reverse("admin:compliance_consentauditexport_change", args=[event.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    for personal in (PHONE, PHONE[1:], "203.0.113.7", "Firefox/1"):
        assert personal not in html
    assert f"Contact #{event.contact_id} (+49…32)" in html and "shop" in html


def test_the_auditor_sees_the_ledger_event_whole(client_for, auditor, event):
    page = client_for(auditor).get(reverse("admin:compliance_consentauditexport_change", args=[event.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "203.0.113.7" in html
