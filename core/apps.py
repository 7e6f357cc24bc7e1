from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate


class CoreConfig(AppConfig):
    """The bottom of the import order: the error type, actors, append-only rows, roles."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.db import (
            refuse_unapplying_ledger_guards,
            sqlite_update_guards_after_migrate,
            sqlite_update_guards_on_connect,
        )

        # Sent once per app; connected for this one, so a plan is checked once.
        pre_migrate.connect(refuse_unapplying_ledger_guards, sender=self, dispatch_uid="core.ledger_guards")
        # SQLite's UPDATE trigger on the ledger tables (core.db says why not by migration).
        post_migrate.connect(
            sqlite_update_guards_after_migrate, sender=self, dispatch_uid="core.sqlite_update_guards"
        )
        connection_created.connect(sqlite_update_guards_on_connect, dispatch_uid="core.sqlite_update_guards")
