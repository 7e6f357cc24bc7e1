from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """Schedules are declared in code and created idempotently after every migrate."""
    from django_q.models import Schedule

    from messaging.tasks import SWEEP_EVERY_MINUTES, SWEEP_SCHEDULE_NAME

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": "messaging.tasks.sweep_sending",
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
