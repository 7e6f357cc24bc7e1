"""The sweeper (every minute): what no task is going to do by itself.

- **Expired claims** — ``sending`` for longer than a worker can take: with no attempt, nothing
  left, so back to ``queued``; with a pending attempt a request may have left, so the message is
  ``unknown`` with a reconcile deadline (never resent blindly).
- **Due holds and retries** — ``queued`` with a hold whose time has come: released.
- **A dispatcher for what is due** — anything due and no dispatcher awake (a worker died, a wake
  was lost with Redis, a hold just released): one is woken. Waking is a no-op while one is awake.
- **Overdue unknowns** — an unknown attempt past its deadline with no webhook: the message is
  flagged ``needs_review`` for staff, who resend it or mark it failed.

Every step is set-based and safe to run twice or in two sweepers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from messaging.models import AttemptOutcome, HoldReason, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending.enqueue import wake_dispatcher
from messaging.signals import announce_states_of

# Longer than a task can live (django-q2's timeout is 60 s): the limiter wait plus connect and read.
CLAIM_TIMEOUT = timedelta(minutes=3)
BATCH = 5_000


@dataclass
class SweepResult:
    claims_requeued: int = 0
    claims_unknown: int = 0
    released: int = 0
    dispatcher_woken: bool = False
    needs_review: int = 0

    def summary(self) -> str:
        return (
            f"{self.claims_requeued} expired claims requeued, {self.claims_unknown} made unknown, "
            f"{self.released} held messages released, "
            f"{'a dispatcher woken' if self.dispatcher_woken else 'no dispatcher needed'}, "
            f"{self.needs_review} unknown ones need review"
        )


def sweep(now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult()
    expire_claims(now, result)
    wake_approved_templates(now)
    release_due(now, result)
    flag_overdue_unknown(now, result)
    wake_for_due(now, result)
    return result


def expire_claims(now: datetime, result: SweepResult) -> None:
    cutoff = now - CLAIM_TIMEOUT
    deadline = now + timedelta(minutes=settings.WHATSAPP_UNKNOWN_DEADLINE_MINUTES)
    pending = SendAttempt.objects.filter(message_id=OuterRef("pk"), outcome=AttemptOutcome.PENDING)
    with transaction.atomic():
        # Lock the stale claims first, then look for their pending attempts: a worker still
        # starting an attempt either committed it before our lock (we see it: unknown) or waits
        # for our commit and then finds its claim gone (no request leaves) — never both.
        locked = list(
            OutboundMessage.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        stale = OutboundMessage.objects.filter(pk__in=locked, status=MessageStatus.SENDING)
        unknown_ids = list(stale.filter(Exists(pending)).values_list("pk", flat=True)[:BATCH])
        result.claims_unknown = OutboundMessage.objects.filter(
            pk__in=unknown_ids, status=MessageStatus.SENDING
        ).update(
            status=MessageStatus.UNKNOWN,
            error_class="unknown",
            error_text="The worker sending it stopped answering; a request may have reached WhatsApp.",
            updated_at=now,
        )
        announce_states_of(unknown_ids, MessageStatus.UNKNOWN)
        SendAttempt.objects.filter(message_id__in=unknown_ids, outcome=AttemptOutcome.PENDING).update(
            outcome=AttemptOutcome.UNKNOWN, finished_at=now, reconcile_by=deadline
        )
        requeue_ids = list(stale.exclude(Exists(pending)).values_list("pk", flat=True)[:BATCH])
        result.claims_requeued = OutboundMessage.objects.filter(
            pk__in=requeue_ids, status=MessageStatus.SENDING
        ).update(
            status=MessageStatus.QUEUED,
            claimed_at=None,
            hold_reason=HoldReason.NONE,
            next_attempt_at=now,
            updated_at=now,
        )


def wake_approved_templates(now: datetime) -> int:
    """Messages held for a paused (or re-reviewed) template become due as soon as it is approved
    again, instead of at their next hourly re-check."""
    return OutboundMessage.objects.filter(
        status=MessageStatus.QUEUED,
        hold_reason=HoldReason.TEMPLATE_PAUSED,
        next_attempt_at__gt=now,
        template_version__template__status="APPROVED",
    ).update(next_attempt_at=now, updated_at=now)


def release_due(now: datetime, result: SweepResult) -> None:
    held = OutboundMessage.objects.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now).exclude(
        hold_reason=HoldReason.NONE
    )
    with transaction.atomic():
        ids = list(
            held.select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:BATCH]
        )
        result.released = held.filter(pk__in=ids).update(
            hold_reason=HoldReason.NONE, next_attempt_at=now, updated_at=now
        )


def wake_for_due(now: datetime, result: SweepResult) -> None:
    from messaging.sending.batch import dispatchable_q

    if OutboundMessage.objects.filter(dispatchable_q(now)).exists():
        result.dispatcher_woken = wake_dispatcher()


def flag_overdue_unknown(now: datetime, result: SweepResult) -> None:
    overdue = SendAttempt.objects.filter(
        message_id=OuterRef("pk"), outcome=AttemptOutcome.UNKNOWN, reconcile_by__lt=now
    )
    result.needs_review = (
        OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN, needs_review=False)
        .filter(Exists(overdue))
        .update(needs_review=True, updated_at=now)
    )
