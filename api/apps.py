from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """The callback deliverer's schedule and the hourly purges (expired idempotency records, old
    callback events), declared in code and created idempotently after every migrate."""
    from django_q.models import Schedule

    from api.idempotency import PURGE_SCHEDULE_NAME
    from api.tasks import DELIVER_EVERY_MINUTES, DELIVER_SCHEDULE_NAME, PURGE_CALLBACKS_SCHEDULE_NAME

    Schedule.objects.update_or_create(
        name=DELIVER_SCHEDULE_NAME,
        defaults={
            "func": "api.tasks.deliver_callbacks",
            "schedule_type": Schedule.MINUTES,
            "minutes": DELIVER_EVERY_MINUTES,
            "repeats": -1,
        },
    )
    for name, func in (
        (PURGE_SCHEDULE_NAME, "api.idempotency.idempotency_records_purge"),
        (PURGE_CALLBACKS_SCHEDULE_NAME, "api.tasks.callback_events_purge"),
    ):
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.HOURLY, "repeats": -1}
        )


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        from api import (
            admin_callbacks,  # noqa: F401  (registers the callback outbox's admin)
            schema,  # noqa: F401  (registers the authentication scheme with drf-spectacular)
        )
        from api.callbacks import outbox
        from contacts.signals import consent_events_recorded, contact_merged
        from messaging.signals import inbound_message_received, message_states_changed

        post_migrate.connect(ensure_schedules, sender=self)
        # The callback outbox: written in the transaction of each change it reports.
        message_states_changed.connect(outbox.on_message_states_changed, dispatch_uid="api.callbacks.states")
        inbound_message_received.connect(
            outbox.on_inbound_message_received, dispatch_uid="api.callbacks.inbound"
        )
        consent_events_recorded.connect(
            outbox.on_consent_events_recorded, dispatch_uid="api.callbacks.consent"
        )
        contact_merged.connect(outbox.on_contact_merged, dispatch_uid="api.callbacks.merge")
