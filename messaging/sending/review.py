"""Staff decisions about a message whose outcome stayed unknown: send it again, or call it failed.

Only staff decide this, because only they can weigh a possible duplicate against a missing
message (docs/sending.md: never resend blindly). Both are conditional on the message still being
``unknown``: a webhook that reconciled it in the meantime wins.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import HoldReason, MessageStatus, OutboundMessage
from messaging.sending.enqueue import dispatch_after_commit
from messaging.signals import announce_states

REVIEW_PERMISSION = "messaging.review_unknown_message"


def _check(message: OutboundMessage, actor: Actor) -> None:
    if actor.is_staff_user and not actor.user.has_perm(REVIEW_PERMISSION):
        raise ApplicationError(
            "You may not resend or mark failed a message whose outcome is unknown.", code="permission_denied"
        )


def _not_unknown(message: OutboundMessage) -> ApplicationError:
    message.refresh_from_db(fields=["status"])
    return ApplicationError(
        f"The message is {message.get_status_display().lower()}, not of unknown outcome: nothing to review.",
        code="message_not_unknown",
    )


def message_resend(*, message: OutboundMessage, actor: Actor) -> OutboundMessage:
    """Queue a new attempt of an unknown message; the send-time rules apply again (consent, halt …)."""
    _check(message, actor)
    now = timezone.now()
    with transaction.atomic():
        changed = OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.UNKNOWN).update(
            status=MessageStatus.QUEUED,
            needs_review=False,
            hold_reason=HoldReason.NONE,
            next_attempt_at=now,
            claimed_at=None,
            updated_at=now,
        )
        if changed != 1:
            raise _not_unknown(message)
        announce_states([message], MessageStatus.QUEUED)
        log_activity(
            actor=actor,
            action="message.resent",
            obj=message,
            details={"public_id": str(message.public_id), "attempts_so_far": message.attempt_count},
        )
        dispatch_after_commit()
    message.refresh_from_db()
    return message


def message_mark_failed(*, message: OutboundMessage, actor: Actor) -> OutboundMessage:
    """Close an unknown message as failed: staff judged that it never reached the person."""
    _check(message, actor)
    now = timezone.now()
    with transaction.atomic():
        changed = OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.UNKNOWN).update(
            status=MessageStatus.FAILED,
            needs_review=False,
            failed_at=now,
            error_class="marked_failed",
            error_text=f"Outcome unknown; marked failed by {actor.label or actor.kind}.",
            updated_at=now,
        )
        if changed != 1:
            raise _not_unknown(message)
        announce_states([message], MessageStatus.FAILED)
        log_activity(
            actor=actor,
            action="message.marked_failed",
            obj=message,
            details={"public_id": str(message.public_id)},
        )
    message.refresh_from_db()
    return message
