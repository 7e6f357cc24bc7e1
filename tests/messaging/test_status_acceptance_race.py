"""A status that beats the send path's commit is applied as soon as the later of the two commits,
never left for the sweep: each side looks for the other's row again after its own commit.

The interleavings are forced, not hoped for: the webhook's locking read is made to miss the attempt
(as it does while the send path's transaction is open), and a status is committed from a second
connection between the send path's in-transaction look and its commit.
"""

import threading

import pytest
from django.db import connection

from cloud_api.outcomes import Accepted
from messaging import statuses
from messaging.models import AttemptOutcome, MessageStatus, MessageStatusEvent, OutboundMessage, SendAttempt
from messaging.sending import batch
from tests.factories import ContactFactory
from tests.messaging.webhook_bodies import new_wamid, outbound, status

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

T0 = 1_750_000_000


def _report(wamid: str, state: str, offset: int) -> statuses.StatusReport:
    return statuses.StatusReport.from_webhook(status(wamid, state, T0 + offset), webhook_event_id=None)


def _in_flight(contact) -> OutboundMessage:
    return outbound(contact, wamid=None, status=MessageStatus.SENDING, outcome=AttemptOutcome.PENDING)


def test_the_webhook_looks_again_after_its_commit_for_an_attempt_it_could_not_see(monkeypatch):
    message = _in_flight(ContactFactory())
    wamid = new_wamid("out")
    SendAttempt.objects.filter(message=message).update(wamid=wamid, outcome=AttemptOutcome.ACCEPTED)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.ACCEPTED)
    real_lock = statuses._lock_attempts
    reads = []

    def before_the_send_committed(**lookup):
        reads.append(lookup)
        return {} if len(reads) == 1 else real_lock(**lookup)

    monkeypatch.setattr(statuses, "_lock_attempts", before_the_send_committed)
    statuses.apply_status_reports(reports=[_report(wamid, "delivered", 2)])

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert (
        MessageStatusEvent.objects.filter(wamid=wamid, attempt__isnull=True).count() == 1
    )  # the waiting row
    assert MessageStatusEvent.objects.get(wamid=wamid, attempt__isnull=False).applied is True


def test_the_send_path_looks_again_after_its_commit_for_a_status_stored_meanwhile(monkeypatch):
    message = _in_flight(ContactFactory())
    attempt = message.attempts.get()
    wamid = new_wamid("out")
    real_look = statuses.apply_statuses_waiting_for
    looks = []

    def then_a_webhook_commits(attempts):
        real_look(attempts)
        looks.append(len(attempts))
        if len(looks) == 1:  # inside record_accepted_many's transaction, after its look
            webhook = threading.Thread(target=_webhook_on_its_own_connection, args=(wamid,))
            webhook.start()
            webhook.join(timeout=30)
            assert not webhook.is_alive()

    monkeypatch.setattr(statuses, "apply_statuses_waiting_for", then_a_webhook_commits)
    batch.record_accepted_many([(batch.Started(message, attempt), Accepted(wamid=wamid, wa_id=""))])

    # The send path's look; the webhook's after its commit (no attempt visible); the send path's again.
    assert looks == [1, 0, 1]
    assert MessageStatusEvent.objects.filter(wamid=wamid, attempt__isnull=True).count() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


def _webhook_on_its_own_connection(wamid: str) -> None:
    try:
        statuses.apply_status_reports(reports=[_report(wamid, "read", 3)])
        # It could not see the uncommitted attempt: the status waits, and its own look finds nothing.
        assert MessageStatusEvent.objects.get(wamid=wamid).attempt_id is None
    finally:
        connection.close()


def test_a_second_look_finds_nothing_to_do_when_the_first_applied_everything():
    message = _in_flight(ContactFactory())
    attempt = message.attempts.get()
    wamid = new_wamid("out")
    statuses.apply_status_reports(reports=[_report(wamid, "sent", 1)])  # waits: no attempt yet
    batch.record_accepted_many([(batch.Started(message, attempt), Accepted(wamid=wamid, wa_id=""))])
    assert MessageStatusEvent.objects.filter(wamid=wamid).count() == 2  # the waiting row and one copy
    statuses.apply_statuses_waiting_for([SendAttempt.objects.get(pk=attempt.pk)])
    assert statuses.apply_waiting_statuses() == 0
    assert MessageStatusEvent.objects.filter(wamid=wamid).count() == 2
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
