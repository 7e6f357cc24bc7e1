from django.apps import AppConfig
from django.db.models.signals import pre_migrate


class CoreConfig(AppConfig):
    """The bottom of the import order: the error type, actors, append-only rows, roles."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.db import refuse_unapplying_ledger_guards

        # Sent once per app; connected for this one, so a plan is checked once.
        pre_migrate.connect(refuse_unapplying_ledger_guards, sender=self, dispatch_uid="core.ledger_guards")
