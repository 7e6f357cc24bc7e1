"""The wiring of received media: a receiver of ``inbound_message_received`` and the media schedules.

``MessagingConfig.ready`` calls :func:`connect_media`; both connections are idempotent.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_migrate
from django_q.tasks import async_task

from messaging.media_inbound import media_record_inbound
from messaging.signals import inbound_message_received


def on_inbound_message_received(sender, *, inbound, **kwargs) -> None:
    """Record a received file as pending and download it once the message is committed."""
    media = media_record_inbound(inbound)
    if media is not None:
        pk = media.pk
        transaction.on_commit(lambda: wake_download([pk]))


def wake_download(media_pks: list[int]) -> None:
    from messaging.media_tasks import DOWNLOAD_TASK

    async_task(DOWNLOAD_TASK, media_pks, task_name="media download", group="media")


def ensure_media_schedules(sender, **kwargs) -> None:
    """Declared in code, created or corrected after every migrate (``update_or_create`` by name)."""
    from django_q.models import Schedule

    from messaging.media_tasks import PURGE_SCHEDULE_NAME, RETRY_SCHEDULE_NAME

    Schedule.objects.update_or_create(
        name=RETRY_SCHEDULE_NAME,
        defaults={
            "func": "messaging.media_tasks.retry_media_downloads",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE_NAME,
        defaults={
            "func": "messaging.media_tasks.purge_media",
            "schedule_type": Schedule.HOURLY,
            "repeats": -1,
        },
    )


def connect_media(app_config) -> None:
    inbound_message_received.connect(on_inbound_message_received, dispatch_uid="messaging.media_inbound")
    post_migrate.connect(ensure_media_schedules, sender=app_config, dispatch_uid="messaging.media_schedules")
