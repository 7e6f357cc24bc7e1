"""django-q2 tasks of the REST API: thin, repeatable, called by dotted path."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from api.callbacks.delivery import deliver_due
from api.models import CallbackEvent, CallbackState

DELIVER_SCHEDULE_NAME = "api: deliver callbacks"
DELIVER_EVERY_MINUTES = 1
PURGE_CALLBACKS_SCHEDULE_NAME = "api: purge old callback events"


def deliver_callbacks() -> str:
    """Post the due callback events, a batch at a time, until none is due (woken after the commit
    of a change that wrote events, and every minute for retries)."""
    return deliver_due()


def callback_events_purge(*, now=None) -> int:
    """Delete callback events delivered or given up more than ``API_CALLBACK_RETENTION_DAYS`` ago,
    with their delivery attempts. An event can carry what a person wrote (``message.received``):
    the outbox is a queue, not an archive, and keeping copies of chats would outlive an erasure
    (docs/erasure.md). Returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.API_CALLBACK_RETENTION_DAYS)
    _, per_model = CallbackEvent.objects.filter(
        state__in=[CallbackState.DELIVERED, CallbackState.GAVE_UP], created_at__lt=cutoff
    ).delete()
    return per_model.get(CallbackEvent._meta.label, 0)
