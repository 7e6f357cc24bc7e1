from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """Schedules are declared in code and created idempotently after every migrate."""
    from django_q.models import Schedule

    from messaging.tasks import SWEEP_EVERY_MINUTES, SWEEP_SCHEDULE_NAME
    from messaging.webhooks.tasks import SWEEP_SCHEDULE_NAME as WEBHOOK_SWEEP_NAME

    for name, func in (
        (SWEEP_SCHEDULE_NAME, "messaging.tasks.sweep_sending"),
        (WEBHOOK_SWEEP_NAME, "messaging.webhooks.tasks.sweep_webhooks"),
    ):
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": SWEEP_EVERY_MINUTES,
                "repeats": -1,
            },
        )


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        post_migrate.connect(ensure_schedules, sender=self)
