"""Static lists: pasted numbers matched as the contact matcher matches them, or an import's contacts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import (
    ActivityLogEntry,
    Contact,
    ContactImport,
    ContactList,
    ContactListMember,
    ImportRow,
    ImportStatus,
)
from contacts.segments.services import (
    NOBODY_HAS_IT,
    contact_list_create_from_import,
    contact_list_create_from_numbers,
)
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor(db):
    return Actor.for_user(UserFactory(username="erin", role="Editor"))


def member_ids(contact_list):
    return set(
        ContactListMember.objects.filter(contact_list=contact_list).values_list("contact_id", flat=True)
    )


def test_pasted_numbers_match_existing_contacts_in_any_form(actor):
    german = ContactFactory(phone="+4915123456789")
    # Meta's wa_id for an old Brazilian account lacks the ninth digit; the list finds it by either form.
    brazilian = ContactFactory(phone=None, wa_id="552187654321")
    mexican = ContactFactory(phone="+525512345678")
    survivor = ContactFactory(phone="+4915100000001")
    merged = ContactFactory(phone="+4915100000002")
    Contact.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
    before = Contact.objects.count()
    text = "\n".join(
        [
            "0151 2345 6789",  # national format, default region DE
            "+55 21 98765-4321",
            "+52 1 55 1234 5678, +49 151 00000002",  # two on a line; the merged-away row's number
            "",
            "+49 151 99999999",  # nobody has it
            "not a number",
            "+49 151 23456789",  # the same person again: listed once
        ]
    )
    contact_list, refused = contact_list_create_from_numbers(name="Fair visitors", text=text, actor=actor)
    assert member_ids(contact_list) == {german.pk, brazilian.pk, mexican.pk, survivor.pk}
    assert contact_list.size == 4 and contact_list.created_by == actor.user
    assert [(r.line, r.text) for r in refused] == [(5, "+49 151 99999999"), (6, "not a number")]
    assert refused[0].reason == NOBODY_HAS_IT
    assert "is not a valid phone number" in refused[1].reason
    # A list is for people already here: nobody was created for the unknown number.
    assert Contact.objects.count() == before
    (entry,) = ActivityLogEntry.objects.filter(action="contactlist.created")
    assert entry.details == {"source": "numbers", "size": 4, "numbers": 7, "refused": 2}


def test_a_number_two_contacts_hold_is_refused_until_they_are_merged(actor):
    ContactFactory(phone="+5521987654321")
    ContactFactory(phone=None, wa_id="552187654321")
    ContactFactory(phone="+4915123456789")
    contact_list, refused = contact_list_create_from_numbers(
        name="Both", text="+5521987654321\n+4915123456789", actor=actor
    )
    assert contact_list.size == 1
    assert [r.line for r in refused] == [1] and "merge them first" in refused[0].reason


@pytest.mark.parametrize(
    "name,text,says",
    [
        ("", "+4915123456789", "Give the list a name"),
        ("Nobody", "+4915199999999\nabc", "None of the numbers belongs to a contact"),
        ("Empty", "  \n ", "Paste one number per line"),
    ],
)
def test_nothing_is_written_when_there_is_no_list_to_make(actor, name, text, says):
    ContactFactory(phone="+4915123456789")
    with pytest.raises(ApplicationError) as caught:
        contact_list_create_from_numbers(name=name, text=text, actor=actor)
    assert says in caught.value.message and caught.value.field in ("name", "text")
    assert ContactList.objects.count() == 0 and ContactListMember.objects.count() == 0


def test_too_many_pasted_numbers_are_refused(actor, monkeypatch):
    monkeypatch.setattr("contacts.segments.services.MAX_PASTED_NUMBERS", 3)
    with pytest.raises(ApplicationError) as caught:
        contact_list_create_from_numbers(name="Big", text="1\n2\n3\n4", actor=actor)
    assert caught.value.code == "list_too_long" and "import them as a file" in caught.value.message


# --- the contacts of an import -------------------------------------------------------------------


def make_import(status=ImportStatus.APPLIED, rows=()):
    contact_import = ContactImport.objects.create(
        file_name="customers.csv", file_sha256="0" * 64, file_size=10, status=status
    )
    ImportRow.objects.bulk_create(
        [
            ImportRow(contact_import=contact_import, line=line, status=row_status, contact=contact)
            for line, (row_status, contact) in enumerate(rows, start=2)
        ]
    )
    return contact_import


def test_a_list_of_an_applied_imports_contacts(actor):
    new, updated, unchanged, merged, survivor = ContactFactory.create_batch(5)
    Contact.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=timezone.now())
    contact_import = make_import(
        rows=[
            ("new", new),
            ("update", updated),
            ("unchanged", unchanged),
            ("refused", ContactFactory()),  # not the import's: refused rows wrote nothing
            ("refused", None),
            ("update", merged),  # merged since: its survivor, once
            ("update", survivor),
        ]
    )
    contact_list = contact_list_create_from_import(contact_import=contact_import, actor=actor)
    assert member_ids(contact_list) == {new.pk, updated.pk, unchanged.pk, survivor.pk}
    assert contact_list.size == 4 and contact_list.source_import == contact_import
    assert contact_list.name == f"Contacts of import #{contact_import.pk} (customers.csv)"
    (entry,) = ActivityLogEntry.objects.filter(action="contactlist.created")
    assert entry.details == {"source": "import", "import_id": contact_import.pk, "size": 4}


def test_the_import_list_is_one_statement_whatever_its_size(actor):
    def queries(n):
        contact_import = make_import(rows=[("new", c) for c in ContactFactory.create_batch(n)])
        with CaptureQueriesContext(connection) as captured:
            contact_list_create_from_import(contact_import=contact_import, actor=actor)
        return len(captured.captured_queries)

    assert queries(2) == queries(30)


@pytest.mark.parametrize("status", [ImportStatus.PREVIEW, ImportStatus.APPLYING, ImportStatus.FAILED])
def test_only_an_applied_import_makes_a_list(actor, status):
    contact_import = make_import(status=status, rows=[("new", ContactFactory())])
    with pytest.raises(ApplicationError) as caught:
        contact_list_create_from_import(contact_import=contact_import, actor=actor)
    assert caught.value.code == "import_not_applied"
    assert ContactList.objects.count() == 0


def test_an_import_that_wrote_nobody_makes_no_list(actor):
    contact_import = make_import(rows=[("refused", None)])
    with pytest.raises(ApplicationError) as caught:
        contact_list_create_from_import(contact_import=contact_import, actor=actor)
    assert caught.value.code == "list_empty"
    assert ContactList.objects.count() == 0 and ContactListMember.objects.count() == 0
