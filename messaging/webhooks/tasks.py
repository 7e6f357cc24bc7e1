"""django-q2 tasks for the webhook: thin, repeatable, called by dotted path (STYLE.md, 6)."""

from django_q.tasks import async_task

from messaging.webhooks.processing import process_webhook_event

PROCESS_TASK = "messaging.webhooks.tasks.process_webhook"


def process_webhook(event_id: int) -> str:
    """Process one stored webhook event; a second run finds it processed and returns."""
    return process_webhook_event(event_id=event_id)


def enqueue_processing(event_id: int) -> None:
    """Queue the processing of a stored event (called on commit of the row it reads)."""
    async_task(PROCESS_TASK, event_id, task_name=f"webhook {event_id}", group="webhooks")
