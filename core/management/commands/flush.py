"""``manage.py flush``, refused while the append-only ledger holds rows.

Django's flush empties every table, the consent ledger included: on PostgreSQL with one TRUNCATE,
which the ledger's row triggers do not see (a statement trigger refuses it, core.db), and on SQLite
with ``DELETE FROM``, which no trigger guards there. The ledger is the evidence of who agreed to
what and when, so an operator's flush stops here, before the confirmation prompt.

Tests flush between transactional tests (Django's TransactionTestCase calls this command through
``call_command``); the test configuration sets ``settings.ALLOW_LEDGER_FLUSH = True``
(tests/conftest.py). No other configuration sets it: it is read from no environment variable.
"""

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import connections

from core.models import AppendOnlyModel


def ledger_row_counts(database: str) -> dict[str, int]:
    """Rows per append-only table that exists in ``database``; empty tables are left out."""
    connection = connections[database]
    existing = set(connection.introspection.table_names())
    counts = {}
    for model in apps.get_models():
        table = model._meta.db_table
        if issubclass(model, AppendOnlyModel) and table in existing:
            rows = model._base_manager.using(database).count()
            if rows:
                counts[table] = rows
    return counts


class Command(flush.Command):
    help = (
        f"{flush.Command.help} Refused while an append-only ledger table (consent events and "
        "wordings, the activity log, template events, status history) holds rows."
    )

    def handle(self, **options):
        if not getattr(settings, "ALLOW_LEDGER_FLUSH", False):
            counts = ledger_row_counts(options["database"])
            if counts:
                tables = ", ".join(f"{table} ({rows})" for table, rows in sorted(counts.items()))
                raise CommandError(
                    f"Refusing to flush the {options['database']!r} database: its append-only ledger "
                    f"holds rows in {tables}. The ledger is the record of consent and of what was "
                    "sent, and is never emptied. To start over, create a new database and migrate it."
                )
        return super().handle(**options)
