"""Exporting the contact list: the list as staff filtered it, streamed as CSV, safe in a
spreadsheet, logged once, for Editors and Auditors only, in a number of queries that does not grow
with the list."""

import csv
import io
from datetime import UTC

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.exports import COLUMNS, safe_cell
from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, Contact, Purpose, Tag
from core.actors import Actor
from core.roles import ROLES
from tests.factories import ContactFactory, TagFactory, UserFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

EXPORT = reverse("admin:contacts_contact_export")
CHANGELIST = reverse("admin:contacts_contact_changelist")
MAY_EXPORT = {"Editor", "Auditor"}


def exported(response) -> list[dict]:
    """The CSV's rows; checks it is UTF-8 with a byte order mark and has the documented header."""
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    reader = csv.DictReader(io.StringIO(text[1:]))
    assert tuple(reader.fieldnames) == COLUMNS
    return list(reader)


def make_people(n, **fields):
    """``n`` contacts in one statement (the query-count tests need hundreds quickly)."""
    return Contact.objects.bulk_create([ContactFactory.build(**fields) for _ in range(n)])


@pytest.fixture
def editor_client(client_for, editor):
    return client_for(editor)


# --- Who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_editors_and_auditors_export(client_for, role, contact):
    client = client_for(UserFactory(username=f"user_{role.lower()}", role=role))
    response = client.get(EXPORT)
    if role in MAY_EXPORT:
        assert [row["phone"] for row in exported(response)] == ["'+4915123456789"]
        assert ActivityLogEntry.objects.filter(action="contact.exported").count() == 1
    else:
        assert response.status_code == 403
        assert not ActivityLogEntry.objects.filter(action="contact.exported").exists()


@pytest.mark.parametrize("role", ROLES)
def test_the_list_offers_the_export_only_to_who_may(client_for, role, contact):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    response = client_for(user).get(CHANGELIST, {"language__exact": "de"})
    if not user.has_perm("contacts.view_contact"):
        assert response.status_code == 403
        return
    page = response.content.decode()
    assert ('class="export-contacts"' in page) == (role in MAY_EXPORT)
    # The import's button sits beside it, for who may import.
    assert ('class="import-contacts"' in page) == user.has_perm("contacts.add_contactimport")
    if role in MAY_EXPORT:  # the link carries the list's filters
        assert f'href="{EXPORT}?language__exact=de"' in page


# --- What is in it ----------------------------------------------------------------------------


def test_every_column(editor_client):
    person = ContactFactory(
        phone="+4915111111111",
        wa_id="4915111111111",
        first_name="Zoë",
        last_name="Müller",
        language="de",
        country="DE",
        time_zone="Europe/Berlin",
        attributes={"orders": 3, "customer_no": "4711"},
    )
    person.tags.add(TagFactory(name="vip"), TagFactory(name="Autumn"))
    event = opt_in(person, Purpose.MARKETING)
    (row,) = exported(editor_client.get(EXPORT))
    assert row == {
        "id": str(person.pk),
        "phone": "'+4915111111111",  # a leading + is a formula to a spreadsheet
        "wa_id": "4915111111111",
        "first_name": "Zoë",
        "last_name": "Müller",
        "language": "de",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "tags": "Autumn, vip",
        "attributes": '{"customer_no": "4711", "orders": 3}',
        "marketing_consent": "opted_in",
        "marketing_consent_since": event.effective_at.astimezone(UTC).isoformat(timespec="seconds"),
        "service_consent": "",
        "service_consent_since": "",
        "created_at": person.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "merged_into": "",
    }


def test_cells_a_spreadsheet_would_run_as_formulas_are_text():
    assert safe_cell('=HYPERLINK("http://evil.example","x")') == '\'=HYPERLINK("http://evil.example","x")'
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}1+1") == f"'{start}1+1"
    assert safe_cell("Anna") == "Anna"
    assert safe_cell("") == ""
    assert safe_cell("a=b") == "a=b"


def test_formula_injection_through_names_and_custom_fields(editor_client):
    ContactFactory(first_name="=cmd|'/c calc'!A0", last_name="@SUM(A1:A9)", time_zone="", attributes={})
    ContactFactory(first_name="-2+3", last_name="\tTab", attributes={"note": "=1+1"})
    rows = {row["first_name"]: row for row in exported(editor_client.get(EXPORT))}
    assert rows["'=cmd|'/c calc'!A0"]["last_name"] == "'@SUM(A1:A9)"
    assert rows["'-2+3"]["last_name"] == "'\tTab"
    assert rows["'-2+3"]["attributes"] == '{"note": "=1+1"}'  # a JSON object starts with {


def test_the_export_is_the_list_as_filtered_searched_and_sorted(editor_client):
    tag = TagFactory(name="VIP")
    anna, bert, carl = (ContactFactory(first_name=name, last_name=name) for name in ("Anna", "Bert", "Carl"))
    for person in (anna, carl):
        person.tags.add(tag)
    opt_out(bert)
    assert [r["first_name"] for r in exported(editor_client.get(EXPORT, {"tags__id__exact": tag.pk}))] == [
        "Carl",
        "Anna",
    ]
    assert [r["first_name"] for r in exported(editor_client.get(EXPORT, {"o": "2"}))] == [
        "Anna",
        "Bert",
        "Carl",
    ]
    assert [r["first_name"] for r in exported(editor_client.get(EXPORT, {"q": "Bert"}))] == ["Bert"]
    assert [r["first_name"] for r in exported(editor_client.get(EXPORT, {"marketing": "opted_out"}))] == [
        "Bert"
    ]
    # The page staff were on does not matter: the export is the whole list.
    assert len(exported(editor_client.get(EXPORT, {"p": "7"}))) == 3


def test_merged_away_rows_only_when_the_list_shows_them(editor_client):
    survivor = ContactFactory(first_name="Kept")
    merged = ContactFactory(first_name="Merged")
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="same person")
    assert [r["first_name"] for r in exported(editor_client.get(EXPORT))] == ["Kept"]
    rows = {r["first_name"]: r for r in exported(editor_client.get(EXPORT, {"merged": "all"}))}
    assert rows["Merged"]["merged_into"] == str(survivor.pk)
    assert rows["Kept"]["merged_into"] == ""


def test_logged_once_with_the_filters_and_the_row_count(editor_client, editor):
    tag = TagFactory(name="VIP")
    for person in ContactFactory.create_batch(3):
        person.tags.add(tag)
    ContactFactory()
    response = editor_client.get(EXPORT, {"tags__id__exact": tag.pk, "q": "+49151"})
    assert len(exported(response)) == 3
    (entry,) = ActivityLogEntry.objects.filter(action="contact.exported")
    assert entry.actor_user == editor
    assert entry.details == {"filters": {"tags__id__exact": str(tag.pk), "q": "+49151"}, "rows": 3}


def test_a_filter_the_list_does_not_have_exports_nothing(editor_client):
    ContactFactory()
    response = editor_client.get(EXPORT, {"no_such_field": "1"})
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    (notice,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "nothing was exported" in notice
    assert not ActivityLogEntry.objects.filter(action="contact.exported").exists()


def test_an_empty_list_is_a_header_only(editor_client):
    assert exported(editor_client.get(EXPORT)) == []
    assert ActivityLogEntry.objects.get(action="contact.exported").details["rows"] == 0


# --- Queries ------------------------------------------------------------------------------------


def export_queries(client, params) -> list[str]:
    cache.clear()  # the country filter's cached list: cold both times
    with CaptureQueriesContext(connection) as captured:
        rows = exported(client.get(EXPORT, params))
    return rows, [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("params", [{}, {"tags__id__exact": "TAG"}, {"q": "+49151", "marketing": "opted_in"}])
def test_the_query_count_does_not_grow_with_the_list(editor_client, params):
    tag = Tag.objects.create(name="VIP")
    params = {key: (tag.pk if value == "TAG" else value) for key, value in params.items()}

    def grow(n):
        people = make_people(n)
        Contact.tags.through.objects.bulk_create(
            [Contact.tags.through(contact_id=p.pk, tag_id=tag.pk) for p in people]
        )
        for person in people[:2]:
            opt_in(person)

    grow(3)
    few_rows, few = export_queries(editor_client, params)
    grow(297)
    many_rows, many = export_queries(editor_client, params)
    assert len(many_rows) > len(few_rows) >= 2
    assert len(many) == len(few), "\n".join(many)
