"""The consent ledger is append-only at every level: admin, model, queryset and (PostgreSQL) SQL."""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from contacts.models import ActivityLogEntry, ConsentEvent, ConsentWording, Contact
from core.db import trigger_name, truncate_trigger_name
from core.models import AppendOnlyError, AppendOnlyModel
from tests.factories import make_wording, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(contact):
    return opt_in(contact)


def test_saving_an_existing_event_is_refused(event):
    event.source = "api"
    with pytest.raises(AppendOnlyError, match="append-only"):
        event.save()
    event.refresh_from_db()
    assert event.source == "web_form"


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs: qs.update(source="api"),
        lambda qs: qs.delete(),
        lambda qs: qs.model.objects.bulk_update(list(qs), ["source"]),
        lambda qs: qs.update_or_create(pk=qs.first().pk, defaults={"source": "api"}),
    ],
    ids=["update", "delete", "bulk_update", "update_or_create"],
)
def test_queryset_writes_are_refused(event, operation):
    with pytest.raises(AppendOnlyError):
        operation(ConsentEvent.objects.all())
    event.refresh_from_db()
    assert event.source == "web_form"


def test_wordings_and_activity_log_are_append_only_too(contact):
    wording = make_wording()
    wording.text = "changed"
    with pytest.raises(AppendOnlyError):
        wording.save()
    with pytest.raises(AppendOnlyError):
        ConsentWording.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        ActivityLogEntry.objects.all().update(action="x")


def test_a_contact_with_consent_events_cannot_be_deleted(event, contact):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        contact.delete()
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_admin_offers_no_change_or_delete_for_events(admin_client, event):
    change_url = reverse("admin:contacts_consentevent_change", args=[event.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only view, no save button
    assert admin_client.post(change_url, {"source": "api"}).status_code == 403
    delete_url = reverse("admin:contacts_consentevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:contacts_consentevent_changelist"))
    assert b"delete_selected" not in changelist.content
    assert admin_client.get(reverse("admin:contacts_consentevent_add")).status_code == 403
    event.refresh_from_db()
    assert ConsentEvent.objects.filter(pk=event.pk, source="web_form").exists()


def test_admin_delete_of_a_contact_with_consent_explains_why_not(admin_client, event, contact):
    page = admin_client.get(reverse("admin:contacts_contact_delete", args=[contact.pk]))
    assert "would require deleting the following protected related objects" in page.content.decode()
    admin_client.post(reverse("admin:contacts_contact_delete", args=[contact.pk]), {"post": "yes"})
    assert Contact.objects.filter(pk=contact.pk).exists()


# Every append-only model's table, so that a new ledger without its triggers fails here.
APPEND_ONLY_TABLES = sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, AppendOnlyModel))


def assert_guards_in_place():
    """Each append-only table has its row trigger (UPDATE, DELETE) and its statement one (TRUNCATE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgtype FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND c.relname = ANY(%s)",
            [APPEND_ONLY_TABLES],
        )
        found = {(table, name): tgtype for table, name, tgtype in cursor.fetchall()}
    # pg_trigger.tgtype bits: ROW 1, DELETE 8, UPDATE 16, TRUNCATE 32.
    for table in APPEND_ONLY_TABLES:
        row = found.get((table, trigger_name(table)))
        assert row is not None and row & 1 and row & 8 and row & 16, f"{table}: no UPDATE/DELETE trigger"
        statement = found.get((table, truncate_trigger_name(table)))
        assert statement is not None and statement & 32 and not statement & 1, f"{table}: no TRUNCATE trigger"


@pytest.mark.postgres
def test_triggers_are_in_place_after_all_migrations():
    assert_guards_in_place()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE contacts_consentevent SET source = 'api' WHERE id = %s",
        "DELETE FROM contacts_consentevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_raw_sql_cannot_rewrite_the_ledger_on_postgres(event, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert ConsentEvent.objects.filter(pk=event.pk, source="web_form").exists()
