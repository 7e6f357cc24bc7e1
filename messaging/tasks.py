"""django-q2 tasks for messaging: thin, repeatable, called by dotted path."""

from messaging.sending.dispatch import send_queued as _send_queued
from messaging.sending.sweeper import sweep

SWEEP_SCHEDULE_NAME = "messaging: sweep the send queue"
SWEEP_EVERY_MINUTES = 1


def send_queued(message_id: int) -> str:
    """Claim one queued message and send it; returns quietly when it is not due or already taken."""
    return _send_queued(message_id)


def sweep_sending() -> str:
    """Scheduled: expired claims, due holds and retries, lost tasks, unknown outcomes past their deadline."""
    return sweep().summary()
