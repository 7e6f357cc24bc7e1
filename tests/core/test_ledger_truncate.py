"""The ledger survives operators: TRUNCATE, ``manage.py flush`` and backwards migrations leave it whole."""

import builtins
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder

from contacts.models import ActivityLogEntry, ConsentEvent, Contact, Segment, SegmentVersion
from contacts.services import log_activity
from core.actors import Actor
from core.db import ALLOW_TRUNCATE_SETTING, LedgerGuard
from messaging.models import CampaignTransition, MessageStatusEvent
from templates_app.models import MessageTemplate, TemplateEvent
from tests.contacts.test_consent_ledger_immutable import APPEND_ONLY_TABLES, assert_guards_in_place
from tests.factories import CampaignFactory, ContactFactory, make_wording, opt_in

LEDGER_TABLES = APPEND_ONLY_TABLES

# Every migration that installs a guard, with the tables it guards.
GUARD_MIGRATIONS = [
    ("contacts", "0002_append_only_triggers"),
    ("templates_app", "0002_roles_and_timeline_guard"),
    ("messaging", "0002_roles_and_history_guard"),
    ("contacts", "0007_truncate_guard"),
    ("templates_app", "0003_truncate_guard"),
    ("messaging", "0005_truncate_guard"),
    ("contacts", "0011_audience_guards_and_roles"),
    ("messaging", "0008_campaigns"),
    ("contacts", "0014_consent_chain"),
]


def make_ledger_rows() -> None:
    """At least one row in every append-only table."""
    contact = ContactFactory()
    make_wording()
    opt_in(contact)
    log_activity(actor=Actor.system("tests"), action="contact.changed", obj=contact)
    template = MessageTemplate.objects.create(
        name="ledger_test", language="en", category="UTILITY", body="Hi"
    )
    TemplateEvent.objects.create(
        template=template, kind="created", source="admin", actor_kind="system", actor_label="tests"
    )
    MessageStatusEvent.objects.create(wamid="wamid.ledger-test", status="sent")
    segment = Segment.objects.create(name="Ledger test", rules={"all": []})
    SegmentVersion.objects.create(segment=segment, version=1, rules=segment.rules)
    CampaignTransition.objects.create(
        campaign=CampaignFactory(),
        from_status="draft",
        to_status="pending_approval",
        actor_kind="system",
        actor_label="tests",
    )


def guard_operations(app_label: str, name: str) -> list[LedgerGuard]:
    migration = import_module(f"{app_label}.migrations.{name}").Migration
    return [op for op in migration.operations if isinstance(op, LedgerGuard)]


def fresh_connection():
    """A connection of our own to the test database, which never set the test-only setting."""
    import psycopg

    params = connection.settings_dict
    conn = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    )
    conn.execute("SET lock_timeout = '10s'")  # a mistake fails the test instead of hanging it
    return conn


def test_the_ledger_tables_are_the_documented_ones():
    assert LEDGER_TABLES == [
        "contacts_activitylogentry",
        "contacts_consentchainlink",
        "contacts_consentevent",
        "contacts_consentwording",
        "contacts_segmentversion",
        "messaging_campaigntransition",
        "messaging_messagestatusevent",
        "templates_app_templateevent",
    ]


# --- TRUNCATE (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_truncate_is_refused_on_a_connection_without_the_setting():
    import psycopg

    make_ledger_rows()
    statements = [f'TRUNCATE "{table}" CASCADE' for table in LEDGER_TABLES]
    statements.append('TRUNCATE "contacts_contact" CASCADE')  # reaches the consent ledger
    statements += sql_flush(no_style(), connection)  # what manage.py flush sends
    with fresh_connection() as conn:
        for sql in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only: TRUNCATE refused"):
                conn.execute(sql)
        for value in ("off", "true", "ON ", ""):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"SET LOCAL {ALLOW_TRUNCATE_SETTING} = '{value}'")
                conn.execute('TRUNCATE "contacts_consentevent" CASCADE')
        for table in LEDGER_TABLES:
            assert conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] >= 1, table


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_truncate_is_allowed_on_a_connection_that_sets_it():
    make_ledger_rows()
    with fresh_connection() as conn:
        with conn.transaction(force_rollback=True):
            conn.execute(f"SET LOCAL {ALLOW_TRUNCATE_SETTING} = on")
            conn.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in LEDGER_TABLES) + " CASCADE")
            assert conn.execute('SELECT COUNT(*) FROM "contacts_consentevent"').fetchone()[0] == 0
        assert conn.execute('SELECT COUNT(*) FROM "contacts_consentevent"').fetchone()[0] == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_empty_ledger_table_may_be_truncated_without_the_setting():
    with fresh_connection() as conn, conn.transaction(force_rollback=True):
        conn.execute('TRUNCATE "messaging_messagestatusevent"')  # nothing to lose


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_test_connections_may_truncate_the_ledger():
    """Django's flush between transactional tests depends on it."""
    make_ledger_rows()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT current_setting('{ALLOW_TRUNCATE_SETTING}', true)")
        assert cursor.fetchone() == ("on",)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks block TRUNCATE
        cursor.execute('TRUNCATE "contacts_consentevent", "contacts_consentwording" CASCADE')
    assert not ConsentEvent.objects.exists()


# --- manage.py flush ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_flush_is_refused_while_the_ledger_has_rows(settings, monkeypatch):
    settings.ALLOW_LEDGER_FLUSH = False
    make_ledger_rows()
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("asked to confirm a refused flush"))
    for interactive in (True, False):
        with pytest.raises(CommandError) as refused:
            call_command("flush", interactive=interactive, verbosity=0)
        message = str(refused.value)
        assert "append-only ledger holds rows" in message
        for table in LEDGER_TABLES:
            assert table in message
    assert Contact.objects.exists()
    assert ConsentEvent.objects.exists()
    assert ActivityLogEntry.objects.exists()


@pytest.mark.django_db
def test_flush_of_a_database_whose_ledger_is_empty_still_runs(settings):
    settings.ALLOW_LEDGER_FLUSH = False
    assert Group.objects.exists()  # the roles, made by migrations
    with transaction.atomic():
        if connection.vendor == "postgresql":  # as an operator's session would be
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL {ALLOW_TRUNCATE_SETTING} = off")
        call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
        assert not Group.objects.exists()


# --- Backwards migrations ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "name"), GUARD_MIGRATIONS)
def test_a_guard_migration_refuses_to_run_backwards_over_ledger_rows(app_label, name):
    make_ledger_rows()
    for operation in guard_operations(app_label, name):
        with pytest.raises(
            CommandError, match=rf"Refusing to unapply the {operation.guard} of {operation.tables[0]}"
        ):
            operation.reverse_code(apps, connection.schema_editor())
    if connection.vendor == "postgresql":
        assert_guards_in_place()


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "name"), GUARD_MIGRATIONS)
def test_an_empty_ledger_may_still_migrate_backwards(app_label, name):
    for operation in reversed(guard_operations(app_label, name)):
        operation.reverse_code(apps, connection.schema_editor())  # rolled back with the test


@pytest.mark.django_db
def test_migrate_refuses_a_backwards_plan_before_unapplying_anything():
    opt_in(ContactFactory())  # rows in the consent ledger only: the other apps' guards have none
    applied = set(MigrationRecorder(connection).applied_migrations())
    # The first guard the backwards plan meets: the chain link of the event just recorded.
    with pytest.raises(CommandError, match=r"contacts_consentchainlink \(contacts\.0014_consent_chain\)"):
        call_command("migrate", "contacts", "0001", interactive=False, verbosity=0)
    assert set(MigrationRecorder(connection).applied_migrations()) == applied
    assert ConsentEvent.objects.exists()
