from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """The imports' periodic tasks and the consent chain's daily anchor and verification, declared
    in code and created idempotently after every migrate (as messaging's sweeps are)."""
    from django_q.models import Schedule

    from contacts.imports.tasks import PURGE_SCHEDULE_NAME, RESUME_EVERY_MINUTES, RESUME_SCHEDULE_NAME
    from contacts.ledger_chain import ANCHOR_SCHEDULE_NAME
    from contacts.tasks_ledger import VERIFY_SCHEDULE_NAME

    for name, func, timing in (
        (
            RESUME_SCHEDULE_NAME,
            "contacts.imports.tasks.import_resume_stalled",
            {"schedule_type": Schedule.MINUTES, "minutes": RESUME_EVERY_MINUTES},
        ),
        (PURGE_SCHEDULE_NAME, "contacts.imports.tasks.import_files_purge", {"schedule_type": Schedule.DAILY}),
        (
            ANCHOR_SCHEDULE_NAME,
            "contacts.ledger_chain.consent_chain_anchor",
            {"schedule_type": Schedule.DAILY},
        ),
        (
            VERIFY_SCHEDULE_NAME,
            "contacts.tasks_ledger.ledger_verify_start",
            {"schedule_type": Schedule.DAILY},
        ),
    ):
        Schedule.objects.update_or_create(name=name, defaults={"func": func, "repeats": -1, **timing})


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts and consent"

    def ready(self):
        post_migrate.connect(ensure_schedules, sender=self)
