"""Claim one queued message, apply the send-time rules, take a slot from the global limiter, send it.

The steps, each committed before the next, so a crash anywhere leaves a state the sweeper can read:

1. **Claim** (one transaction): the row is locked with ``SKIP LOCKED`` (another worker holding it
   means this one returns at once), the contact's row is locked as ``record_consent`` locks it (an
   opt-out recorded meanwhile is either seen or waits for us), the rules are asked, and the
   message moves ``queued → sending`` with a conditional UPDATE that also stores the authorising
   consent event. Held → stays ``queued`` with the reason; never allowed → ``skipped``.
2. **Slot**: the global rate limiter says when the request may leave; sleep until then.
3. **Last check and attempt** (one transaction, under the contact's row lock again): what may
   have changed during the wait is asked once more (``rules.recheck_before_request``: a merge,
   and consent read with its proof), so an opt-out recorded while the message waited for its slot
   wins — the message is skipped and the slot simply spent. Then a ``pending`` SendAttempt is
   written, conditional on our claim still standing, and the consent event that holds now is
   stored as the proof. "Sending with no attempt" therefore proves nothing left; "sending with a
   pending attempt" means a request may have left.
4. **Send and record**: accepted (wamid; the contact's wa_id), not sent (retry), unknown
   (reconcile_by; never resent blindly) or refused (``failures.handle_meta_error``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cloud_api.backends import get_backend
from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown, Refused, SendOutcome, describe
from cloud_api.payloads import Payload, template_message_with_components, text_message
from contacts.matching import contact_adopt_wa_id
from contacts.models import Contact
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import (
    AttemptOutcome,
    HoldReason,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    RateLimiterSlot,
    SendAttempt,
)
from messaging.sending import limiter
from messaging.sending.failures import handle_meta_error
from messaging.sending.halt import active_halt
from messaging.sending.replies import is_reply
from messaging.sending.rules import Verdict, recheck_before_request, recipient_address, send_time_verdict
from messaging.sending.states import (
    SHORT_HOLD,
    message_fail,
    message_hold,
    message_retry_or_fail,
    message_skip,
)
from templates_app.sending import send_components

logger = logging.getLogger(__name__)

# Claims of business-initiated messages are serialised on this row, so two workers cannot both
# spend the last unit of the budget or the frequency cap.
RULES_LOCK_KEY = "claim:send-time-rules"
_WA_ID_ACTOR = Actor.system("WhatsApp answer to a send")


@dataclass(frozen=True)
class Claim:
    message: OutboundMessage
    token: datetime  # claimed_at: later steps act only while this claim stands


def send_queued(message_id: int) -> str:
    """The task's body: send one message if it is due and still ours to send; says what happened."""
    _wait_if_due_shortly(message_id)
    result = claim_message(message_id)
    if result is None:
        return "not due or taken by another worker"
    if isinstance(result, Verdict):
        return f"{result.action}: {result.reason}"
    return send_claimed(result)


def _wait_if_due_shortly(message_id: int) -> None:
    """A message retried in a second or two (throughput) is waited for here, not by the sweeper."""
    due = (
        OutboundMessage.objects.filter(pk=message_id, status=MessageStatus.QUEUED)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due is not None:
        wait = (due - timezone.now()).total_seconds()
        if 0 < wait <= SHORT_HOLD.total_seconds():
            time.sleep(wait)


def _due(now: datetime) -> Q:
    return Q(status=MessageStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim_message(message_id: int, now: datetime | None = None) -> Claim | Verdict | None:
    """``queued → sending`` if due and allowed; a hold or skip verdict; or None (not due, or taken)."""
    now = now or timezone.now()
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact", "template_version__template")
            .filter(_due(now), pk=message_id)
            .first()
        )
        if message is None:
            return None
        # The lock record_consent takes: an opt-out being recorded now is seen, or waits for our claim.
        Contact.objects.select_for_update().filter(pk=message.contact_id).exists()
        if not is_reply(message):
            _lock_rules()
        message.contact.refresh_from_db()
        verdict = send_time_verdict(message, now)
        if verdict.held:
            message_hold(
                message, reason=verdict.reason, until=verdict.until, expected=(MessageStatus.QUEUED,)
            )
            return verdict
        if verdict.skipped:
            message_skip(message, reason=verdict.reason, detail=verdict.detail)
            return verdict
        claimed = OutboundMessage.objects.filter(_due(now), pk=message.pk).update(
            status=MessageStatus.SENDING,
            claimed_at=now,
            hold_reason=HoldReason.NONE,
            next_attempt_at=None,
            authorising_event_id=verdict.authorising_event_id,
            purpose=verdict.purpose or message.purpose,
            template_version_id=verdict.template_version_id or message.template_version_id,
            updated_at=now,
        )
        if claimed != 1:
            return None
    message.refresh_from_db()
    return Claim(message=message, token=now)


def _lock_rules() -> None:
    RateLimiterSlot.objects.get_or_create(key=RULES_LOCK_KEY)
    RateLimiterSlot.objects.select_for_update().filter(key=RULES_LOCK_KEY).exists()


def build_payload(message: OutboundMessage) -> Payload:
    """Meta's request body for the message, with its public id as ``biz_opaque_callback_data``."""
    to = recipient_address(message.contact)
    callback = str(message.public_id)
    if message.kind == MessageKind.TEMPLATE:
        version = message.template_version
        template = version.template
        opt_out = f"optout:{version.opt_out_purpose}:{message.public_id}" if version.opt_out_purpose else None
        components = send_components(version, message.parameters, opt_out_payload=opt_out)
        return template_message_with_components(
            to,
            name=template.name,
            language=template.language,
            components=components,
            biz_opaque_callback_data=callback,
        )
    if message.kind == MessageKind.TEXT:
        return text_message(to, message.content.get("body", ""), biz_opaque_callback_data=callback)
    raise ApplicationError(
        f"Sending {message.kind} messages is not supported yet.", code="kind_not_supported"
    )


def send_claimed(claim: Claim) -> str:
    """Steps 2–4 for a message this worker claimed."""
    message = claim.message
    try:
        payload = build_payload(message)
    except ApplicationError as exc:
        message_fail(
            message,
            error={"error_code": None, "error_class": exc.code, "error_text": exc.message},
            expected=(MessageStatus.SENDING,),
        )
        return f"failed before sending: {exc.message}"

    limiter.acquire()
    halt = active_halt()
    if halt is not None and halt.holds(message):
        # The halt started while we waited for our slot: nothing left, so the message simply waits.
        OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, claimed_at=claim.token
        ).update(
            status=MessageStatus.QUEUED, hold_reason=HoldReason.HALT, next_attempt_at=None, claimed_at=None
        )
        return "held: sending is halted"

    attempt = start_attempt(claim)
    if attempt is None:
        return "claim lost before sending (the sweeper took it back)"
    if isinstance(attempt, Verdict):
        return f"skipped while it waited for its slot: {attempt.reason}"
    outcome = get_backend().send(payload)
    record_outcome(message, attempt, outcome)
    return describe(outcome)


def start_attempt(claim: Claim) -> SendAttempt | Verdict | None:
    """The pending attempt, written just before the request leaves, while our claim still stands.

    Consent (and a merge) is asked once more first, under the contact's row lock — the lock
    ``record_consent`` takes — so an opt-out is either seen here or recorded after this attempt,
    i.e. after the message went. A refusal skips the message and is returned; None means the
    claim was lost.
    """
    now = timezone.now()
    message = claim.message
    with transaction.atomic():
        merged_into_id = (
            Contact.objects.select_for_update()
            .filter(pk=message.contact_id)
            .values_list("merged_into_id", flat=True)
            .first()
        )
        verdict = recheck_before_request(message, merged_into_id=merged_into_id)
        if not verdict.go:
            skipped = message_skip(
                message,
                reason=verdict.reason,
                detail=verdict.detail,
                expected=(MessageStatus.SENDING,),
                claimed_at=claim.token,
            )
            return verdict if skipped else None
        # The proof is the consent that holds as the request leaves (a newer opt-in may have come).
        proof = {} if is_reply(message) else {"authorising_event_id": verdict.authorising_event_id}
        advanced = OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, claimed_at=claim.token
        ).update(attempt_count=F("attempt_count") + 1, updated_at=now, **proof)
        if advanced != 1:
            return None
        message.refresh_from_db(fields=["attempt_count", "authorising_event"])
        return SendAttempt.objects.create(
            message=message, number=message.attempt_count, outcome=AttemptOutcome.PENDING, started_at=now
        )


_ANSWERABLE = (MessageStatus.SENDING, MessageStatus.UNKNOWN)  # the sweeper may have given up on us


def record_outcome(message: OutboundMessage, attempt: SendAttempt, outcome: SendOutcome) -> None:
    """Store what the request's answer says; each outcome is one conditional change."""
    now = timezone.now()
    match outcome:
        case Accepted():
            record_accepted(message, attempt, outcome)
        case Refused(error=error):
            handle_meta_error(message=message, attempt=attempt, error=error, source="http")
        case NotSent(reason=reason):
            with transaction.atomic():
                SendAttempt.objects.filter(pk=attempt.pk).update(
                    outcome=AttemptOutcome.NOT_SENT, finished_at=now, error_text=reason[:2000]
                )
                message.refresh_from_db(fields=["attempt_count"])
                if attempt.number < message.attempt_count:
                    return  # a late answer of an older attempt: the newer one decides
                message_retry_or_fail(
                    message,
                    attempt_number=attempt.number,
                    error={"error_code": None, "error_class": "not_sent", "error_text": reason[:2000]},
                    expected=_ANSWERABLE,
                )
        case OutcomeUnknown(reason=reason):
            record_unknown(message, attempt, reason, now)


def record_unknown(message: OutboundMessage, attempt: SendAttempt, reason: str, now: datetime) -> None:
    """The request may have reached Meta: wait for a webhook to reconcile it, never resend blindly."""
    deadline = now + timedelta(minutes=settings.WHATSAPP_UNKNOWN_DEADLINE_MINUTES)
    with transaction.atomic():
        SendAttempt.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.PENDING).update(
            outcome=AttemptOutcome.UNKNOWN, finished_at=now, reconcile_by=deadline, error_text=reason[:2000]
        )
        # Only the latest attempt decides the message (a late answer of an older one does not).
        OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, attempt_count=attempt.number
        ).update(
            status=MessageStatus.UNKNOWN,
            error_code=None,
            error_class="unknown",
            error_text=reason[:2000],
            updated_at=now,
        )


def record_accepted(message: OutboundMessage, attempt: SendAttempt, outcome: Accepted) -> None:
    from messaging import statuses

    now = timezone.now()
    with transaction.atomic():
        SendAttempt.objects.filter(
            pk=attempt.pk, outcome__in=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN]
        ).update(outcome=AttemptOutcome.ACCEPTED, wamid=outcome.wamid, finished_at=now, reconcile_by=None)
        OutboundMessage.objects.filter(
            pk=message.pk, status__in=_ANSWERABLE, attempt_count=attempt.number
        ).update(
            status=MessageStatus.ACCEPTED,
            accepted_at=now,
            needs_review=False,
            error_code=None,
            error_class="",
            error_text="",
            updated_at=now,
        )
        adopt_wa_id(message.contact, outcome.wa_id)
        attempt.refresh_from_db()
        # A status webhook can beat this commit; statuses waiting for this wamid apply now.
        statuses.apply_pending_statuses(attempt)


def adopt_wa_id(contact: Contact, wa_id: str) -> None:
    """Keep the id Meta reports for the person (it can differ from the number: Brazil, Mexico).

    An id another live contact already holds proves the two rows are one person: the matcher
    merges them. The acceptance is recorded whatever happens here, so a failure is only logged.
    """
    if not wa_id or contact.wa_id == wa_id:
        return
    try:
        with transaction.atomic():
            contact_adopt_wa_id(contact=contact, wa_id=wa_id, actor=_WA_ID_ACTOR)
    except Exception:
        logger.exception("WhatsApp id %s reported for contact %s could not be kept", wa_id, contact.pk)
