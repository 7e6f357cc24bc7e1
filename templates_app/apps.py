from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """Schedules are declared in code and created idempotently after every migrate."""
    from django_q.models import Schedule

    from templates_app.tasks import SYNC_EVERY_MINUTES, SYNC_SCHEDULE_NAME

    Schedule.objects.update_or_create(
        name=SYNC_SCHEDULE_NAME,
        defaults={
            "func": "templates_app.tasks.sync_templates",
            "schedule_type": Schedule.MINUTES,
            "minutes": SYNC_EVERY_MINUTES,
            "repeats": -1,
        },
    )


class TemplatesAppConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Message templates"

    def ready(self):
        post_migrate.connect(ensure_schedules, sender=self)
