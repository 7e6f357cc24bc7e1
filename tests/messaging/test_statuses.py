"""Statuses move attempts and messages forward only, whatever the order or the duplicates."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import datetime as dt
import itertools
import uuid

import pytest

from contacts.models import ActivityLogEntry
from messaging.models import (
    AttemptOutcome,
    MessageStatus,
    MessageStatusEvent,
    OutboundMessage,
    SendAttempt,
)
from messaging.statuses import apply_pending_statuses, apply_waiting_statuses
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    new_wamid,
    outbound,
    status,
    statuses_body,
)

pytestmark = pytest.mark.django_db

T0 = 1_750_000_000


def at(offset: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + offset, tz=dt.UTC)


def wamid_of(message: OutboundMessage) -> str:
    return message.attempts.get().wamid


def test_sent_delivered_read_in_order(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    for offset, state in ((1, "sent"), (2, "delivered"), (3, "read")):
        assert deliver(statuses_body(status(wamid, state, T0 + offset))).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert (message.sent_at, message.delivered_at, message.read_at) == (at(1), at(2), at(3))
    history = list(MessageStatusEvent.objects.filter(wamid=wamid).order_by("id"))
    assert [(e.status, e.applied) for e in history] == [("sent", True), ("delivered", True), ("read", True)]
    assert history[0].pricing["category"] == "marketing"
    assert history[0].meta_timestamp == at(1)
    assert all(e.attempt_id == message.attempts.get().pk for e in history)


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_every_order_ends_in_read_with_the_same_times(deliver, customer, order):
    message = outbound(customer)
    wamid = wamid_of(message)
    offsets = {"sent": 1, "delivered": 2, "read": 3}
    for state in order:
        deliver(statuses_body(status(wamid, state, T0 + offsets[state])))
    message.refresh_from_db()
    attempt = message.attempts.get()
    assert message.status == attempt.status == MessageStatus.READ
    assert (message.sent_at, message.delivered_at, message.read_at) == (at(1), at(2), at(3))
    assert MessageStatusEvent.objects.filter(wamid=wamid).count() == 3


def test_a_late_delivered_after_read_is_history_only(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    deliver(statuses_body(status(wamid, "read", T0 + 3)))
    deliver(statuses_body(status(wamid, "delivered", T0 + 2)))
    late = MessageStatusEvent.objects.get(wamid=wamid, status="delivered")
    assert late.applied is False
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


def test_read_without_delivered_fills_what_it_implies(deliver, customer):
    message = outbound(customer)
    deliver(statuses_body(status(wamid_of(message), "read", T0 + 5)))
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert message.sent_at == message.delivered_at == message.read_at == at(5)


def test_duplicates_are_kept_once_and_change_nothing(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    body = statuses_body(status(wamid, "sent", T0 + 1), status(wamid, "sent", T0 + 1))
    deliver(body)
    deliver(body)
    assert MessageStatusEvent.objects.filter(wamid=wamid).count() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_a_batch_with_many_messages_and_statuses(deliver, customer):
    messages = [outbound(customer) for _ in range(20)]
    items = []
    for message in messages:
        wamid = wamid_of(message)
        items += [
            status(wamid, "read", T0 + 3),
            status(wamid, "sent", T0 + 1),
            status(wamid, "delivered", T0 + 2),
        ]
    # Two entries, each with two changes, in one POST.
    half = len(items) // 2
    body = statuses_body(*items[:half])
    body["entry"].append({"id": "2", "changes": [statuses_body(*items[half:])["entry"][0]["changes"][0]]})
    body["entry"][0]["changes"].append({"field": "messages", "value": {"statuses": []}})
    assert deliver(body).status_code == 200
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.READ}
    assert MessageStatusEvent.objects.count() == 60


def test_failed_after_sent_fails_the_message_through_the_error_table(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    deliver(statuses_body(status(wamid, "sent", T0 + 1)))
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "The recipient is not on WhatsApp."},
    }
    deliver(statuses_body(status(wamid, "failed", T0 + 2, errors=[error])))
    message.refresh_from_db()
    attempt = message.attempts.get()
    assert attempt.status == MessageStatus.FAILED
    assert attempt.error_code == 131026
    assert attempt.error_class == "recipient-permanent"
    assert message.status == MessageStatus.FAILED
    assert message.error_code == 131026
    assert MessageStatusEvent.objects.get(wamid=wamid, status="failed").errors == [error]


def test_failed_after_read_is_history_only(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    deliver(statuses_body(status(wamid, "read", T0 + 3)))
    deliver(statuses_body(status(wamid, "failed", T0 + 4, errors=[{"code": 131000}])))
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert message.failed_at is None  # it arrived: no failure time either
    assert MessageStatusEvent.objects.get(wamid=wamid, status="failed").applied is False


def test_a_message_marked_failed_stays_failed_when_a_transient_failure_comes_late(deliver, customer):
    """Failed is final: a late webhook about a retryable error must not queue a resend."""
    message = outbound(customer, status=MessageStatus.FAILED)
    deliver(statuses_body(status(wamid_of(message), "failed", T0 + 2, errors=[{"code": 131000}])))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.next_attempt_at is None


def test_sent_after_failed_does_not_revive_the_message(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    deliver(statuses_body(status(wamid, "failed", T0 + 2, errors=[{"code": 131026}])))
    deliver(statuses_body(status(wamid, "sent", T0 + 1)))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.attempts.get().status == MessageStatus.FAILED


def test_played_is_kept_in_history_only(deliver, customer):
    message = outbound(customer)
    wamid = wamid_of(message)
    deliver(statuses_body(status(wamid, "delivered", T0 + 1), status(wamid, "played", T0 + 2)))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert MessageStatusEvent.objects.get(status="played").applied is False


def test_a_status_of_an_earlier_attempt_does_not_move_the_message(deliver, customer):
    message = outbound(customer, status=MessageStatus.SENT)
    first = message.attempts.get()
    second = SendAttempt.objects.create(message=message, number=2, outcome="accepted", wamid=new_wamid("out"))
    deliver(statuses_body(status(first.wamid, "read", T0 + 3)))
    message.refresh_from_db()
    first.refresh_from_db()
    assert first.status == MessageStatus.READ
    assert message.status == MessageStatus.SENT
    assert message.read_at is None
    deliver(statuses_body(status(second.wamid, "delivered", T0 + 4)))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


# --- A status before its attempt is recorded --------------------------------------------------


def test_a_status_before_the_attempt_waits_and_is_applied_when_the_attempt_appears(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)
    wamid = new_wamid("out")
    deliver(statuses_body(status(wamid, "sent", T0 + 1), status(wamid, "delivered", T0 + 2)))
    waiting = MessageStatusEvent.objects.filter(wamid=wamid)
    assert [(e.attempt_id, e.applied) for e in waiting] == [(None, False), (None, False)]

    # The send path commits the accepted attempt, then asks for what waited.
    attempt = message.attempts.get()
    SendAttempt.objects.filter(pk=attempt.pk).update(wamid=wamid, outcome=AttemptOutcome.ACCEPTED)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.ACCEPTED)
    attempt.refresh_from_db()
    apply_pending_statuses(attempt)
    apply_pending_statuses(attempt)  # twice: nothing more happens

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.sent_at == at(1) and message.delivered_at == at(2)
    applied = MessageStatusEvent.objects.filter(wamid=wamid, attempt=attempt)
    assert sorted((e.status, e.applied) for e in applied) == [("delivered", True), ("sent", True)]
    # A duplicate of the waiting status arriving later changes nothing.
    deliver(statuses_body(status(wamid, "sent", T0 + 1)))
    assert MessageStatusEvent.objects.filter(wamid=wamid).count() == 4


def test_a_status_matched_by_callback_data_while_the_request_is_under_way_waits(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)
    wamid = new_wamid("out")
    deliver(statuses_body(status(wamid, "sent", T0 + 1, biz_opaque_callback_data=str(message.public_id))))
    attempt = message.attempts.get()
    assert attempt.wamid is None  # the send path stores it; the webhook does not race it
    assert MessageStatusEvent.objects.get(wamid=wamid).attempt_id is None


def test_the_sweep_applies_statuses_the_race_left_waiting(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)
    wamid = new_wamid("out")
    deliver(statuses_body(status(wamid, "read", T0 + 3)))
    attempt = message.attempts.get()
    SendAttempt.objects.filter(pk=attempt.pk).update(wamid=wamid, outcome=AttemptOutcome.ACCEPTED)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.ACCEPTED)
    assert apply_waiting_statuses() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


# --- Unknown outcomes, reconciled ---------------------------------------------------------------


def test_an_unknown_outcome_is_reconciled_by_a_late_webhook_with_callback_data(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.UNKNOWN, outcome=AttemptOutcome.UNKNOWN)
    OutboundMessage.objects.filter(pk=message.pk).update(needs_review=True)
    wamid = new_wamid("out")
    deliver(
        statuses_body(status(wamid, "delivered", T0 + 2, biz_opaque_callback_data=str(message.public_id)))
    )
    message.refresh_from_db()
    attempt = message.attempts.get()
    assert attempt.wamid == wamid
    assert attempt.outcome == AttemptOutcome.ACCEPTED
    assert attempt.status == MessageStatus.DELIVERED
    assert message.status == MessageStatus.DELIVERED
    assert message.needs_review is False
    assert message.attempts.count() == 1  # reconciled, never resent
    assert MessageStatusEvent.objects.get(wamid=wamid).applied is True
    assert ActivityLogEntry.objects.filter(
        action="message.unknown_reconciled", object_id=str(message.pk)
    ).exists()
    # Later statuses match by wamid as usual.
    deliver(statuses_body(status(wamid, "read", T0 + 3)))
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


def test_callback_data_that_names_no_message_leaves_the_status_waiting(deliver, customer):
    outbound(customer, wamid=None, status=MessageStatus.UNKNOWN, outcome=AttemptOutcome.UNKNOWN)
    for data in ("camp42:row981", str(uuid.uuid4()), ""):
        deliver(statuses_body(status(new_wamid("out"), "sent", T0, biz_opaque_callback_data=data)))
    assert not MessageStatusEvent.objects.filter(attempt__isnull=False).exists()
    assert SendAttempt.objects.get().outcome == AttemptOutcome.UNKNOWN


def test_a_failed_status_reconciles_an_unknown_outcome_as_failed(deliver, customer):
    message = outbound(customer, wamid=None, status=MessageStatus.UNKNOWN, outcome=AttemptOutcome.UNKNOWN)
    wamid = new_wamid("out")
    failed = status(
        wamid, "failed", T0 + 2, biz_opaque_callback_data=str(message.public_id), errors=[{"code": 131026}]
    )
    deliver(statuses_body(failed))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.attempts.get().wamid == wamid
