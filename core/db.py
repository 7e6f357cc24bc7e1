"""Database-level guards for append-only tables.

On PostgreSQL a trigger refuses UPDATE and DELETE on the ledger tables, so not even raw SQL can
rewrite history. SQLite (the embedded demo database) relies on the code-level guards: a DELETE
trigger there would break Django's test flush, which empties tables with ``DELETE FROM``;
PostgreSQL's flush uses TRUNCATE, which row triggers do not see.
"""

from django.db import migrations

_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_append_only_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def trigger_name(table: str) -> str:
    return f"{table}_append_only"


def append_only_triggers(*tables: str) -> migrations.RunPython:
    """A migration operation installing the append-only trigger on each table (PostgreSQL only)."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_FUNCTION, params=None)
        for table in tables:
            schema_editor.execute(
                f'CREATE TRIGGER "{trigger_name(table)}" BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{trigger_name(table)}" ON "{table}"')

    return migrations.RunPython(forwards, backwards, elidable=False)
