"""Storing a signed webhook body: the one thing the view does before answering 200."""

from django.db import transaction

from messaging.models import WebhookEvent
from messaging.webhooks.tasks import enqueue_processing


def webhook_event_receive(*, body: bytes, signature: str) -> WebhookEvent:
    """Store a signed body exactly as received, and queue its processing once it is committed."""
    with transaction.atomic():
        event = WebhookEvent.objects.create(body=body, signature=signature[:128])
        # robust: a broker outage must not turn a stored event into a 500 (Meta would resend it);
        # the event stays pending and `reprocess_webhooks --pending` picks it up.
        transaction.on_commit(lambda: enqueue_processing(event.pk), robust=True)
    return event
