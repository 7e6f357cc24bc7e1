from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender, **kwargs):
    """The hourly sweep of stuck runs, declared in code and created idempotently after every migrate."""
    from django_q.models import Schedule

    from surveys.tasks import SWEEP_SCHEDULE_NAME

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={"func": "surveys.tasks.sweep_stuck_runs", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys"

    def ready(self):
        from contacts.signals import consent_events_recorded, contact_merge_previewed, contact_merged
        from messaging.signals import inbound_message_received
        from surveys.merging import count_runs, move_runs
        from surveys.receivers import on_consent_events, on_inbound

        post_migrate.connect(ensure_schedules, sender=self)
        inbound_message_received.connect(on_inbound, dispatch_uid="surveys.on_inbound")
        consent_events_recorded.connect(on_consent_events, dispatch_uid="surveys.on_consent_events")
        contact_merged.connect(move_runs, dispatch_uid="surveys.move_runs")
        contact_merge_previewed.connect(count_runs, dispatch_uid="surveys.count_runs")
