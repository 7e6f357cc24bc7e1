"""What a classified Meta error does to a message: one table for HTTP answers and failed webhooks."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cloud_api.errors import ErrorClass, MetaError
from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
from contacts.services import record_consent
from core.actors import Actor
from messaging.models import AttemptOutcome, HoldReason, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending import limiter
from messaging.sending.halt import halt_sending
from messaging.sending.rules import TEMPLATE_PAUSE_RECHECK
from messaging.sending.states import (
    deferred_deadline,
    message_fail,
    message_hold,
    message_retry_or_fail,
)

logger = logging.getLogger(__name__)

OPTED_OUT_OF_MARKETING = 131050
NOT_ON_WHATSAPP = 131026
PAIR_RATE_CODE = 131056
DEFERRED_DELAY = timedelta(hours=24, minutes=5)
THROUGHPUT_RETRY = timedelta(seconds=2)
MAX_PAIR_RATE_DELAY = timedelta(hours=1)

# The states a message can be in when an error about its latest attempt arrives.
_FROM_HTTP = (MessageStatus.SENDING, MessageStatus.UNKNOWN)
_FROM_WEBHOOK = (
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
    MessageStatus.ACCEPTED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
)  # not FAILED: failed is final (staff marked it, or an earlier error ended it); no late requeue


def error_text(error: MetaError) -> str:
    """Meta's words for staff: the message, then the details when they add something."""
    parts = [error.message or error.title]
    if error.details and error.details not in parts:
        parts.append(error.details)
    return " — ".join(p for p in parts if p)[:2000]


def handle_meta_error(
    *, message: OutboundMessage, attempt: SendAttempt, error: MetaError, source: str
) -> None:
    """Apply the action of ``error.error_class`` (docs/sending.md) to ``message`` (``source``: http/webhook).

    throughput → requeue and slow the global limiter; pair-rate → requeue after 4^n s; transient →
    requeue with backoff and jitter until the retry deadline, then failed; deferred (131049) →
    requeue no sooner than 24 h, until WHATSAPP_DEFERRED_RETRY_DAYS after the message's first 131049,
    then failed; template-paused (132015) → wait with hold reason template_paused;
    recipient-permanent → failed (131050 also records a marketing opt-out, source
    whatsapp_signal; 131026 sets contact.not_on_whatsapp_since); request-permanent → failed;
    account-level → the message waits (hold reason halt) and sending halts everywhere.
    """
    now = timezone.now()
    fields = {
        "error_code": error.code,
        "error_class": str(error.error_class),
        "error_text": error_text(error),
    }
    expected = _FROM_HTTP if source == "http" else _FROM_WEBHOOK
    with transaction.atomic():
        attempt_update = dict(fields)
        if source == "http":
            attempt_update |= {"outcome": AttemptOutcome.REFUSED, "finished_at": now}
        SendAttempt.objects.filter(pk=attempt.pk).update(**attempt_update)

        # Signals about the person are recorded whatever the attempt and whatever state the
        # message is in: a late answer about an older attempt still says the person stopped
        # marketing messages, or is not on WhatsApp.
        if error.code == OPTED_OUT_OF_MARKETING:
            _record_marketing_opt_out(message, attempt, error)
        elif error.code == NOT_ON_WHATSAPP:
            Contact.objects.filter(pk=message.contact_id, not_on_whatsapp_since__isnull=True).update(
                not_on_whatsapp_since=now
            )

        message.refresh_from_db(fields=["status", "attempt_count"])
        if attempt.number < message.attempt_count:
            # A late error about an earlier attempt: a newer attempt decides the message's state.
            return

        match error.error_class:
            case ErrorClass.MESSAGE_THROUGHPUT:
                limiter.slow_down()
                message_retry_or_fail(
                    message,
                    attempt_number=attempt.number,
                    error=fields,
                    expected=expected,
                    delay=THROUGHPUT_RETRY,
                )
            case ErrorClass.PAIR_RATE:
                refusals = SendAttempt.objects.filter(
                    message_id=message.pk, error_code=PAIR_RATE_CODE
                ).count()
                delay = min(timedelta(seconds=4 ** max(refusals - 1, 0)), MAX_PAIR_RATE_DELAY)
                message_hold(
                    message, reason=HoldReason.PAIR_RATE, until=now + delay, expected=expected, error=fields
                )
            case ErrorClass.TRANSIENT | ErrorClass.API_CALL_LIMIT:
                message_retry_or_fail(message, attempt_number=attempt.number, error=fields, expected=expected)
            case ErrorClass.DEFERRED:
                days = settings.WHATSAPP_DEFERRED_RETRY_DAYS
                message_retry_or_fail(
                    message,
                    attempt_number=attempt.number,
                    error=fields,
                    expected=expected,
                    delay=DEFERRED_DELAY,
                    reason=HoldReason.DEFERRED,
                    deadline=deferred_deadline(message),
                    gave_up=(
                        f"Gave up: a retry would come more than {days} days after WhatsApp first "
                        "deferred this message (WHATSAPP_DEFERRED_RETRY_DAYS)"
                    ),
                )
            case ErrorClass.TEMPLATE_PAUSED:
                message_hold(
                    message,
                    reason=HoldReason.TEMPLATE_PAUSED,
                    until=now + TEMPLATE_PAUSE_RECHECK,
                    expected=expected,
                    error=fields,
                )
                _report_template_paused(message, source)
            case ErrorClass.ACCOUNT_LEVEL:
                halt_sending(
                    reason=f"WhatsApp refused a send: {fields['error_text']}",
                    code=error.code,
                    message=message,
                )
                message_hold(message, reason=HoldReason.HALT, until=None, expected=expected, error=fields)
            case _:  # recipient-permanent, request-permanent
                message_fail(message, error=fields, expected=expected)


def opt_out_signal_key(message: OutboundMessage) -> str:
    """One 131050 per message: the HTTP answer, its webhook and Meta's retries are one signal."""
    return f"meta-131050:{message.public_id}"


def _record_marketing_opt_out(message: OutboundMessage, attempt: SendAttempt, error: MetaError) -> None:
    """Meta says the person stopped marketing messages: that is an opt-out in our ledger (docs/sending.md).

    Recorded even when the ledger already says opted out (Meta's refusal is evidence of its own);
    the signal key makes the same refusal, arriving twice, one event — in the database, so two
    workers cannot both insert it.
    """
    record_consent(
        contact=message.contact,
        purpose=Purpose.MARKETING,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.WHATSAPP_SIGNAL,
        actor=Actor.system("WhatsApp"),
        wording_text="WhatsApp reported that the person stopped marketing messages (error 131050).",
        evidence={
            "error_code": error.code,
            "message_public_id": str(message.public_id),
            "attempt": attempt.number,
            "wamid": attempt.wamid or "",
            "fbtrace_id": error.fbtrace_id,
        },
        signal_key=opt_out_signal_key(message),
    )


def _report_template_paused(message: OutboundMessage, source: str) -> None:
    from templates_app.services import template_apply_status

    if message.template_version_id is None:
        return
    template = message.template_version.template
    template_apply_status(template=template, source="send" if source == "http" else source, status="PAUSED")
