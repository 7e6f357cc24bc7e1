"""The batch dispatcher end to end: the sandbox over HTTP, and real worker processes on PostgreSQL.

The tests with worker processes need PostgreSQL (the processes share the test database); those that
run the dispatcher in the test's own process run on SQLite as well.

Each test asserts on states and on what the sandbox received (``biz_opaque_callback_data`` is the
message's public id), never on timing. Where a test needs a worker to stop at a given point (after
its first batch, while its requests are in flight), the worker script's hook writes a marker file
and, for a pause, waits for the test's "go" file: the interleaving is fixed, not hoped for.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.utils import timezone

from contacts.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, Contact, CurrentConsent
from core.actors import Actor
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.materialise import campaign_start_and_materialise
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_submit,
)
from messaging.models import AttemptOutcome, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending import batch as batches
from messaging.sending import limiter, sweeper
from messaging.sending.limiter import limiter_key
from messaging.sending.service import send_message
from messaging.sending.verdicts import SkipReason
from tests.factories import make_segment, opt_out
from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS, as_actor
from tests.messaging.conftest import ORDER_PARAMETERS
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.messaging.test_limiter import ROOT, worker_env
from tests.sandbox import control, wait_until

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # editor, approver, templates, reminder
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SYSTEM = Actor.system("tests")
TERMINAL = {MessageStatus.ACCEPTED, MessageStatus.SKIPPED, MessageStatus.FAILED, MessageStatus.CANCELLED}

# One worker process: ``dispatch(slot)`` as the django-q2 task runs it, with every reservation the
# limiter made recorded (on the limiter's own clock, before it is turned into local instants, so
# slots of two processes compare exactly) and an optional hook:
#   pause:<path>  after its first batch, write <path>.reached and wait for <path>.go;
#   inflight:<path>  write <path>.reached when its first requests are handed to send_many.
WORKER = r"""
import json, os, sys, time
from pathlib import Path
import django
django.setup()
from messaging.sending import batch, limiter

slot, start_at, record, hook = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
reservations = []
reserve_slots = limiter._reserve_slots

def recording(n, *, key, rate, not_before=0.0):
    slots, now = reserve_slots(n, key=key, rate=rate, not_before=not_before)
    reservations.append({"key": key, "rate": rate, "slots": slots})
    Path(record).write_text(json.dumps(reservations))
    return slots, now

limiter._reserve_slots = recording
kind, _, path = hook.partition(":")
if kind == "pause":
    send_batch = batch.send_batch
    def pausing(claimed, *pipeline):
        sent = send_batch(claimed, *pipeline)
        if not Path(path + ".reached").exists():
            Path(path + ".reached").write_text(str(len(claimed.claimed)))
            deadline = time.monotonic() + 60
            while not Path(path + ".go").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return sent
    batch.send_batch = pausing
elif kind == "inflight":
    get_backend = batch.get_backend
    class Marking:
        def __init__(self, backend):
            self.backend = backend
        def send_many(self, payloads, not_before=None):
            Path(path + ".reached").write_text(str(len(payloads)))
            return self.backend.send_many(payloads, not_before=not_before)
    batch.get_backend = lambda: Marking(get_backend())

time.sleep(max(0.0, start_at - time.time()))
print(batch.dispatch(slot))
"""


# --- The world --------------------------------------------------------------------------------


def consenting_contacts(count: int, *, purpose: str, prefix: str = "+49152") -> list[Contact]:
    """``count`` German contacts opted in to ``purpose``, written in bulk (a few statements instead of
    ``record_consent`` per contact): the ledger event and the current consent it decides, as
    ``record_consent`` leaves them."""
    contacts = Contact.objects.bulk_create(
        Contact(phone=f"{prefix}{n:08d}", first_name=f"P{n}", country="DE", time_zone="Europe/Berlin")
        for n in range(count)
    )
    now = timezone.now()
    events = []
    for contact in contacts:
        event = ConsentEvent(
            contact=contact,
            purpose=purpose,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.WEB_FORM,
            wording_text="Yes, send me WhatsApp messages from Demo Shop.",
            occurred_at=now,
            recorded_at=now,
        )
        event.set_actor(SYSTEM)
        events.append(event)
    ConsentEvent.objects.bulk_create(events)
    CurrentConsent.objects.bulk_create(
        CurrentConsent(contact=e.contact, purpose=purpose, status=ConsentStatus.OPTED_IN, event=e, since=now)
        for e in events
    )
    return contacts


def start_campaign(reminder, editor, approver, *, name: str = "Reminders", rate_cap: int | None = None):
    """appointment_reminder (UTILITY) to every German contact: written, approved, started and
    materialised as the campaign starter does it. Returns the campaign, now ``sending``."""
    campaign = campaign_create(
        actor=as_actor(editor),
        name=name,
        template=reminder,
        segment=make_segment(),
        bindings=REMINDER_BINDINGS,
        rate_cap=rate_cap,
    )
    campaign_submit(campaign=campaign, actor=as_actor(editor))
    campaign_approve(campaign=campaign, actor=as_actor(approver))
    campaign_start_and_materialise(campaign)
    return Campaign.objects.get(pk=campaign.pk)


@pytest.fixture
def engine(app_sandbox, templates, settings):
    """The sandbox knows our templates and fails no number; no budget or sending hours apply."""
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_UNLIMITED"
    settings.MARKETING_SENDING_HOURS = ""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    control(app_sandbox, "templates", {"templates": sandbox_templates(templates.values())})
    control(app_sandbox, "config", {"failing_endings": {}})
    return app_sandbox


def received(sandbox) -> list[str]:
    """The public ids of the messages the sandbox accepted, in the order it accepted them."""
    return [m["biz_opaque_callback_data"] for m in control(sandbox, "messages")["data"]]


def public_ids(messages) -> set[str]:
    return {str(pk) for pk in messages.values_list("public_id", flat=True)}


def states(messages) -> Counter:
    return Counter(messages.values_list("status", flat=True))


@pytest.fixture
def run_workers(engine, tmp_path):
    """Start dispatcher processes on the sandbox: ``run_workers(count=2, rate=150)``. Any still
    running when the test ends (it failed while one waited at its hook) is killed, by its id."""
    started: list[subprocess.Popen] = []

    def run(*, count: int = 1, rate: int, hooks: tuple[str, ...] = (), **env: str) -> list[subprocess.Popen]:
        """``count`` processes (slots 0, 1, …) that begin together; ``hooks[slot]`` as WORKER says."""
        environment = worker_env(
            engine.url,
            WHATSAPP_MESSAGES_PER_SECOND=str(rate),
            WHATSAPP_MESSAGING_LIMIT="TIER_UNLIMITED",
            MARKETING_SENDING_HOURS="",
            **env,
        )
        start_at = time.time() + (3.0 if count > 1 else 0.0)  # every process has set Django up by then
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(slot),
                    str(start_at),
                    str(tmp_path / f"slots-{len(started)}-{slot}.json"),
                    hooks[slot] if slot < len(hooks) else "",
                ],
                env=environment,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for slot in range(count)
        ]
        started.extend(workers)
        return workers

    yield run
    for worker in started:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=30)


def finish(workers: list[subprocess.Popen]) -> list[str]:
    """Wait for the workers; what each one's dispatcher said (printed, for a failing run's log)."""
    said = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=90)
        assert worker.returncode == 0, stderr
        said.append(stdout.strip())
    print(said)
    return said


def reservations(tmp_path: Path) -> list[dict]:
    return [r for path in sorted(tmp_path.glob("slots-*.json")) for r in json.loads(path.read_text())]


# --- 1. Consent ---------------------------------------------------------------------------------


def test_exactly_the_consenting_receive_a_campaign_the_rest_are_skipped_with_reasons(
    engine, reminder, editor, approver
):
    consenting = consenting_contacts(8, purpose="service")
    never = [
        Contact.objects.create(
            phone=f"+49153{n:08d}", first_name="N", country="DE", time_zone="Europe/Berlin"
        )
        for n in range(3)
    ]
    campaign = start_campaign(reminder, editor, approver)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    # Opted out after their messages were queued: the dispatcher's own consent check stops them.
    leaving = consenting[:3]
    for contact in leaving:
        opt_out(contact, "service")
    assert messages.filter(status=MessageStatus.QUEUED).count() == len(consenting)

    batches.dispatch()

    stay = messages.filter(contact__in=consenting[3:])
    assert sorted(received(engine)) == sorted(public_ids(stay))
    assert states(stay) == {MessageStatus.ACCEPTED: 5}
    reasons = dict(messages.exclude(contact__in=consenting[3:]).values_list("contact_id", "error_class"))
    # No consent at all: skipped when the messages were written; opted out since: skipped at the send.
    assert reasons == {
        **{c.pk: SkipReason.NO_CONSENT for c in never},
        **{c.pk: SkipReason.OPTED_OUT for c in leaving},
    }
    assert states(messages.exclude(contact__in=consenting[3:])) == {MessageStatus.SKIPPED: 6}
    assert not SendAttempt.objects.filter(message__contact__in=[*never, *leaving]).exists()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


# --- 2. Two workers, one campaign ----------------------------------------------------------------


def assert_slots_never_closer_than_the_rate(reserved: list[dict], *, key: str, rate: float) -> list[float]:
    """Every slot the limiter handed out for ``key``, over every process: none closer than 1/rate."""
    slots = sorted(s for r in reserved if r["key"] == key for s in r["slots"])
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1 / rate - 1e-6, f"two slots {min(gaps):.6f}s apart at {rate}/s"
    return slots


@pytest.mark.postgres
def test_two_worker_processes_send_each_campaign_message_exactly_once(
    engine, reminder, editor, approver, tmp_path, run_workers
):
    rate = 150  # batches of 150: both workers have work
    consenting_contacts(300, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    assert messages.filter(status=MessageStatus.QUEUED).count() == 300

    finish(run_workers(count=2, rate=rate))

    sent = received(engine)
    assert len(sent) == len(set(sent)) == 300
    assert set(sent) == public_ids(messages)
    assert states(messages) == {MessageStatus.ACCEPTED: 300}
    attempts = SendAttempt.objects.filter(message__campaign=campaign)
    assert attempts.count() == 300
    assert set(attempts.values_list("outcome", flat=True)) == {AttemptOutcome.ACCEPTED}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
    reserved = reservations(tmp_path)
    assert {r["key"] for r in reserved} == {limiter_key()}
    assert len(assert_slots_never_closer_than_the_rate(reserved, key=limiter_key(), rate=rate)) >= 300


# --- 5. The limiter's slots with two processes ---------------------------------------------------


@pytest.mark.postgres
def test_two_processes_never_get_send_slots_closer_than_the_rate_or_the_campaign_cap(
    engine, templates, reminder, editor, approver, tmp_path, run_workers
):
    rate, cap = 80, 40
    consenting_contacts(120, purpose="service")
    campaign = start_campaign(reminder, editor, approver, rate_cap=cap)
    # Single sends share the global rate with the capped campaign, from either process.
    singles = [
        send_message(contact=c, actor=SYSTEM, template=templates["order_update"], parameters=ORDER_PARAMETERS)
        for c in consenting_contacts(20, purpose="service", prefix="+49157")
    ]
    finish(run_workers(count=2, rate=rate))

    everything = OutboundMessage.objects.filter(
        pk__in=[m.pk for m in singles]
    ) | OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    assert states(everything) == {MessageStatus.ACCEPTED: 140}
    reserved = reservations(tmp_path)
    global_slots = assert_slots_never_closer_than_the_rate(reserved, key=limiter_key(), rate=rate)
    campaign_slots = assert_slots_never_closer_than_the_rate(
        reserved, key=f"campaign:{campaign.pk}", rate=cap
    )
    assert len(global_slots) >= 140 and len(campaign_slots) >= 120
    # Each send's global slot is at or after its campaign slot (reserve_for's promise): a campaign's
    # reservation is followed, in the same process's record, by the global one for the same sends.
    for here, after in itertools.pairwise(reserved):
        if here["key"].startswith("campaign:"):
            assert after["key"] == limiter_key() and len(after["slots"]) == len(here["slots"])
            assert all(g >= c for g, c in zip(after["slots"], here["slots"], strict=True))


# --- 3. A worker killed mid-batch ----------------------------------------------------------------


@pytest.mark.postgres
def test_a_worker_killed_mid_batch_leaves_nothing_sent_twice_and_nothing_lost(
    engine, reminder, editor, approver, tmp_path, run_workers
):
    consenting_contacts(200, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)
    # Meta accepts every request and never answers: the first sub-batch's requests are accepted
    # and still in flight when the worker dies (the case where only a webhook can tell).
    control(engine, "config", {"unknown_rate": 1.0, "unknown_mode": "hang", "hang_seconds": 60})
    marker = tmp_path / "inflight"
    (worker,) = run_workers(rate=100, hooks=(f"inflight:{marker}",), WHATSAPP_READ_TIMEOUT="60")
    wait_until(lambda: Path(f"{marker}.reached").exists(), timeout=30)
    wait_until(lambda: received(engine), timeout=30)  # at least one request has reached "Meta"
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    control(engine, "config", {"unknown_rate": 0.0})
    reached_meta = set(received(engine))

    claimed = set(messages.filter(status=MessageStatus.SENDING).values_list("pk", flat=True))
    may_have_left = set(
        SendAttempt.objects.filter(message__campaign=campaign).values_list("message_id", flat=True)
    )
    assert may_have_left and may_have_left < claimed  # the first sub-batch of a batch of 100
    assert set(SendAttempt.objects.filter(message__campaign=campaign).values_list("outcome", flat=True)) == {
        AttemptOutcome.PENDING
    }

    # The claims' lease runs out (aged here instead of waiting three minutes), then the sweeper.
    messages.filter(status=MessageStatus.SENDING).update(
        claimed_at=F("claimed_at") - sweeper.CLAIM_TIMEOUT - timedelta(seconds=1)
    )
    swept = sweeper.sweep()
    assert (swept.claims_unknown, swept.claims_requeued) == (
        len(may_have_left),
        len(claimed) - len(may_have_left),
    )
    unknown = set(messages.filter(status=MessageStatus.UNKNOWN).values_list("pk", flat=True))
    assert unknown == may_have_left

    finish(run_workers(rate=100))

    sent = Counter(received(engine))
    assert max(sent.values()) == 1, "a recipient was sent the message twice"
    accepted = messages.filter(status=MessageStatus.ACCEPTED)
    assert accepted.count() == 200 - len(unknown)
    assert public_ids(accepted) <= set(sent)
    assert set(sent) <= public_ids(accepted) | public_ids(messages.filter(pk__in=unknown))
    assert reached_meta <= public_ids(messages.filter(pk__in=unknown))
    # Nothing resent blindly: the unknown ones kept their one attempt, and stay unknown.
    assert set(messages.filter(status=MessageStatus.UNKNOWN).values_list("pk", flat=True)) == unknown
    assert SendAttempt.objects.filter(message_id__in=unknown).count() == len(unknown)
    assert set(messages.values_list("status", flat=True)) <= {MessageStatus.ACCEPTED, MessageStatus.UNKNOWN}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


# --- 4. Faults at "Meta" -----------------------------------------------------------------------------


def make_due(messages) -> int:
    """Retries wait 15–30 s and more (``states.retry_delay``): due now instead."""
    return messages.filter(status=MessageStatus.QUEUED).update(next_attempt_at=timezone.now())


def test_under_faults_every_message_settles_and_none_is_sent_twice(
    engine, reminder, editor, approver, settings
):
    settings.WHATSAPP_READ_TIMEOUT = 0.5  # a hung answer is an unknown outcome quickly
    consenting_contacts(150, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)

    # Provably not sent: the first batch's requests find nothing listening.
    sandbox_url = settings.WHATSAPP_API_BASE_URL
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"
    first = batches.claim_batch()
    assert batches.send_batch(first).accepted == 0
    settings.WHATSAPP_API_BASE_URL = sandbox_url
    assert received(engine) == []
    assert messages.filter(status=MessageStatus.QUEUED, hold_reason="retry").count() == len(first.claimed)

    # 20 % 5xx, a few accepted requests never answered or cut off, and bursts of 130429: "Meta" takes
    # 50 sends a second, the dispatcher sends all 150 at once (1,000 a second).
    control(
        engine,
        "config",
        {"server_error_rate": 0.2, "unknown_rate": 0.05, "unknown_mode": "both", "max_mps": 50},
    )
    for _ in range(20):
        make_due(messages)
        batches.dispatch()
        if not messages.filter(status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]).exists():
            break
    control(engine, "config", {"server_error_rate": 0.0, "unknown_rate": 0.0, "max_mps": 0})

    assert set(states(messages)) <= {MessageStatus.ACCEPTED, MessageStatus.UNKNOWN}
    sent = Counter(received(engine))
    assert max(sent.values()) == 1, "a message reached Meta twice"
    accepted, unknown = (
        messages.filter(status=MessageStatus.ACCEPTED),
        messages.filter(status=MessageStatus.UNKNOWN),
    )
    assert public_ids(accepted) <= set(sent) <= public_ids(accepted) | public_ids(unknown)
    # An unknown outcome was never retried; every retry followed a provable "not sent" or a refusal.
    for message_id, outcomes in attempt_outcomes(messages).items():
        assert all(o in (AttemptOutcome.NOT_SENT, AttemptOutcome.REFUSED) for o in outcomes[:-1]), (
            message_id,
            outcomes,
        )
    refusals = Counter(r["status"] for r in control(engine, "refusals")["data"])
    codes = set(SendAttempt.objects.filter(message__campaign=campaign).values_list("error_code", flat=True))
    assert refusals[503] and 130429 in codes and unknown.exists()  # every fault happened
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_burst_of_130429_pauses_sending_once(engine, reminder, editor, approver, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 100  # one sub-batch of 20, 10 ms apart
    consenting_contacts(20, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    control(engine, "config", {"max_mps": 1})  # Meta takes one a second: the rest are 130429
    batches.send_batch(batches.claim_batch())
    throttled = SendAttempt.objects.filter(message__campaign=campaign, error_code=130429).count()
    assert throttled >= 10
    # Everyone pauses for the penalty, once: the next slot is about a second away, not `throttled`.
    assert limiter.reserve() <= limiter.THROUGHPUT_PENALTY_SECONDS + 0.5


def attempt_outcomes(messages) -> dict[int, list[str]]:
    outcomes: dict[int, list[str]] = {}
    for message_id, outcome in (
        SendAttempt.objects.filter(message__in=messages)
        .order_by("message_id", "number")
        .values_list("message_id", "outcome")
    ):
        outcomes.setdefault(message_id, []).append(outcome)
    return outcomes


# --- 6. Priority -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_single_send_queued_during_a_campaign_goes_before_the_campaign_s_remaining_messages(
    engine, templates, reminder, editor, approver, tmp_path, run_workers
):
    consenting_contacts(2000, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    (customer,) = consenting_contacts(1, purpose="service", prefix="+49157")
    pause = tmp_path / "pause"
    # The rate lifted: batches of 1,000. The worker stops after its first batch until the single
    # send is queued, so "while the campaign is sending" is a fixed point, not a race.
    (worker,) = run_workers(rate=100_000, hooks=(f"pause:{pause}",))
    wait_until(lambda: Path(f"{pause}.reached").exists(), timeout=60)
    first_batch = int(Path(f"{pause}.reached").read_text())
    order = send_message(
        contact=customer, actor=SYSTEM, template=templates["order_update"], parameters=ORDER_PARAMETERS
    )
    Path(f"{pause}.go").touch()
    finish([worker])

    sent = received(engine)
    assert len(sent) == len(set(sent)) == 2001
    # Before the 1,000 campaign messages still queued: at the latest right after the batch that was
    # in flight — or among its requests, which may still be on their way when the single send goes.
    assert first_batch == 1000
    assert sent.index(str(order.public_id)) <= first_batch
    campaign_ids = public_ids(OutboundMessage.objects.filter(campaign=campaign, is_test=False))
    assert set(sent[first_batch + 1 :]) <= campaign_ids and len(sent[first_batch + 1 :]) == 1000


# --- 7. Pause, resume, cancel -----------------------------------------------------------------------


def test_pause_resume_and_cancel_take_effect_before_the_next_request(
    engine, reminder, editor, approver, settings
):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 20  # batches of 20
    consenting_contacts(60, purpose="service")
    campaign = start_campaign(reminder, editor, approver)
    messages = OutboundMessage.objects.filter(campaign=campaign, is_test=False)

    # Paused while its first batch waits for its slots: nothing more leaves, the batch is queued again.
    first = batches.claim_batch()
    assert len(first.claimed) == 20
    campaign_pause(campaign=campaign, actor=as_actor(approver), reason="Checking the link")
    batches.send_batch(first)
    batches.dispatch()
    assert received(engine) == []
    assert states(messages) == {MessageStatus.QUEUED: 60}

    # Resumed: it sends again, a batch at a time.
    campaign_resume(campaign=campaign, actor=as_actor(approver))
    sent = batches.claim_batch()
    batches.send_batch(sent)
    assert sorted(received(engine)) == sorted(str(m.public_id) for m in sent.claimed)

    # Cancelled while the next batch waits for its slots: that batch and the rest are cancelled.
    second = batches.claim_batch()
    assert len(second.claimed) == 20
    campaign_cancel(campaign=campaign, actor=as_actor(approver), reason="Wrong date")
    batches.send_batch(second)
    batches.dispatch()
    assert sorted(received(engine)) == sorted(str(m.public_id) for m in sent.claimed)
    assert states(messages) == {MessageStatus.ACCEPTED: 20, MessageStatus.CANCELLED: 40}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED
