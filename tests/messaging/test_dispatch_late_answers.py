"""A late answer about an older attempt never decides the message: the latest attempt does."""

import pytest
from django.utils import timezone

from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown
from messaging.models import AttemptOutcome, MessageStatus, SendAttempt
from messaging.sending.dispatch import record_outcome
from tests.messaging.webhook_bodies import outbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def resent(customer):
    """Attempt 1 ended unknown, staff resent it, attempt 2's request is under way."""
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.UNKNOWN)
    message.attempt_count = 2
    message.claimed_at = timezone.now()
    message.save()
    SendAttempt.objects.create(message=message, number=2, outcome=AttemptOutcome.PENDING)
    return message


@pytest.mark.parametrize(
    "outcome",
    [NotSent("connection refused"), OutcomeUnknown("read timeout"), Accepted(wamid="wamid.late", wa_id="49")],
    ids=["not_sent", "unknown", "accepted"],
)
def test_a_late_answer_of_an_older_attempt_leaves_the_message_to_the_newer_one(resent, outcome):
    first = resent.attempts.get(number=1)
    record_outcome(resent, first, outcome)
    resent.refresh_from_db()
    assert resent.status == MessageStatus.SENDING  # not requeued, not unknown, not accepted
    assert resent.attempts.get(number=2).outcome == AttemptOutcome.PENDING
