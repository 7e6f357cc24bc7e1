"""Storing a signed webhook body: the one thing the view does before answering 200."""

from django.db import transaction

from messaging.models import WebhookEvent
from messaging.webhooks.tasks import wake_processor


def webhook_event_receive(*, body: bytes, signature: str) -> WebhookEvent:
    """Store a signed body exactly as received (one durable commit), then wake the processor."""
    event = WebhookEvent.objects.create(body=body, signature=signature[:128])
    # robust: a broker or cache outage is logged, never a 500 (Meta would resend the body); the
    # event stays pending and the per-minute sweep wakes a processor for it.
    transaction.on_commit(wake_processor, robust=True)
    return event
