"""Database-level guards for append-only tables.

On PostgreSQL a row trigger refuses UPDATE and DELETE on the ledger tables, so not even raw SQL
can rewrite history, and a statement trigger refuses TRUNCATE of a ledger table that holds rows,
which row triggers do not see (``manage.py flush`` empties every table with one TRUNCATE). The
test database's connections set ``app.allow_ledger_truncate = on`` (tests/conftest.py) because
Django empties the database between transactional tests with that same flush; production code
never sets it.

On SQLite (the embedded demo database) a ``BEFORE UPDATE`` trigger refuses UPDATE, upserts
included (``INSERT ... ON CONFLICT DO UPDATE`` fires UPDATE triggers). It has no DELETE trigger: that
would break Django's test flush, which empties tables with ``DELETE FROM``;
``core.management.commands.flush`` and the code-level guards refuse deletes instead. The SQLite
trigger is not installed by a migration but by :func:`install_sqlite_update_guards`, on every new
connection and after every ``migrate`` (core.apps): SQLite alters a table by building a new one
and dropping the old, which drops the old table's triggers, so a trigger a migration installed
would silently vanish with the next migration that alters a ledger table.

Unapplying a migration that installed a guard is refused while its table holds rows: dropping the
guard silently would leave the ledger open to rewriting, and going further back drops the table.
``migrate`` checks its whole plan before it unapplies anything (``refuse_unapplying_ledger_guards``,
connected to ``pre_migrate`` in core.apps); the guard's own backwards step checks again.
"""

from django.apps import apps
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections, migrations

# The PostgreSQL setting that lets a session TRUNCATE a ledger table; only tests set it.
ALLOW_TRUNCATE_SETTING = "app.allow_ledger_truncate"

_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

# current_setting(..., true) is NULL when the session never set it, so only an explicit "on" passes.
# An empty table may be truncated (nothing is lost), so that a flush of a database whose ledger is
# empty still works; TRUNCATE holds its exclusive lock before this runs, so no row can slip in.
_TRUNCATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION refuse_ledger_truncate() RETURNS trigger AS $$
DECLARE
    has_rows boolean;
BEGIN
    IF current_setting('{ALLOW_TRUNCATE_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO has_rows;
    IF has_rows THEN
        RAISE EXCEPTION 'table % is append-only: TRUNCATE refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The ledger is evidence and is never emptied; only the test database''s '
                         'connections set {ALLOW_TRUNCATE_SETTING}.';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def trigger_name(table: str) -> str:
    return f"{table}_append_only"


def truncate_trigger_name(table: str) -> str:
    return f"{table}_no_truncate"


class LedgerGuard(migrations.RunPython):
    """A migration step that installs a guard on ledger tables; ``tables`` and ``guard`` name them."""

    tables: tuple[str, ...] = ()
    guard = ""


def refuse_if_ledger_has_rows(connection, tables, guard: str, migration: str = "") -> None:
    """Refuse to drop ``guard`` while any of ``tables`` holds rows (all are checked before any drop)."""
    where = f" ({migration})" if migration else ""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            (rows,) = cursor.fetchone()
            if rows:
                raise CommandError(
                    f"Refusing to unapply the {guard} of {table}{where}: the table holds {rows} "
                    "ledger row(s), which would be left open to rewriting (and going further back "
                    "drops the table). Unapply it only on a database whose ledger is empty."
                )


def refuse_unapplying_ledger_guards(sender=None, plan=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``pre_migrate``: stop a backwards plan before its first step if it would drop a ledger guard.

    Without this, ``migrate contacts 0001`` would unapply the later migrations of other apps first
    and only then meet the guard's own refusal, leaving the database half way back.
    """
    connection = connections[using]
    existing = None
    for migration, backwards in plan or ():
        if not backwards:
            continue
        for operation in migration.operations:
            if isinstance(operation, LedgerGuard):
                if existing is None:
                    existing = set(connection.introspection.table_names())
                tables = [table for table in operation.tables if table in existing]
                refuse_if_ledger_has_rows(connection, tables, operation.guard, str(migration))


def _guard(tables, guard: str, forwards, backwards) -> LedgerGuard:
    operation = LedgerGuard(forwards, backwards, elidable=False)
    operation.tables, operation.guard = tables, guard
    return operation


def append_only_triggers(*tables: str) -> LedgerGuard:
    """A migration operation installing the append-only trigger on each table (PostgreSQL only)."""
    return _trigger_guard(
        tables,
        guard="append-only trigger",
        function=_FUNCTION,
        name=trigger_name,
        definition="BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION refuse_append_only_change()",
    )


def truncate_guard_triggers(*tables: str) -> LedgerGuard:
    """A migration operation refusing TRUNCATE on each table unless the session allows it (PostgreSQL).

    A statement-level trigger, because TRUNCATE fires no row triggers; it also fires when the table
    is reached through ``TRUNCATE ... CASCADE`` from a table it references.
    """
    return _trigger_guard(
        tables,
        guard="TRUNCATE guard",
        function=_TRUNCATE_FUNCTION,
        name=truncate_trigger_name,
        definition="BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_truncate()",
    )


def _trigger_guard(tables, *, guard: str, function: str, name, definition: str) -> LedgerGuard:
    """Install ``function`` and one trigger per table; backwards refuses while a table holds rows."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(function, params=None)
        for table in tables:
            schema_editor.execute(f'CREATE TRIGGER "{name(table)}" ' + definition.format(table=f'"{table}"'))

    def backwards(apps, schema_editor):
        refuse_if_ledger_has_rows(schema_editor.connection, tables, guard)
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name(table)}" ON "{table}"')

    return _guard(tables, guard, forwards, backwards)


def _ledger_tables() -> list[str]:
    from core.models import AppendOnlyModel

    return sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, AppendOnlyModel) and model._meta.managed and not model._meta.proxy
    )


def _sqlite_update_guard(table: str) -> str:
    return (
        f'CREATE TRIGGER IF NOT EXISTS "{trigger_name(table)}" BEFORE UPDATE ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END"
    )


def install_sqlite_update_guards(connection) -> list[str]:
    """Give each ledger table of this SQLite database its UPDATE trigger if it lacks one; returns
    the tables that got one now. Tables not created yet are left for after ``migrate``.

    Runs on the driver's own connection, outside Django's query log, so that opening a connection
    never adds a query to a test that counts them; when every trigger is there it is one read of
    ``sqlite_master``.
    """
    if connection.vendor != "sqlite" or not apps.models_ready:
        return []
    connection.ensure_connection()
    raw = connection.connection
    present = raw.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')"
    ).fetchall()
    tables = {name for kind, name in present if kind == "table"}
    triggers = {name for kind, name in present if kind == "trigger"}
    missing = [t for t in _ledger_tables() if t in tables and trigger_name(t) not in triggers]
    for table in missing:
        raw.execute(_sqlite_update_guard(table))
    return missing


def sqlite_update_guards_on_connect(sender=None, connection=None, **kwargs) -> None:
    """``connection_created``: a database migrated by other code, or a trigger lost, is guarded again."""
    install_sqlite_update_guards(connection)


def sqlite_update_guards_after_migrate(sender=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``post_migrate``: put back the triggers a migration that rebuilt a ledger table dropped."""
    install_sqlite_update_guards(connections[using])
