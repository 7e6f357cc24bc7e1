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
        from contacts.signals import contact_merge_previewed, contact_merged
        from messaging.campaigns.template_fate import on_template_changed
        from messaging.contact_merge import count_messages, move_messages
        from messaging.media_receivers import connect_media
        from messaging.segment_kinds import register_segment_kinds
        from templates_app.signals import template_changed

        post_migrate.connect(ensure_schedules, sender=self)
        contact_merged.connect(move_messages, dispatch_uid="messaging.move_messages")
        contact_merge_previewed.connect(count_messages, dispatch_uid="messaging.count_messages")
        register_segment_kinds()
        template_changed.connect(on_template_changed, dispatch_uid="messaging.campaign_template_fate")
        connect_media(self)  # received files downloaded after commit, their schedules
