"""/api/v1/contacts/: upsert by phone under the matcher's identity rules, read, list, bulk."""

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import KeyContact
from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, Contact
from core.actors import Actor
from tests.api.keys import api_client
from tests.factories import ContactFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"
BULK = "/api/v1/contacts/bulk/"


@pytest.fixture
def writer():
    return api_client("contacts:read", "contacts:write")


def post(client, url, body):
    return client.post(url, body, format="json")


# --- POST /contacts/ ---------------------------------------------------------------------------


def test_a_new_phone_creates_a_contact_with_201(writer):
    answer = post(
        writer,
        CONTACTS,
        {
            "phone": "0049 151 23456789",
            "first_name": "Anna",
            "last_name": "Berg",
            "language": "de",
            "time_zone": "Europe/Berlin",
            "attributes": {"customer_no": "4711"},
        },
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["phone"] == "+4915123456789" and body["country"] == "DE"
    assert body["attributes"] == {"customer_no": "4711"}
    assert body["consent"] == {"marketing": None, "service": None}
    contact = Contact.objects.get(pk=body["id"])
    assert contact.zone_earliest  # placed by its time zone, as save() would
    assert KeyContact.objects.filter(key=writer.key, contact=contact).exists()
    entry = ActivityLogEntry.objects.get(action="contact.api_upsert")
    assert entry.details == {"created": [contact.pk], "updated": []} and entry.actor_kind == "api_key"


def test_a_known_phone_in_another_format_updates_with_200(writer):
    contact = ContactFactory(phone="+4915123456789", first_name="Anna", attributes={"a": 1})
    answer = post(
        writer, CONTACTS, {"phone": "+49 (151) 234 56789", "last_name": "Neu", "attributes": {"b": 2}}
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["id"] == contact.pk
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Anna", "Neu")  # left-out fields kept
    assert contact.attributes == {"a": 1, "b": 2}  # merged
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    "stored,given",
    [
        ("+5521987654321", "+552187654321"),  # Brazil: the same mobile without its ninth digit
        ("+525512345678", "+5215512345678"),  # Mexico: with the old 1 after +52
    ],
)
def test_the_other_form_of_a_number_finds_the_same_person(writer, stored, given):
    contact = ContactFactory(phone=stored, country="")
    answer = post(writer, CONTACTS, {"phone": given, "first_name": "Same"})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["id"] == contact.pk
    assert Contact.objects.count() == 1


def test_a_wa_id_holder_is_the_same_person(writer):
    contact = ContactFactory(phone=None, wa_id="552187654321")
    answer = post(writer, CONTACTS, {"phone": "+5521987654321"})
    assert answer.status_code == 200 and answer.json()["id"] == contact.pk


def test_a_merged_away_row_answers_with_its_survivor(writer):
    survivor = ContactFactory()
    merged = ContactFactory(phone="+4915199999999")
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="one person")
    answer = post(writer, CONTACTS, {"phone": "+4915199999999", "first_name": "Kept"})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["id"] == survivor.pk
    assert writer.get(f"{CONTACTS}{merged.pk}/").json()["id"] == survivor.pk


@pytest.mark.parametrize(
    "body,field,words",
    [
        ({}, "phone", "required"),
        ({"phone": "+4912"}, "phone", "too short"),
        ({"phone": "+49 151 2345"}, "phone", "not a valid phone number"),
        ({"phone": "0151 2345"}, "phone", "country code"),
        ({"phone": "+4915123456789", "language": "klingon"}, "language", "not a valid choice"),
        ({"phone": "+4915123456789", "country": "XX"}, "country", "two-letter country code"),
        ({"phone": "+4915123456789", "time_zone": "Mars/Olympus"}, "time_zone", "time zone"),
        ({"phone": "+4915123456789", "attributes": [1]}, "attributes", "dictionary"),
        # PostgreSQL's JSON cannot hold U+0000: refused here, never a 500 from the database
        ({"phone": "+4915123456789", "attributes": {"a": {"b": "x\u0000"}}}, "attributes", "“a.b”"),
        ({"phone": "+4915123456789", "first_name": "x\u0000"}, "first_name", "null characters"),
    ],
)
def test_bad_input_is_400_naming_the_field(writer, body, field, words):
    answer = post(writer, CONTACTS, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid" and error["field"] == field
    assert words in error["message"].lower()
    assert Contact.objects.count() == 0


def test_writing_needs_contacts_write(db):
    reader = api_client("contacts:read")
    answer = post(reader, CONTACTS, {"phone": "+4915123456789"})
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": "missing_scope",
        "message": "This API key lacks the scope “contacts:write”.",
    }
    assert post(reader, BULK, {"contacts": [{"phone": "+4915123456789"}]}).status_code == 403


# --- GET /contacts/{id}/ -----------------------------------------------------------------------


def test_read_one_with_current_consent(writer):
    contact = ContactFactory(last_inbound_at=timezone.now() - timedelta(hours=1))
    event = opt_in(contact, "marketing")
    opt_out(contact, "service")
    body = writer.get(f"{CONTACTS}{contact.pk}/").json()
    assert body["consent"]["marketing"]["status"] == "opted_in"
    assert body["consent"]["marketing"]["event_id"] == event.pk
    assert body["consent"]["service"]["status"] == "opted_out"
    assert body["window_open_until"] is not None


@pytest.mark.parametrize(
    "contact_id", ["999999", "99999999999999999999999", "abc", "１２"]
)  # beyond bigint; no number
def test_unknown_id_is_404(writer, contact_id):
    answer = writer.get(f"{CONTACTS}{contact_id}/")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_reading_needs_contacts_read(db):
    contact = ContactFactory()
    client = api_client("contacts:write")
    assert client.get(f"{CONTACTS}{contact.pk}/").status_code == 403
    assert client.get(CONTACTS).status_code == 403


# --- GET /contacts/?phone=…&updated_since=… ----------------------------------------------------


def test_list_by_phone_finds_any_form(writer):
    contact = ContactFactory(phone="+5521987654321", country="BR")
    ContactFactory()
    body = writer.get(CONTACTS, {"phone": "+552187654321"}).json()
    assert [row["id"] for row in body["results"]] == [contact.pk]


def test_list_since_a_time_pages_oldest_change_first(writer):
    old = ContactFactory()
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    recent = [ContactFactory() for _ in range(3)]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    first = writer.get(CONTACTS, {"updated_since": since, "page_size": 2}).json()
    assert [row["id"] for row in first["results"]] == [recent[0].pk, recent[1].pk]
    second = writer.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == [recent[2].pk]
    assert second["next"] is None


def test_an_offset_postgresql_cannot_hold_is_read_in_utc(writer):
    """ISO 8601 allows offsets up to ±23:59, PostgreSQL up to ±15:59: the time is taken in UTC."""
    contact = ContactFactory()
    answer = writer.get(CONTACTS, {"updated_since": "2020-01-30T18:07:22+20:32"})
    assert answer.status_code == 200 and [row["id"] for row in answer.json()["results"]] == [contact.pk]


def test_an_update_moves_a_contact_to_the_end_of_the_changes(writer):
    first, second = ContactFactory(), ContactFactory()
    post(writer, CONTACTS, {"phone": first.phone, "first_name": "Changed"})
    body = writer.get(CONTACTS).json()
    assert [row["id"] for row in body["results"]] == [second.pk, first.pk]


def test_the_list_leaves_merged_away_rows_out(writer):
    survivor, merged = ContactFactory(), ContactFactory()
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="one person")
    assert [row["id"] for row in writer.get(CONTACTS).json()["results"]] == [survivor.pk]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-12-01T08:00:00"}, "updated_since"),  # no UTC offset
        ({"updated_since": "0001-01-01T00:00:00+20:00"}, "updated_since"),  # before year 1 in UTC
        ({"phone": "abc"}, "phone"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.b64encode(b"p=not-a-time").decode()}, "cursor"),  # a changed position
    ],
)
def test_bad_list_parameters_are_400(writer, params, field):
    answer = writer.get(CONTACTS, params)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field


# --- POST /contacts/bulk/ ----------------------------------------------------------------------


def test_bulk_gives_a_result_per_item_and_a_bad_item_stops_nothing(writer):
    existing = ContactFactory(phone="+4915123456789", first_name="Old")
    answer = post(
        writer,
        BULK,
        {
            "contacts": [
                {"phone": "+5521987654321", "first_name": "Bia"},
                {"phone": "+552187654321", "last_name": "Souza"},  # the same person as item 0
                {"phone": "+4912"},
                "not an object",
                {"phone": "+4915123456789", "first_name": "New"},
                {"phone": "+4915123456789", "time_zone": "Nowhere/Else"},
            ]
        },
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["created"], body["updated"], body["errors"]) == (1, 2, 3)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]
    assert results[0]["status"] == "created" and results[1]["status"] == "updated"
    assert results[0]["id"] == results[1]["id"]
    assert results[2]["error"]["field"] == "phone" and "too short" in results[2]["error"]["message"]
    assert results[3]["status"] == "error" and "field" not in results[3]["error"]
    assert results[4] == {"index": 4, "status": "updated", "id": existing.pk, "changed": ["first_name"]}
    assert results[5]["error"]["field"] == "time_zone"
    brazilian = Contact.objects.get(pk=results[0]["id"])
    assert (brazilian.first_name, brazilian.last_name) == ("Bia", "Souza")
    assert Contact.objects.count() == 2
    known = set(KeyContact.objects.filter(key=writer.key).values_list("contact_id", flat=True))
    assert known == {brazilian.pk}  # created by the call; the existing one it matched is not claimed


def test_bulk_of_more_than_1000_is_400(writer):
    answer = post(writer, BULK, {"contacts": [{"phone": "+4915123456789"}] * 1001})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "contacts"
    assert "1,000" in answer.json()["error"]["message"]


@pytest.mark.parametrize("body", [{}, {"contacts": []}, {"contacts": "x"}, [1, 2]])
def test_bulk_without_a_list_is_400(writer, body):
    answer = post(writer, BULK, body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"


@override_settings(API_THROTTLE_RATE="1000000/day")
def test_bulk_queries_do_not_grow_with_the_items(writer):
    """Matching, creating, updating, remembering and logging are set-based: 300 items, new and
    known mixed, take the same statements as 30 (after a first call has opened the key's
    throttling window and noted its use)."""
    writer.get(CONTACTS)

    def run(offset: int, count: int) -> int:
        ContactFactory.reset_sequence(offset)
        known = [ContactFactory().phone for _ in range(count // 2)]
        new = [f"+49152{offset + n:08d}" for n in range(count - len(known))]
        items = [{"phone": phone, "first_name": "Bulk"} for phone in known + new]
        with CaptureQueriesContext(connection) as queries:
            answer = post(writer, BULK, {"contacts": items})
        assert answer.status_code == 200 and answer.json()["errors"] == 0
        return len(queries)

    small, large = run(10_000, 30), run(20_000, 300)
    if connection.vendor == "postgresql":
        assert large == small
    assert large <= 20  # SQLite splits the INSERT and UPDATE into batches of its variable limit


# --- updated_at: every writer moves it ---------------------------------------------------------


@pytest.mark.postgres
def test_an_update_that_forgets_updated_at_still_moves_it():
    """A trigger on PostgreSQL: a bulk statement or raw SQL cannot hide a change from a sync."""
    contact = ContactFactory()
    long_ago = timezone.now() - timedelta(days=30)
    Contact.objects.filter(pk=contact.pk).update(updated_at=long_ago)  # a writer that sets it keeps it
    assert Contact.objects.get(pk=contact.pk).updated_at == long_ago
    with connection.cursor() as cursor:
        cursor.execute("UPDATE contacts_contact SET first_name = 'Raw' WHERE id = %s", [contact.pk])
    assert Contact.objects.get(pk=contact.pk).updated_at > long_ago + timedelta(days=29)


def test_the_writers_of_contacts_move_updated_at(writer):
    """The matcher's and the merge's statements set it themselves (the trigger's fallback is
    PostgreSQL's only): a contact given a wa_id by WhatsApp shows up in the sync."""
    from contacts.matching import contact_adopt_wa_id

    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).update(updated_at=timezone.now() - timedelta(days=30))
    contact.refresh_from_db()
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert writer.get(CONTACTS, {"updated_since": since}).json()["results"] == []
    contact_adopt_wa_id(contact=contact, wa_id=contact.phone.lstrip("+"), actor=Actor.system("tests"))
    assert [r["id"] for r in writer.get(CONTACTS, {"updated_since": since}).json()["results"]] == [contact.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_calls_at_once_for_one_new_number_make_one_contact():
    """Both INSERT; the second waits on the unique index, fails when the first commits, and
    updates the row the first created instead of adding a second one."""
    import threading

    from api.contact_upsert import contacts_upsert
    from tests.api.keys import create_key

    key, _ = create_key("contacts:write")
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def upsert(name: str):
        try:
            barrier.wait()
            [result] = contacts_upsert(key=key, items=[(0, {"phone": "+4915123456789", "first_name": name})])
            statuses.append(result.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=upsert, args=(name,)) for name in ("Ann", "Bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Contact.objects.filter(phone="+4915123456789").count() == 1
    assert sorted(statuses) == ["created", "updated"]


def test_a_number_created_meanwhile_is_updated_not_duplicated(monkeypatch):
    """The race above made certain: the match saw nothing, then the INSERT meets the row a
    concurrent call committed; that row is found and updated, and the rest are still created."""
    from api.contact_upsert import contacts_upsert
    from tests.api.keys import create_key

    key, _ = create_key("contacts:write")
    other = ContactFactory(phone="+4915123456789", first_name="First")
    monkeypatch.setattr("api.contact_upsert._match_all", lambda people, actor: {})
    results = contacts_upsert(
        key=key,
        items=[(0, {"phone": "+4915123456789", "first_name": "Second"}), (1, {"phone": "+4915123456780"})],
    )
    assert [(r.status, r.changed) for r in results] == [("updated", ["first_name"]), ("created", [])]
    assert results[0].contact.pk == other.pk
    other.refresh_from_db()
    assert other.first_name == "Second" and Contact.objects.count() == 2


def test_pages_through_many_contacts_changed_at_the_same_instant(writer):
    """A bulk update stamps all its rows with one time: the cursor still hands each out once."""
    contacts = [ContactFactory() for _ in range(7)]
    post(writer, BULK, {"contacts": [{"phone": c.phone, "first_name": "Same"} for c in contacts]})
    assert len({c.updated_at for c in Contact.objects.all()}) == 1
    seen, page = [], writer.get(CONTACTS, {"page_size": 3}).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            break
        page = writer.get(page["next"]).json()
    assert sorted(seen) == sorted(c.pk for c in contacts) and len(seen) == 7


@pytest.mark.postgres
def test_the_rows_an_upsert_will_write_back_are_locked_first(writer):
    """The UPDATE writes back what the match read (attributes merged into the stored ones), so the
    match locks those rows: a concurrent change cannot be overwritten with what was read before it."""
    contact = ContactFactory()
    with CaptureQueriesContext(connection) as queries:
        post(writer, CONTACTS, {"phone": contact.phone, "attributes": {"tier": "gold"}})
    match = next(q["sql"] for q in queries.captured_queries if 'FROM "contacts_contact"' in q["sql"])
    assert match.endswith("FOR UPDATE")
