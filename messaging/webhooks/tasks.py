"""django-q2 tasks for the webhook: thin, repeatable, called by dotted path (STYLE.md, 6)."""

from django.db import transaction
from django_q.tasks import async_task

from messaging.webhooks.processing import commit_without_waiting_for_disk, process_pending_events

PROCESS_TASK = "messaging.webhooks.tasks.process_webhook"


def process_webhook(event_id: int) -> str:
    """Process a stored webhook event, with the oldest others still pending (together: cheaper).

    A second run finds it processed and returns; an event another run holds is left to that run.
    """
    return process_pending_events(first_id=event_id)


def enqueue_processing(event_id: int) -> None:
    """Queue the processing of a stored event (called on commit of the row it reads).

    The queue row (ORM broker) need not wait for the disk either: if a crash loses it, the event
    is still stored and pending, and ``reprocess_webhooks --pending`` picks it up.
    """
    with transaction.atomic():
        commit_without_waiting_for_disk()
        async_task(PROCESS_TASK, event_id, task_name=f"webhook {event_id}", group="webhooks")
