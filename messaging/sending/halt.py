"""The sending halt: stop sending until an Administrator clears it.

Two ways in. An account-level error from WhatsApp (a bad token, payment, a policy restriction)
starts it with :func:`halt_sending` and stops *every* send — the account cannot send anything. An
Administrator or Approver starts it by hand with :func:`sending_halt_start` and a reason; that
stops business-initiated messages, while replies inside the window (STOP confirmations included)
still go (docs/sending.md). :meth:`HaltInfo.holds` is that rule, asked by the send-time rules
and by the dispatch after its wait for a rate slot.

There is at most one active ``SendingHalt`` (a partial unique constraint), so the first halt
starts it and any number of concurrent ones after it add nothing.

Every admin page and every send reads the active halt, so it is kept in the shared cache — but
never by the clock. A time-to-live would make a halt seen late and make a page's cost depend on
when it is rendered; instead the entry lives until a writer replaces it:

- a writer publishes the new state *after its commit* (``transaction.on_commit``), overwriting;
- a reader that missed stores what it read only if nothing is there (``cache.add``), so a reader
  that loaded the old state just before a writer committed cannot overwrite the writer's entry;
- inside a transaction the halt is read from the database and never cached: the transaction may
  hold an uncommitted halt, or roll one back, that no other process may see.

The remaining window — two writers committing within a moment and publishing in the opposite
order — is closed by the next write; starting or clearing a halt that is already in that state
publishes again, so the button staff press to fix what they see also fixes the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendingHalt
from messaging.sending.replies import is_reply

logger = logging.getLogger(__name__)

# Versioned: an entry pickled by an older HaltInfo (without ``manual``) is never read back.
CACHE_KEY = "messaging:active_halt:v2"
CLEAR_PERMISSION = "messaging.clear_sendinghalt"
HALT_PERMISSION = "messaging.halt_sending"
REASON_MAX_LENGTH = 1000


@dataclass(frozen=True)
class HaltInfo:
    """What the admin banner and the send-time rules need; cheap to keep in the cache."""

    id: int
    reason: str
    error_code: int | None
    started_at: datetime | None
    started_by: str = ""
    manual: bool = False

    def holds(self, message: OutboundMessage) -> bool:
        """A manual halt stops business-initiated messages only; WhatsApp's halt stops everything.

        "Reply" is :func:`~messaging.sending.replies.is_reply` — a flag alone does not let a
        message through a halt.
        """
        return not self.manual or not is_reply(message)


_NO_HALT = "none"


def active_halt() -> HaltInfo | None:
    """The active halt, or None: from the shared cache outside a transaction, else from the database."""
    if connection.in_atomic_block:
        return _load()
    cached = cache.get(CACHE_KEY)
    if cached == _NO_HALT:
        return None
    if isinstance(cached, HaltInfo):
        return cached
    info = _load()
    cache.add(CACHE_KEY, info or _NO_HALT, None)
    return info


def _load() -> HaltInfo | None:
    halt = SendingHalt.objects.filter(active=True).select_related("started_by").first()
    if halt is None:
        return None
    return HaltInfo(
        id=halt.pk,
        reason=halt.reason,
        error_code=halt.error_code,
        started_at=halt.started_at,
        started_by=halt.started_by.get_username() if halt.started_by else "",
        manual=halt.started_by_id is not None,
    )


def sending_halt_publish() -> None:
    """After a commit: store what the database now says, replacing whatever a reader left.

    Every writer here calls it. Anyone who changes ``SendingHalt`` rows another way (a shell, SQL,
    a restored backup) calls it afterwards, or the cache keeps saying what it said before.
    """
    info = _load()
    cache.set(CACHE_KEY, info or _NO_HALT, None)


def halt_sending(
    *, reason: str, code: int | None = None, message: OutboundMessage | None = None
) -> SendingHalt:
    """WhatsApp's account-level error: start the halt, or return the one already active.

    Repeating it, even concurrently, adds nothing. During a manual halt the manual one stays (the
    message that met the error is held all the same, by the caller).
    """
    existing = SendingHalt.objects.filter(active=True).first()
    if existing is not None:
        transaction.on_commit(sending_halt_publish)
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
    transaction.on_commit(sending_halt_publish)
    return halt


def sending_halt_start(*, actor: Actor, reason: str) -> SendingHalt:
    """Halt business-initiated sending by hand (Administrators, Approvers), with a reason.

    Replies inside the window still go; an Administrator clears it with :func:`clear_halt`.
    """
    if not (actor.is_staff_user and actor.user.has_perm(HALT_PERMISSION)):
        raise ApplicationError(
            "Only an Administrator or an Approver can halt sending.", code="permission_denied", field=None
        )
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Give a reason for halting sending: every admin page shows it until the halt is cleared.",
            code="halt_reason_empty",
            field="reason",
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise ApplicationError(
            f"The reason is {len(reason)} characters long; keep it to {REASON_MAX_LENGTH}.",
            code="halt_reason_too_long",
            field="reason",
        )
    existing = SendingHalt.objects.filter(active=True).first()
    if existing is None:
        try:
            with transaction.atomic():
                halt = SendingHalt.objects.create(reason=reason, started_by=actor.user)
                log_activity(
                    actor=actor, action="sending.halted", obj=halt, details={"reason": reason, "manual": True}
                )
        except IntegrityError:
            # Someone else halted between our read and our insert (the one-active-halt constraint).
            existing = SendingHalt.objects.filter(active=True).first()
        else:
            logger.warning("Sending halted by %s: %s", actor.label, reason)
            transaction.on_commit(sending_halt_publish)
            return halt
    transaction.on_commit(sending_halt_publish)
    raise ApplicationError(
        f"Sending is already halted (since {existing.started_at:%Y-%m-%d %H:%M}): {existing.reason}",
        code="already_halted",
        field=None,
    )


def clear_halt(*, actor: Actor) -> SendingHalt:
    """End the active halt (Administrators) and release every message it held."""
    from messaging.sending.enqueue import dispatch_after_commit

    if not (actor.is_staff_user and actor.user.has_perm(CLEAR_PERMISSION)):
        raise ApplicationError(
            "Only an Administrator can clear a sending halt.", code="permission_denied", field=None
        )
    now = timezone.now()
    with transaction.atomic():
        # Published after the commit either way: if staff saw a halt that is not there, the
        # entry they saw was stale, and this corrects it.
        transaction.on_commit(sending_halt_publish)
        halt = SendingHalt.objects.select_for_update().filter(active=True).first()
        if halt is not None:
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
                    "manual": halt.started_by_id is not None,
                    "released_messages": len(released),
                },
            )
            dispatch_after_commit()
    if halt is None:
        raise ApplicationError("Sending is not halted: there is nothing to clear.", code="no_active_halt")
    return halt
