"""The sweeper (expired claims, due holds, lost tasks, overdue unknowns) and staff review."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_q.models import Schedule

from cloud_api.backends import get_backend
from cloud_api.outcomes import OutcomeUnknown
from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from messaging.apps import ensure_schedules
from messaging.models import AttemptOutcome, HoldReason, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import claim_message, send_queued, start_attempt
from messaging.sending.enqueue import DISPATCH_TASK
from messaging.sending.review import message_mark_failed, message_resend
from messaging.sending.service import send_message
from messaging.sending.sweeper import CLAIM_TIMEOUT, sweep
from messaging.tasks import SWEEP_SCHEDULE_NAME
from tests.messaging.conftest import ORDER_PARAMETERS

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(settings, db, monkeypatch):
    settings.WHATSAPP_BACKEND = "memory"
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    cache.delete(halt_module.CACHE_KEY)
    enqueued: list[str] = []  # the tasks queued: the dispatcher, when woken
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: enqueued.append(func))
    memory = get_backend()
    memory.reset()
    memory.enqueued = enqueued
    yield memory
    memory.reset()


def queue(contact, order_update):
    return send_message(contact=contact, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)


def reload(message):
    return OutboundMessage.objects.get(pk=message.pk)


def test_the_schedule_is_created_once(db):
    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    schedule = Schedule.objects.get(name=SWEEP_SCHEDULE_NAME)
    assert schedule.func == "messaging.tasks.sweep_sending"
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1


def test_an_expired_claim_with_no_attempt_goes_back_to_the_queue(
    backend, customer, order_update, django_capture_on_commit_callbacks
):
    message = queue(customer, order_update)
    claim = claim_message(message.pk)
    later = timezone.now() + CLAIM_TIMEOUT + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep(later)
    assert result.claims_requeued == 1
    message = reload(message)
    assert message.status == MessageStatus.QUEUED and message.claimed_at is None
    assert backend.enqueued == [DISPATCH_TASK]
    # The worker that held the old claim wakes up: its claim no longer stands, so it sends nothing.
    assert start_attempt(claim) is None


def test_an_expired_claim_with_a_pending_attempt_becomes_unknown(settings, customer, order_update):
    message = queue(customer, order_update)
    claim = claim_message(message.pk)
    attempt = start_attempt(claim)  # the request may have left; then the worker died
    later = timezone.now() + CLAIM_TIMEOUT + timedelta(seconds=1)
    assert sweep(later).claims_unknown == 1
    assert reload(message).status == MessageStatus.UNKNOWN
    attempt.refresh_from_db()
    assert attempt.outcome == AttemptOutcome.UNKNOWN
    assert attempt.reconcile_by == later + timedelta(minutes=settings.WHATSAPP_UNKNOWN_DEADLINE_MINUTES)


def test_due_holds_are_released_and_future_ones_left(
    backend, customer, stranger, order_update, django_capture_on_commit_callbacks
):
    now = timezone.now()
    due = queue(customer, order_update)
    waiting = queue(customer, order_update)
    halted = queue(customer, order_update)
    OutboundMessage.objects.filter(pk=due.pk).update(hold_reason=HoldReason.QUIET_HOURS, next_attempt_at=now)
    OutboundMessage.objects.filter(pk=waiting.pk).update(
        hold_reason=HoldReason.BUDGET, next_attempt_at=now + timedelta(hours=1)
    )
    OutboundMessage.objects.filter(pk=halted.pk).update(hold_reason=HoldReason.HALT, next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        result = sweep(now + timedelta(seconds=1))
    assert result.released == 1 and result.dispatcher_woken
    assert backend.enqueued == [DISPATCH_TASK]
    assert reload(due).hold_reason == "" and reload(waiting).hold_reason == HoldReason.BUDGET
    assert reload(halted).hold_reason == HoldReason.HALT


def test_a_due_message_wakes_a_dispatcher_unless_one_is_awake(backend, customer, order_update):
    """A wake lost (a worker died, Redis lost the task): the sweep wakes one; while it is awake,
    waking again adds nothing."""
    queue(customer, order_update)
    backend.enqueued.clear()
    cache.clear()  # no dispatcher awake
    assert sweep().dispatcher_woken
    assert not sweep().dispatcher_woken
    assert backend.enqueued == [DISPATCH_TASK]


def test_nothing_due_wakes_nobody(backend, customer, order_update):
    message = queue(customer, order_update)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    cache.clear()
    assert not sweep().dispatcher_woken


def test_an_unknown_outcome_past_its_deadline_needs_review(settings, backend, customer, order_update):
    backend.script(OutcomeUnknown("no answer"))
    message = queue(customer, order_update)
    send_queued(message.pk)
    assert sweep().needs_review == 0
    later = timezone.now() + timedelta(minutes=settings.WHATSAPP_UNKNOWN_DEADLINE_MINUTES, seconds=5)
    assert sweep(later).needs_review == 1
    message = reload(message)
    assert message.status == MessageStatus.UNKNOWN and message.needs_review
    assert len(backend.sent) == 1, "never resent blindly"


# --- Staff review ------------------------------------------------------------------------------


@pytest.fixture
def unknown_message(backend, customer, order_update):
    backend.script(OutcomeUnknown("no answer"))
    message = queue(customer, order_update)
    send_queued(message.pk)
    OutboundMessage.objects.filter(pk=message.pk).update(needs_review=True)
    return reload(message)


def test_resend_makes_a_new_attempt(
    backend, unknown_message, administrator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_resend(message=unknown_message, actor=Actor.for_user(administrator))
    assert message.status == MessageStatus.QUEUED and not message.needs_review
    assert backend.enqueued[-1] == DISPATCH_TASK
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.ACCEPTED
    assert list(message.attempts.values_list("number", "outcome")) == [
        (1, AttemptOutcome.UNKNOWN),
        (2, AttemptOutcome.ACCEPTED),
    ]
    assert ActivityLogEntry.objects.get(action="message.resent").actor_user == administrator


def test_mark_failed_closes_it(unknown_message, administrator):
    message = message_mark_failed(message=unknown_message, actor=Actor.for_user(administrator))
    assert message.status == MessageStatus.FAILED and not message.needs_review and message.failed_at
    assert ActivityLogEntry.objects.filter(action="message.marked_failed", actor_user=administrator).exists()


def test_review_needs_the_permission_and_an_unknown_message(
    unknown_message, support, administrator, customer
):
    with pytest.raises(ApplicationError) as info:
        message_resend(message=unknown_message, actor=Actor.for_user(support))
    assert info.value.code == "permission_denied"
    # Reconciled by a webhook meanwhile: nothing left to review.
    OutboundMessage.objects.filter(pk=unknown_message.pk).update(status=MessageStatus.DELIVERED)
    with pytest.raises(ApplicationError) as info:
        message_mark_failed(message=unknown_message, actor=Actor.for_user(administrator))
    assert info.value.code == "message_not_unknown"
    assert SendAttempt.objects.filter(message=unknown_message).count() == 1


def test_a_message_held_for_a_paused_template_wakes_when_it_is_approved_again(customer, order_update):
    from templates_app.services import template_apply_status

    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    template_apply_status(template=order_update, status="PAUSED", source="webhook")
    claim_message(message.pk)
    message.refresh_from_db()
    assert (message.status, message.hold_reason) == (MessageStatus.QUEUED, HoldReason.TEMPLATE_PAUSED)
    assert message.next_attempt_at > timezone.now() + timedelta(minutes=30)
    sweep()
    message.refresh_from_db()
    assert message.hold_reason == HoldReason.TEMPLATE_PAUSED  # still paused: stays held
    template_apply_status(template=order_update, status="APPROVED", source="webhook")
    sweep()
    message.refresh_from_db()
    assert message.hold_reason == HoldReason.NONE and message.next_attempt_at <= timezone.now()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sweeper_leaves_a_claim_alone_while_its_worker_starts_an_attempt(customer, order_update):
    """The worker holds the row (its attempt is being written): the sweeper skips it rather than
    requeue a message whose request may be about to leave."""
    import threading

    from django.db import connection, transaction

    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, claimed_at=timezone.now() - CLAIM_TIMEOUT - timedelta(minutes=1)
    )
    locked, release = threading.Event(), threading.Event()

    def worker():
        with transaction.atomic():
            OutboundMessage.objects.select_for_update().get(pk=message.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    locked.wait(10)
    result = sweep()
    release.set()
    thread.join(10)
    assert (result.claims_requeued, result.claims_unknown) == (0, 0)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING
