"""Applying Meta's delivery statuses to attempts and messages: forward only, never back."""

from messaging.models import SendAttempt


def apply_pending_statuses(attempt: SendAttempt) -> None:
    """Apply statuses that arrived for ``attempt.wamid`` before the attempt was recorded.

    The send path calls this right after it stores an accepted attempt's wamid: a status webhook
    can beat the send's commit, and such statuses wait in MessageStatusEvent with no attempt.
    """
    raise NotImplementedError
