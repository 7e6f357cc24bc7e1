"""Storing a signed webhook body: the one thing the view does before answering 200."""

import logging

from django.db import transaction

from messaging.models import WebhookEvent
from messaging.webhooks.tasks import wake_processor

logger = logging.getLogger(__name__)


def webhook_event_receive(*, body: bytes, signature: str) -> WebhookEvent:
    """Store a signed body exactly as received (one durable commit), then wake the processor."""
    event = WebhookEvent.objects.create(body=body, signature=signature[:128])
    # robust: a broker or cache outage must not turn a stored event into a 500 (Meta would resend
    # it); the event stays pending and the per-minute sweep wakes a processor for it.
    transaction.on_commit(_wake, robust=True)
    return event


def _wake() -> None:
    try:
        wake_processor()
    except Exception:
        logger.exception("could not wake the webhook processor; the sweep will")
