"""The sending halt: an account-level error stops every send until an Administrator clears it.

There is at most one active ``SendingHalt`` (a partial unique constraint), so the first
account-level error starts it and any number of concurrent ones after it add nothing. Every admin
page shows the active halt, so it is read through the shared cache for a few seconds; starting and
clearing a halt invalidate that entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendingHalt

logger = logging.getLogger(__name__)

CACHE_KEY = "messaging:active_halt"
CACHE_SECONDS = 5
CLEAR_PERMISSION = "messaging.clear_sendinghalt"


@dataclass(frozen=True)
class HaltInfo:
    """What the admin banner and the send-time rules need; cheap to keep in the cache."""

    id: int
    reason: str
    error_code: int | None
    started_at: datetime


_NO_HALT = "none"


def active_halt() -> HaltInfo | None:
    """The active halt, or None; at most ``CACHE_SECONDS`` stale in the shared cache."""
    cached = cache.get(CACHE_KEY)
    if cached == _NO_HALT:
        return None
    if isinstance(cached, HaltInfo):
        return cached
    halt = SendingHalt.objects.filter(active=True).first()
    info = _info(halt) if halt else None
    cache.set(CACHE_KEY, info or _NO_HALT, CACHE_SECONDS)
    return info


def _info(halt: SendingHalt) -> HaltInfo:
    return HaltInfo(id=halt.pk, reason=halt.reason, error_code=halt.error_code, started_at=halt.started_at)


def halt_sending(
    *, reason: str, code: int | None = None, message: OutboundMessage | None = None
) -> SendingHalt:
    """Start the halt, or return the one already active: repeating it, even concurrently, adds nothing."""
    existing = SendingHalt.objects.filter(active=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            halt = SendingHalt.objects.create(reason=reason, error_code=code, message=message)
            log_activity(
                actor=Actor.system("WhatsApp"),
                action="sending.halted",
                obj=halt,
                details={
                    "reason": reason,
                    "error_code": code,
                    "message": str(message.public_id) if message else None,
                },
            )
    except IntegrityError:
        # Another worker started it between our read and our insert (the one-active-halt constraint).
        halt = SendingHalt.objects.get(active=True)
    else:
        logger.error("Sending halted (code %s): %s", code, reason)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))
    cache.delete(CACHE_KEY)
    return halt


def clear_halt(*, actor: Actor) -> SendingHalt:
    """End the active halt (Administrators) and release every message it held."""
    from messaging.sending.enqueue import enqueue_messages

    if not (actor.is_staff_user and actor.user.has_perm(CLEAR_PERMISSION)):
        raise ApplicationError(
            "Only an Administrator can clear a sending halt.", code="permission_denied", field=None
        )
    now = timezone.now()
    with transaction.atomic():
        halt = SendingHalt.objects.select_for_update().filter(active=True).first()
        if halt is None:
            raise ApplicationError("Sending is not halted: there is nothing to clear.", code="no_active_halt")
        SendingHalt.objects.filter(pk=halt.pk, active=True).update(
            active=False, cleared_at=now, cleared_by=actor.user
        )
        halt.refresh_from_db()
        held = OutboundMessage.objects.filter(status=MessageStatus.QUEUED, hold_reason=HoldReason.HALT)
        released = list(held.values_list("pk", flat=True))
        held.filter(pk__in=released).update(hold_reason=HoldReason.NONE, next_attempt_at=now)
        log_activity(
            actor=actor,
            action="sending.halt_cleared",
            obj=halt,
            details={
                "reason": halt.reason,
                "error_code": halt.error_code,
                "released_messages": len(released),
            },
        )
        transaction.on_commit(lambda: cache.delete(CACHE_KEY))
        enqueue_messages(released)
    cache.delete(CACHE_KEY)
    return halt
