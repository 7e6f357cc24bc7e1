"""The consent ledger is append-only at every level: admin, model, queryset and SQL (a row trigger
on PostgreSQL; on SQLite an UPDATE trigger, since a DELETE one would break the test flush)."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created
from django.urls import reverse

from contacts.models import ActivityLogEntry, ConsentAction, ConsentEvent, ConsentWording, Contact, Purpose
from contacts.selectors import deciding_event
from contacts.services import refresh_current_consent
from core.db import trigger_name, truncate_trigger_name
from core.models import AppendOnlyError, AppendOnlyModel, AppendOnlyQuerySet
from tests.factories import ContactFactory, make_wording, opt_in, opt_out

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
    assert page.status_code == 403 and "has a consent ledger" in page.content.decode()
    admin_client.post(reverse("admin:contacts_contact_delete", args=[contact.pk]), {"post": "yes"})
    assert Contact.objects.filter(pk=contact.pk).exists()


# Every append-only model's table, so that a new ledger without its triggers fails here.
# A proxy (compliance's permissions hang on one of the ledger) shares its model's table.
APPEND_ONLY_TABLES = sorted(
    m._meta.db_table for m in apps.get_models() if issubclass(m, AppendOnlyModel) and not m._meta.proxy
)


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


# --- An UPDATE by another name: upserts, the base manager, raw SQL on SQLite ---------------------


def forged_copy(event, **changes):
    """The same row (same id) with other values, as an upsert would write it."""
    values = {
        f.attname: getattr(event, f.attname) for f in ConsentEvent._meta.concrete_fields if not f.generated
    }
    return ConsentEvent(**{**values, **changes})


@pytest.mark.parametrize(
    "upsert",
    [
        lambda qs, objs: qs.bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=["action", "wording_text"]
        ),
        lambda qs, objs: qs.bulk_create(objs, None, False, True, ["action", "wording_text"], ["id"]),
        lambda qs, objs: qs.model._base_manager.bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=["action"]
        ),
    ],
    ids=["keywords", "positional", "base-manager"],
)
def test_an_upsert_cannot_turn_an_opt_out_into_an_opt_in(contact, upsert):
    stop = opt_out(contact, Purpose.MARKETING)
    forged = forged_copy(stop, action=ConsentAction.OPT_IN, wording_text="Yes")
    with pytest.raises(AppendOnlyError):
        upsert(ConsentEvent.objects, [forged])
    stop.refresh_from_db()
    assert stop.action == ConsentAction.OPT_OUT
    refresh_current_consent(contact=contact, purpose=Purpose.MARKETING)
    assert deciding_event(contact=contact, purpose=Purpose.MARKETING).action == ConsentAction.OPT_OUT


def test_bulk_create_that_ignores_conflicts_still_writes_nothing_over_a_row(contact):
    stop = opt_out(contact, Purpose.MARKETING)
    ConsentEvent.objects.bulk_create([forged_copy(stop, action=ConsentAction.OPT_IN)], ignore_conflicts=True)
    stop.refresh_from_db()
    assert stop.action == ConsentAction.OPT_OUT
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


@pytest.mark.parametrize("model", [m for m in apps.get_models() if issubclass(m, AppendOnlyModel)])
def test_every_ledgers_base_manager_is_append_only(model):
    """Django reaches rows through ``_base_manager`` (related objects, save's UPDATE, the deletion
    collector): a plain manager there would be a door around the queryset's refusals."""
    assert isinstance(model._base_manager.all(), AppendOnlyQuerySet)


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs: qs.update(source="api"),
        lambda qs: qs._update({"source": "api"}),
        lambda qs: qs._raw_delete(using="default"),
        lambda qs: qs.delete(),
    ],
    ids=["update", "_update", "_raw_delete", "delete"],
)
def test_the_base_manager_refuses_writes(event, operation):
    with pytest.raises(AppendOnlyError):
        operation(ConsentEvent._base_manager.filter(pk=event.pk))
    assert ConsentEvent.objects.filter(pk=event.pk, source="web_form").exists()


def raw_upsert_sql(table="contacts_consentevent"):
    columns = ", ".join(
        connection.ops.quote_name(f.column) for f in ConsentEvent._meta.concrete_fields if not f.generated
    )
    return (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE id = %s "
        "ON CONFLICT (id) DO UPDATE SET action = 'opt_in'"
    )


@pytest.mark.parametrize(
    "sql",
    ["UPDATE contacts_consentevent SET action = 'opt_in' WHERE id = %s", raw_upsert_sql()],
    ids=["update", "upsert"],
)
def test_raw_sql_cannot_rewrite_the_ledger(contact, sql):
    """PostgreSQL's row trigger and SQLite's UPDATE trigger both refuse, whatever the vendor."""
    stop = opt_out(contact, Purpose.MARKETING)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [stop.pk])
    stop.refresh_from_db()
    assert stop.action == ConsentAction.OPT_OUT


def sqlite_triggers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {name for (name,) in cursor.fetchall()}


sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite guard")


@sqlite_only
def test_every_ledger_table_has_its_update_guard_on_sqlite_after_all_migrations():
    """Also after a migration that rebuilt a ledger table (SQLite's ALTER is a new table, which drops
    the old table's triggers): the guard is put back after every migrate."""
    assert {trigger_name(table) for table in APPEND_ONLY_TABLES} <= sqlite_triggers()


@sqlite_only
def test_a_lost_sqlite_guard_is_back_on_the_next_connection(contact):
    stop = opt_out(contact, Purpose.MARKETING)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER "{trigger_name("contacts_consentevent")}"')
    assert trigger_name("contacts_consentevent") not in sqlite_triggers()
    connection_created.send(sender=type(connection), connection=connection)
    assert {trigger_name(table) for table in APPEND_ONLY_TABLES} <= sqlite_triggers()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE contacts_consentevent SET action = 'opt_in' WHERE id = %s", [stop.pk])


@sqlite_only
# serialized_rollback, like every transactional test here: a plain one's flush recreates content
# types and permissions, and the next serialized test then fails to restore its own.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sqlite_guard_leaves_the_test_flush_working(settings):
    """Django empties a SQLite test database with DELETE FROM, which the UPDATE trigger allows."""
    settings.ALLOW_LEDGER_FLUSH = True
    opt_in(ContactFactory())
    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
    assert not ConsentEvent.objects.exists()
