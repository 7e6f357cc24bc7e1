"""The batch dispatcher against the in-memory backend: priority, paused campaigns, the rules counted
in order within a batch, a constant number of statements whatever the batch's size, the task's loop."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Purpose
from core.actors import Actor
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.workflow import campaign_pause
from messaging.models import HoldReason, MessageKind, MessageStatus, OutboundMessage
from messaging.sending import batch as batches
from messaging.sending.service import send_message
from messaging.tasks import dispatch
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.campaigns.workflow_world import as_actor
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]
pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


def consenting(purpose=Purpose.SERVICE, **fields):
    contact = ContactFactory(**fields)
    opt_in(contact, purpose)
    return contact


def order(contact, order_update) -> OutboundMessage:
    return send_message(contact=contact, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)


def promote(contact, promotion) -> OutboundMessage:
    return send_message(contact=contact, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS)


def campaign_messages(campaign, count: int, *, language_version=None) -> list[OutboundMessage]:
    """Queued messages of ``campaign`` as materialisation writes them: no parameters yet."""
    version = language_version or campaign.template.approved_version
    messages = []
    for _ in range(count):
        contact = ContactFactory(country="DE", first_name="Ada")
        opt_in(contact, campaign.purpose)
        message = OutboundMessage(
            contact=contact,
            kind=MessageKind.TEMPLATE,
            purpose=campaign.purpose,
            campaign=campaign,
            template_version=version,
            next_attempt_at=timezone.now(),
        )
        message.set_actor(SYSTEM)
        message.save()
        messages.append(message)
    return messages


def statuses(messages) -> list[str]:
    return list(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages])
        .order_by("pk")
        .values_list("status", flat=True)
    )


# --- Claiming --------------------------------------------------------------------------------------


def test_single_sends_are_claimed_before_campaign_messages(sending, order_update, backend):
    waiting = campaign_messages(sending, 3)
    single = order(consenting(), order_update)
    batch = batches.claim_batch(limit=2)
    assert [m.pk for m in batch.claimed] == [single.pk, waiting[0].pk]


def test_a_paused_campaigns_messages_stay_queued_and_go_once_it_resumes(sending, approver, backend):
    from messaging.campaigns.workflow import campaign_resume

    messages = campaign_messages(sending, 2)
    campaign_pause(campaign=sending, actor=as_actor(approver), reason="Checking the link")
    assert not batches.claim_batch()
    assert statuses(messages) == [MessageStatus.QUEUED] * 2
    campaign_resume(campaign=sending, actor=as_actor(approver))
    dispatch()
    assert statuses(messages) == [MessageStatus.ACCEPTED] * 2
    assert len(backend.sent) == 2


def test_a_campaign_message_goes_with_parameters_bound_from_the_frozen_bindings(sending, backend):
    (message,) = campaign_messages(sending, 1)
    dispatch()
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.parameters and "Ada" in message.rendered_text
    assert "Ada" in str(backend.sent[0])


# --- The rules, counted in order within one batch -------------------------------------------------


def test_the_frequency_cap_counts_a_message_let_through_earlier_in_the_same_batch(
    settings, promotion, backend
):
    settings.MARKETING_FREQUENCY_CAP = 1
    person = consenting(Purpose.MARKETING)
    first, second = promote(person, promotion), promote(person, promotion)
    batch = batches.claim_batch()
    assert [m.pk for m in batch.claimed] == [first.pk]
    second.refresh_from_db()
    assert (second.status, second.hold_reason) == (MessageStatus.QUEUED, HoldReason.FREQUENCY_CAP)


def test_the_budget_lets_through_as_many_new_people_as_units_are_left(settings, order_update, backend):
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_250"
    from messaging.models import MessagingTier

    MessagingTier.objects.create(limit=2, tier="TEST", reported_at=timezone.now())
    people = [consenting() for _ in range(3)]
    messages = [order(p, order_update) for p in people]
    again = order(people[0], order_update)  # the same person twice costs one unit
    batch = batches.claim_batch()
    assert {m.pk for m in batch.claimed} == {messages[0].pk, messages[1].pk, again.pk}
    held = OutboundMessage.objects.get(pk=messages[2].pk)
    assert (held.status, held.hold_reason) == (MessageStatus.QUEUED, HoldReason.BUDGET)


def test_an_opt_out_recorded_between_the_claim_and_the_request_wins(order_update, backend):
    people = [consenting() for _ in range(3)]
    messages = [order(p, order_update) for p in people]
    batch = batches.claim_batch()
    opt_out(people[1], Purpose.SERVICE)
    sent = batches.send_batch(batch)
    assert (sent.requests, sent.stopped) == (2, 1)
    assert statuses(messages) == [MessageStatus.ACCEPTED, MessageStatus.SKIPPED, MessageStatus.ACCEPTED]
    assert OutboundMessage.objects.get(pk=messages[1].pk).error_class == "opted_out"
    assert len(backend.sent) == 2


def test_the_batch_verdicts_are_the_single_message_verdicts(settings, promotion, order_update, backend):
    """send_time_verdicts over a mixed batch answers what send_time_verdict answers for each alone."""
    from messaging.sending.rules import send_time_verdict, send_time_verdicts

    settings.MARKETING_SENDING_HOURS = "00:00-00:01"  # quiet nearly all day
    mixed = [
        promote(consenting(Purpose.MARKETING, time_zone="Europe/Berlin"), promotion),
        order(consenting(), order_update),
        order(consenting(), order_update),
    ]
    opt_out(mixed[2].contact, Purpose.SERVICE)
    loaded = list(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in mixed]).select_related("contact").order_by("pk")
    )
    now = timezone.now()
    assert send_time_verdicts(loaded, now) == [send_time_verdict(m, now) for m in loaded]


# --- Cost ------------------------------------------------------------------------------------------


def _statements_to_send(order_update, count: int) -> int:
    for _ in range(count):
        order(consenting(), order_update)
    with CaptureQueriesContext(connection) as queries:
        batches.send_batch(batches.claim_batch())
    assert OutboundMessage.objects.filter(status=MessageStatus.ACCEPTED).count() == count
    OutboundMessage.objects.filter(status=MessageStatus.ACCEPTED).update(status=MessageStatus.DELIVERED)
    return len(queries)


def test_claiming_and_sending_a_batch_costs_the_same_statements_for_5_or_50_messages(order_update, backend):
    _statements_to_send(order_update, 1)  # the first batch creates the limiter's and the rules' rows
    assert _statements_to_send(order_update, 5) == _statements_to_send(order_update, 50)


# --- The task --------------------------------------------------------------------------------------


def test_the_task_sends_everything_due_and_completes_the_campaign(sending, order_update, backend):
    messages = campaign_messages(sending, 4)
    single = order(consenting(), order_update)
    later = order(consenting(), order_update)
    OutboundMessage.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    dispatch()
    assert statuses([*messages, single]) == [MessageStatus.ACCEPTED] * 5
    assert OutboundMessage.objects.get(pk=later.pk).status == MessageStatus.QUEUED
    sending.refresh_from_db()
    assert sending.status == CampaignStatus.COMPLETED


def test_queueing_a_message_wakes_one_dispatcher_after_the_commit(
    order_update, monkeypatch, django_capture_on_commit_callbacks
):
    from messaging.sending.enqueue import DISPATCH_TASK

    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        order(consenting(), order_update)
        order(consenting(), order_update)
    assert [args for args, _ in calls] == [(DISPATCH_TASK, 0)]
    assert calls[0][1]["save"] is False


def test_a_campaign_paused_between_the_claim_and_the_requests_sends_nothing_more(sending, approver, backend):
    """The breaker or an Approver pauses it while a batch waits for its slots: those messages go
    back to the queue (nothing left), and go once it resumes."""
    from messaging.campaigns.workflow import campaign_resume

    messages = campaign_messages(sending, 3)
    batch = batches.claim_batch()
    campaign_pause(campaign=sending, actor=as_actor(approver), reason="Checking the link")
    sent = batches.send_batch(batch)
    assert (sent.requests, sent.stopped) == (0, 3) and backend.sent == []
    assert statuses(messages) == [MessageStatus.QUEUED] * 3
    campaign_resume(campaign=sending, actor=as_actor(approver))
    dispatch()
    assert statuses(messages) == [MessageStatus.ACCEPTED] * 3


def test_a_campaign_cancelled_between_the_claim_and_the_requests_cancels_its_claimed_messages(
    sending, approver, backend
):
    from messaging.campaigns.workflow import campaign_cancel

    messages = campaign_messages(sending, 2)
    batch = batches.claim_batch()
    campaign_cancel(campaign=sending, actor=as_actor(approver), reason="Wrong audience")
    assert batches.send_batch(batch).requests == 0 and backend.sent == []
    assert statuses(messages) == [MessageStatus.CANCELLED] * 2


# --- A dispatcher task that dies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "successor_woken"),
    [(batches.OperationalError("deadlock detected"), True), (RuntimeError("a bug"), False)],
)
def test_a_dispatcher_that_dies_drops_its_flag_and_wakes_a_successor_only_after_a_transient_fault(
    monkeypatch, fault, successor_woken
):
    """A deadlocked dispatcher once died with its awake flag set: every wake-up found it "awake" and
    sending stalled until the flag expired. Now the flag goes with it; a deadlock victim is replaced
    at once, while after a bug the next wake-up starts one (no crash loop)."""
    from django.core.cache import cache

    from messaging.sending import enqueue

    woken = []
    monkeypatch.setattr(enqueue, "wake_dispatcher", lambda slot=0: woken.append(slot))

    def die(**kwargs):
        cache.set(enqueue.awake_key(0), True, 30)  # set while it worked
        raise fault

    monkeypatch.setattr(batches, "claim_batch", die)
    with pytest.raises(type(fault)):
        batches.dispatch(0)
    assert cache.get(enqueue.awake_key(0)) is None
    assert woken == ([0] if successor_woken else [])


def test_acceptances_lock_messages_before_attempts_as_the_webhook_processor_does(order_update, backend):
    """The webhook processor, when a status beats the dispatcher's commit, locks the message and then
    its attempts (``statuses._reconcile_unknown``). Recording acceptances in the other order deadlocked
    the two under webhooks; the order is pinned here, as the deadlock itself is a matter of timing."""
    order(consenting(), order_update)
    with CaptureQueriesContext(connection) as queries:
        dispatch()
    # Writes of the acceptance: "UPDATE <table> AS t SET …" (with a leading WITH on SQLite).
    tables = [
        table
        for query in queries.captured_queries
        for table in ("messaging_outboundmessage", "messaging_sendattempt")
        if f'UPDATE "{table}" AS t' in query["sql"]
        and ("accepted_at =" in query["sql"] or "v.wamid" in query["sql"])
    ]
    assert tables == ["messaging_outboundmessage", "messaging_sendattempt"]


# --- Requests in flight while the next sub-batch is prepared ---------------------------------------


class Overlapping:
    """The in-memory backend with ``start_many``, noting when each sub-batch leaves and is recorded."""

    def __init__(self, backend, journal):
        self.backend, self.journal = backend, journal

    def start_many(self, payloads, *, not_before=None):
        from concurrent.futures import Future

        self.journal.append(("sent", len(payloads)))
        future = Future()
        future.set_result(self.backend.send_many(payloads, not_before=not_before))
        return future


@pytest.fixture
def overlapping(monkeypatch, backend):
    journal = []
    monkeypatch.setattr(batches, "get_backend", lambda: Overlapping(backend, journal))
    record = batches.record_outcomes

    def recording(started, outcomes):
        journal.append(("recorded", len(started)))
        record(started, outcomes)

    monkeypatch.setattr(batches, "record_outcomes", recording)
    return journal


def test_a_sub_batch_is_recorded_once_the_next_has_left_and_the_last_before_the_task_ends(
    sending, overlapping, settings, monkeypatch
):
    """While a sub-batch's requests are in flight the dispatcher claims the next batch and prepares
    the next sub-batch (the slots stay busy); it lets that one go, then records the answers of the
    one before; the last answers are recorded before the task ends, and the campaign completes."""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 8  # sub-batches of 2
    monkeypatch.setattr(batches, "batch_size", lambda: 4)
    messages = campaign_messages(sending, 6)
    claims = batches.claim_batch
    monkeypatch.setattr(batches, "claim_batch", lambda **kw: overlapping.append(("claim", 0)) or claims(**kw))
    dispatch()
    assert overlapping == [
        ("claim", 0),
        ("sent", 2),
        ("sent", 2),
        ("recorded", 2),
        ("claim", 0),  # the next batch claimed while the first one's last requests are in flight
        ("sent", 2),
        ("recorded", 2),
        ("claim", 0),
        ("recorded", 2),
    ]
    assert statuses(messages) == [MessageStatus.ACCEPTED] * 6
    sending.refresh_from_db()
    assert sending.status == CampaignStatus.COMPLETED


def test_answers_in_flight_are_recorded_when_the_dispatcher_dies(sending, overlapping, monkeypatch, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 8
    messages = campaign_messages(sending, 2)
    claim = batches.claim_batch
    calls = []

    def claim_then_die(**kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise batches.OperationalError("deadlock detected")
        return claim(**kwargs)

    monkeypatch.setattr(batches, "claim_batch", claim_then_die)
    monkeypatch.setattr("messaging.sending.enqueue.wake_dispatcher", lambda slot=0: True)
    with pytest.raises(batches.OperationalError):
        dispatch()
    assert overlapping == [("sent", 2), ("recorded", 2)]
    assert statuses(messages) == [MessageStatus.ACCEPTED] * 2
