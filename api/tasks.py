"""django-q2 tasks of the REST API: thin, repeatable, called by dotted path."""

from api.callbacks.delivery import deliver_due

DELIVER_SCHEDULE_NAME = "api: deliver callbacks"
DELIVER_EVERY_MINUTES = 1


def deliver_callbacks() -> str:
    """Post the due callback events, a batch at a time, until none is due (woken after the commit
    of a change that wrote events, and every minute for retries)."""
    return deliver_due()
