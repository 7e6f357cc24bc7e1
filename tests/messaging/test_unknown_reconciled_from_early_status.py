"""A status that arrives while the request is still under way reconciles the attempt once it is unknown.

Meta can answer the webhook before the HTTP answer, and the HTTP answer can then time out (read
timeout → unknown). The webhook that carried the message's ``biz_opaque_callback_data`` already
came: it must reconcile the unknown attempt, not leave it for staff to "resend" (a duplicate).
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

from datetime import timedelta

import pytest
from django.utils import timezone

from cloud_api.outcomes import OutcomeUnknown
from messaging.models import AttemptOutcome, MessageStatus, MessageStatusEvent, OutboundMessage
from messaging.sending.dispatch import record_outcome
from messaging.sending.sweeper import sweep
from messaging.statuses import apply_waiting_statuses
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    new_wamid,
    outbound,
    status,
    statuses_body,
)

pytestmark = pytest.mark.django_db

T0 = int(timezone.now().timestamp())


def test_a_status_during_the_request_reconciles_the_read_timeout_that_follows(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)
    attempt = message.attempts.get()
    wamid = new_wamid("out")
    deliver(statuses_body(status(wamid, "delivered", T0, biz_opaque_callback_data=str(message.public_id))))

    record_outcome(message, attempt, OutcomeUnknown("read timeout after 20 s"))
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.UNKNOWN

    apply_waiting_statuses()  # the per-minute webhook sweep

    message.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.wamid == wamid and attempt.outcome == AttemptOutcome.ACCEPTED
    assert message.status == MessageStatus.DELIVERED
    assert message.needs_review is False
    assert MessageStatusEvent.objects.filter(wamid=wamid, attempt=attempt, applied=True).exists()
    # Past the deadline the sweeper finds nothing to review.
    sweep(timezone.now() + timedelta(hours=1))
    message.refresh_from_db()
    assert message.needs_review is False and message.status == MessageStatus.DELIVERED


def test_a_status_before_the_worker_died_reconciles_the_expired_claim(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_at=timezone.now() - timedelta(minutes=10))
    wamid = new_wamid("out")
    deliver(statuses_body(status(wamid, "sent", T0, biz_opaque_callback_data=str(message.public_id))))

    sweep()  # the claim expired with a pending attempt: unknown
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.UNKNOWN
    apply_waiting_statuses()

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.attempts.get().wamid == wamid
