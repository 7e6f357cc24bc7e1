"""What a classified Meta error does to a message: one table for HTTP answers and failed webhooks."""

from cloud_api.errors import MetaError
from messaging.models import OutboundMessage, SendAttempt


def handle_meta_error(
    *, message: OutboundMessage, attempt: SendAttempt, error: MetaError, source: str
) -> None:
    """Apply DESIGN.md's action for ``error.error_class`` to ``message`` (``source``: "http" or "webhook").

    throughput → requeue and slow the global limiter; pair-rate → requeue after 4^n s; transient →
    requeue with backoff and jitter until the retry deadline, then failed; deferred (131049) →
    requeue no sooner than 24 h; template-paused (132015) → wait with hold reason template_paused;
    recipient-permanent → failed (131050 also records a marketing opt-out, source
    whatsapp_signal; 131026 sets contact.not_on_whatsapp_since); request-permanent → failed;
    account-level → the message waits (hold reason halt) and sending halts everywhere.
    """
    raise NotImplementedError
