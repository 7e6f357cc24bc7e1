"""One message through the batch dispatcher, and the pieces every batch shares.

The dispatcher (``messaging.sending.batch``) claims, checks, sends and records messages a batch
at a time. The one-message forms here are batches of one — :func:`send_queued` (send this
message if it is due and ours to send), :func:`claim_message`, :func:`start_attempt` — for the
admin's "send now", for tests that step through a send, and for tools; each rule and guard has one
implementation. Here too: the request body (:func:`build_payload`) and what one answer means for
its message (:func:`record_outcome`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown, Refused, SendOutcome
from cloud_api.payloads import Payload, template_message_with_components
from contacts.matching import contacts_adopt_wa_ids
from contacts.models import Contact
from core.actors import Actor
from messaging.models import (
    AttemptOutcome,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    SendAttempt,
)
from messaging.sending import batch as batches
from messaging.sending import content
from messaging.sending.failures import handle_meta_error
from messaging.sending.rules import Verdict, recipient_address
from messaging.sending.states import message_retry_or_fail
from messaging.signals import announce_states
from templates_app.sending import send_components

logger = logging.getLogger(__name__)

_WA_ID_ACTOR = Actor.system("WhatsApp answer to a send")


@dataclass(frozen=True)
class Claim:
    message: OutboundMessage
    token: datetime  # claimed_at: later steps act only while this claim stands


def send_queued(message_id: int) -> str:
    """Send one message if it is due and still ours to send, as a batch of one; says what happened."""
    result = claim_message(message_id)
    if result is None:
        return "not due or taken by another worker"
    if isinstance(result, Verdict):
        return f"{result.action}: {result.reason}"
    return send_claimed(result)


def claim_message(message_id: int, now: datetime | None = None) -> Claim | Verdict | None:
    """``queued → sending`` if due and allowed; a hold or skip verdict; or None (not due, or taken)."""
    batch = batches.claim_batch(limit=1, now=now, ids=[message_id])
    if batch.claimed:
        return Claim(message=batch.claimed[0], token=batch.token)
    return batch.verdicts.get(message_id)


def build_payload(message: OutboundMessage) -> Payload:
    """Meta's request body for the message, with its public id as ``biz_opaque_callback_data``.

    A reply quotes the inbound message it answers (``context.message_id``, its wamid), whatever its
    kind — text, media, interactive, the STOP confirmation, a template — so the person sees which
    of their messages it answers. Free-form content is built by ``content.payload`` from what
    ``send_message`` checked when it queued the message.
    """
    to = recipient_address(message.contact)
    callback = str(message.public_id)
    reply_to_wamid = message.reply_to.wamid if message.reply_to_id is not None else None
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
            reply_to=reply_to_wamid,
            biz_opaque_callback_data=callback,
        )
    return content.payload(message.content, to=to, reply_to_wamid=reply_to_wamid, callback=callback)


def send_claimed(claim: Claim) -> str:
    """Steps 2–4 of the dispatcher for a message this worker claimed."""
    before = timezone.now()
    sent = batches.send_batch(batches.Batch(token=claim.token, claimed=[claim.message]))
    if sent.failed_before_sending:
        claim.message.refresh_from_db(fields=["error_text"])
        return f"failed before sending: {claim.message.error_text}"
    if not sent.requests:
        claim.message.refresh_from_db(fields=["status", "error_class", "hold_reason", "claimed_at"])
        message = claim.message
        if message.status == MessageStatus.SKIPPED:
            return f"skipped while it waited for its slot: {message.error_class}"
        if message.status == MessageStatus.QUEUED:
            return f"held: {message.hold_reason}"
        return "claim lost before sending (the sweeper took it back)"
    attempt = claim.message.attempts.filter(started_at__gte=before).order_by("-number").first()
    return _describe_attempt(attempt)


def _describe_attempt(attempt: SendAttempt | None) -> str:
    if attempt is None:
        return "sent"
    if attempt.outcome == AttemptOutcome.ACCEPTED:
        return f"accepted as {attempt.wamid}"
    return f"{attempt.outcome}: {attempt.error_text}".strip()


def start_attempt(claim: Claim) -> SendAttempt | Verdict | None:
    """The pending attempt, written just before the request leaves, while the claim still stands
    (``batch.start_attempts`` for one message): the attempt; a verdict when a merge or an opt-out
    since the claim stopped it; None when the claim was lost."""
    started, stopped = batches.start_attempts([claim.message], token=claim.token)
    if started:
        return started[0].attempt
    if stopped:
        message = OutboundMessage.objects.get(pk=claim.message.pk)
        return Verdict(
            "hold" if message.status == MessageStatus.QUEUED else "skip",
            reason=message.hold_reason or message.error_class,
            detail=message.error_text,
        )
    return None


_ANSWERABLE = (MessageStatus.SENDING, MessageStatus.UNKNOWN)  # the sweeper may have given up on us


def record_outcome(message: OutboundMessage, attempt: SendAttempt, outcome: SendOutcome) -> None:
    """Store what the request's answer says; each outcome is one conditional change."""
    now = timezone.now()
    match outcome:
        case Accepted():
            batches.record_accepted_many([(batches.Started(message, attempt), outcome)])
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
        if OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, attempt_count=attempt.number
        ).update(
            status=MessageStatus.UNKNOWN,
            error_code=None,
            error_class="unknown",
            error_text=reason[:2000],
            updated_at=now,
        ):
            announce_states([message], MessageStatus.UNKNOWN)


def adopt_wa_ids(pairs: list[tuple[Contact, str]]) -> None:
    """Keep the ids Meta reports for the people a batch reached (they can differ from the number:
    Brazil, Mexico); an id another live contact holds proves the two rows are one person, and the
    matcher merges them (``contacts.matching.contacts_adopt_wa_ids``).

    The acceptances are recorded whatever happens here, so a failure is only logged.
    """
    if not pairs:
        return
    try:
        with transaction.atomic():
            contacts_adopt_wa_ids(pairs, actor=_WA_ID_ACTOR)
    except Exception:
        logger.exception("WhatsApp ids reported for contacts %s could not be kept", [c.pk for c, _ in pairs])
