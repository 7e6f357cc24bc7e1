"""The message's state changes on the send path, each one conditional UPDATE from the states it may leave.

``queued → sending``, and a claimed batch's holds and skips, are the dispatcher's (``batch``, one
statement for many messages); here are one message's after its answer: back to ``queued`` with a
hold (a rule or a retry), or ``failed``. Each returns whether it applied, so a caller that lost a
race (another worker, the sweeper, a webhook) does nothing more.

Nothing waits forever: transient retries end at ``WHATSAPP_RETRY_DEADLINE_HOURS`` after the
first attempt, deferred ones (131049) at ``WHATSAPP_DEFERRED_RETRY_DAYS`` after the first 131049.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending.enqueue import dispatch_after_commit
from messaging.signals import announce_states

# Held for at most this long: the dispatcher waits for the message itself instead of the sweeper.
SHORT_HOLD = timedelta(seconds=5)
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 30 * 60
# Meta's "deferred" code (per-user marketing limit; also what US numbers get for marketing).
DEFERRED_CODE = 131049
# States the outside world has heard of (the API's callbacks): a hold from one of them is news,
# a hold from ``sending`` (no answer yet) is not.
_REPORTED = {
    MessageStatus.ACCEPTED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.UNKNOWN,
}


def message_hold(
    message: OutboundMessage,
    *,
    reason: str,
    until: datetime | None,
    expected: Iterable[str] = (MessageStatus.SENDING,),
    error: dict | None = None,
) -> bool:
    """Back to ``queued``, waiting for ``reason`` until ``until`` (None: until released, e.g. the halt)."""
    now = timezone.now()
    changed = OutboundMessage.objects.filter(pk=message.pk, status__in=list(expected)).update(
        status=MessageStatus.QUEUED,
        hold_reason=reason,
        next_attempt_at=until,
        claimed_at=None,
        updated_at=now,
        **(error or {}),
    )
    if changed and message.status in _REPORTED:
        announce_states([message], MessageStatus.QUEUED)  # back in the queue after a report
    if changed and until is not None and until - now <= SHORT_HOLD:
        dispatch_after_commit()
    return changed == 1


def message_fail(message: OutboundMessage, *, error: dict, expected: Iterable[str]) -> bool:
    """Final ``failed``, with Meta's code (or our reason) in ``error`` (code, class, text)."""
    now = timezone.now()
    failed = (
        OutboundMessage.objects.filter(pk=message.pk, status__in=list(expected)).update(
            status=MessageStatus.FAILED,
            hold_reason=HoldReason.NONE,
            next_attempt_at=None,
            needs_review=False,
            failed_at=now,
            updated_at=now,
            **error,
        )
        == 1
    )
    if failed:
        announce_states([message], MessageStatus.FAILED)
    return failed


def retry_delay(attempt_number: int) -> timedelta:
    """Exponential backoff with jitter: 15–30 s, 30–60 s, … up to 15–30 minutes."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempt_number - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def retry_deadline(message: OutboundMessage) -> datetime:
    """Transient failures are retried until this long after the first attempt."""
    first = (
        SendAttempt.objects.filter(message_id=message.pk)
        .order_by("number")
        .values_list("started_at", flat=True)
        .first()
    )
    return (first or timezone.now()) + timedelta(hours=settings.WHATSAPP_RETRY_DEADLINE_HOURS)


def deferred_deadline(message: OutboundMessage) -> datetime:
    """Deferred messages (131049) are retried until this long after the first attempt Meta deferred.

    Counted from the first 131049, not the first attempt: transient failures before it have
    their own deadline. The attempt being handled already carries the code, so there is one.
    """
    first = (
        SendAttempt.objects.filter(message_id=message.pk, error_code=DEFERRED_CODE)
        .order_by("number")
        .values_list("started_at", flat=True)
        .first()
    )
    return (first or timezone.now()) + timedelta(days=settings.WHATSAPP_DEFERRED_RETRY_DAYS)


def message_retry_or_fail(
    message: OutboundMessage,
    *,
    attempt_number: int,
    error: dict,
    expected: Iterable[str],
    delay: timedelta | None = None,
    reason: str = HoldReason.RETRY,
    deadline: datetime | None = None,
    gave_up: str = "",
) -> str:
    """Requeue after a backoff (hold ``reason``), or fail — with the error as it came, Meta's code
    included — once the next try would fall after ``deadline`` (default: the transient retry
    deadline); ``gave_up`` says why in the failure text. Returns the new status."""
    now = timezone.now()
    until = now + (delay if delay is not None else retry_delay(attempt_number))
    if until > (deadline or retry_deadline(message)):
        text = error.get("error_text", "")
        why = gave_up or f"Gave up after {attempt_number} attempts"
        error = {**error, "error_text": f"{why}: {text}".strip()}
        message_fail(message, error=error, expected=expected)
        return MessageStatus.FAILED
    message_hold(message, reason=reason, until=until, expected=expected, error=error)
    return MessageStatus.QUEUED
