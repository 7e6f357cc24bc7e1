"""The data-subject report in the admin: who may open it, what it shows, masking, bad input, logging."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from compliance.subject_report import SECTIONS
from contacts.models import ActivityLogEntry, ConsentEvent
from core.roles import ROLES
from tests.factories import ContactFactory, UserFactory, opt_in

PAGE = "admin:compliance_datasubjectreport_report"
JSON_FILE = "admin:compliance_datasubjectreport_json"
FIND = "admin:compliance_datasubjectreport_changelist"


@pytest.fixture
def ana(db):
    contact = ContactFactory(phone="+4915112345678", first_name="Ana", last_name="Lima")
    opt_in(contact, evidence={"ip": "203.0.113.9", "user_agent": "Firefox/140", "page": "/signup"})
    return contact


def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


@pytest.mark.parametrize("role", ROLES)
def test_only_the_auditor_of_the_five_roles_may_open_the_report(client_for, ana, role):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    client = client_for(user)
    page = client.get(reverse(PAGE, args=[ana.pk]))
    download = client.get(reverse(JSON_FILE, args=[ana.pk]))
    expected = 200 if role == "Auditor" else 403
    assert (page.status_code, download.status_code) == (expected, expected)


def test_an_editor_granted_the_export_sees_the_report_masked(client_for, editor, ana):
    editor = grant(editor, "export_consent_audit")

    report = json.loads(client_for(editor).get(reverse(JSON_FILE, args=[ana.pk])).content)

    assert report["masked"] is True
    assert report["contact"]["phone"] == "+49…78"
    assert report["consent_history"][0]["evidence"] == {
        "ip": "masked",
        "user_agent": "masked",
        "page": "/signup",
    }


def test_the_auditor_sees_personal_data_and_may_ask_for_a_masked_file(client_for, auditor, ana):
    client = client_for(auditor)

    plain = json.loads(client.get(reverse(JSON_FILE, args=[ana.pk])).content)
    hidden = json.loads(client.get(reverse(JSON_FILE, args=[ana.pk]) + "?masked=1").content)

    assert plain["contact"]["phone"] == "+4915112345678" and "masked" not in plain
    assert plain["consent_history"][0]["evidence"]["ip"] == "203.0.113.9"
    assert hidden["contact"]["phone"] == "+49…78"


def test_the_page_shows_every_section_and_links_the_download(client_for, auditor, ana):
    response = client_for(auditor).get(reverse(PAGE, args=[ana.pk]))

    text = response.content.decode()
    for _key, title in SECTIONS:
        assert f"<h2>{title}</h2>" in text
    assert reverse(JSON_FILE, args=[ana.pk]) in text
    assert "@media print" in text
    assert "Yes, send me WhatsApp messages from Demo Shop." in text  # the wording


def test_the_download_is_a_json_file_named_after_the_contact(client_for, auditor, ana):
    response = client_for(auditor).get(reverse(JSON_FILE, args=[ana.pk]))

    assert response["Content-Type"].startswith("application/json")
    assert f'filename="data-subject-{ana.pk}-' in response["Content-Disposition"]
    report = json.loads(response.content)
    assert [row["id"] for row in report["consent_history"]] == [ConsentEvent.objects.get(contact=ana).pk]


def test_every_reading_is_logged_as_an_export_with_who_what_and_how_many(client_for, auditor, ana):
    client = client_for(auditor)
    client.get(reverse(PAGE, args=[ana.pk]))
    client.get(reverse(JSON_FILE, args=[ana.pk]))

    finished = list(ActivityLogEntry.objects.filter(action="compliance.exported").order_by("pk"))
    assert [entry.details["output"] for entry in finished] == ["page", "json"]
    for entry in finished:
        assert entry.actor_user == auditor
        assert entry.details["report"] == "data_subject"
        assert entry.details["filters"]["contact_id"] == ana.pk
        assert entry.details["rows"] == 2  # the contact and its one consent event
        assert entry.details["masked"] is False
    assert ActivityLogEntry.objects.filter(action="compliance.export_started").count() == 2


def test_an_unknown_contact_is_a_404_that_says_so_and_logs_nothing(client_for, auditor, db):
    response = client_for(auditor).get(reverse(PAGE, args=[999999]))

    assert response.status_code == 404
    assert "There is no contact with the id 999999." in response.content.decode()
    assert client_for(auditor).get(reverse(JSON_FILE, args=[999999])).status_code == 404
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


def test_the_look_up_finds_the_person_by_number_or_says_what_is_wrong(client_for, auditor, ana):
    client = client_for(auditor)

    found = client.get(reverse(FIND), {"contact": "0151 12345678"})
    unknown = client.get(reverse(FIND), {"contact": "+49 30 1234567"})
    nonsense = client.get(reverse(FIND), {"contact": "<script>"})

    assert found.status_code == 302 and found["Location"] == reverse(PAGE, args=[ana.pk])
    assert unknown.status_code == 404 and "No contact has the phone number" in unknown.content.decode()
    assert (
        nonsense.status_code == 404
        and "is neither a contact id nor a phone number" in nonsense.content.decode()
    )
    assert "<script>" not in nonsense.content.decode()


def test_the_contacts_page_links_the_report_for_those_who_may_open_it(client_for, auditor, editor, ana):
    change = reverse("admin:contacts_contact_change", args=[ana.pk])
    link = reverse(PAGE, args=[ana.pk])

    assert link in client_for(auditor).get(change).content.decode()
    assert link not in client_for(editor).get(change).content.decode()


def test_the_report_states_the_ledger_anchor_that_covers_it(client_for, auditor, ana):
    from contacts.ledger_chain import anchor_heads

    anchor = anchor_heads()
    client = client_for(auditor)

    report = json.loads(client.get(reverse(JSON_FILE, args=[ana.pk])).content)
    page = client.get(reverse(PAGE, args=[ana.pk])).content.decode()

    assert report["ledger_anchor"]["digest"] == anchor.digest
    assert anchor.digest in page
    finished = ActivityLogEntry.objects.filter(action="compliance.exported").first()
    assert finished.details["ledger_anchor"]["digest"] == anchor.digest


def test_the_persons_admin_page_is_their_report(client_for, auditor, ana):
    change = client_for(auditor).get(reverse("admin:compliance_datasubjectreport_change", args=[ana.pk]))
    assert change.status_code == 200 and "<h2>Consent history</h2>" in change.content.decode()
    assert client_for(auditor).get(reverse("admin:compliance_datasubjectreport_add")).status_code == 403
