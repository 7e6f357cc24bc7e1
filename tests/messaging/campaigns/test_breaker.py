"""The circuit breaker (docs/campaign-dispatch.md, "Guardrails"): over a sending campaign's last answered
messages, a failure rate or an opt-out rate above its threshold pauses it — through the workflow, once,
with the numbers — and the dispatcher then claims none of its messages."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import ConsentSource, Contact
from messaging.campaign_models import CampaignStatus
from messaging.campaigns import breaker
from messaging.campaigns.breaker import (
    campaign_breaker_check,
    campaign_breaker_window,
    campaigns_breaker_tick,
)
from messaging.campaigns.workflow import campaign_pause, campaign_resume
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from messaging.sending import batch as batches
from messaging.tasks import dispatch
from tests.factories import opt_in, opt_out
from tests.messaging.campaigns.workflow_world import as_actor, status_of

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]
pytestmark = pytest.mark.django_db

M = MessageStatus
S = CampaignStatus
_phones = itertools.count(1)
TIMES = {
    M.ACCEPTED: ("accepted_at",),
    M.DELIVERED: ("accepted_at", "sent_at", "delivered_at"),
    M.READ: ("accepted_at", "sent_at", "delivered_at", "read_at"),
    M.FAILED: ("failed_at",),
}


@pytest.fixture(autouse=True)
def fresh_throttle():
    breaker._last_checked.clear()
    yield
    breaker._last_checked.clear()


def sends(campaign, status, count, *, at=None, error_code=131000, **fields) -> list[OutboundMessage]:
    """``count`` messages of ``campaign`` in ``status``, answered ``at`` (default now), in bulk."""
    at = at or timezone.now()
    contacts = Contact.objects.bulk_create(
        [Contact(phone=f"+49152{next(_phones):08d}", country="DE", language="de") for _ in range(count)]
    )
    if status == M.FAILED:
        fields.setdefault("error_code", error_code)
    rows = [
        OutboundMessage(
            contact=contact,
            campaign=campaign,
            kind=MessageKind.TEMPLATE,
            purpose=campaign.purpose,
            status=status,
            actor_kind="system",
            actor_label="tests",
            **{name: at for name in TIMES.get(status, ())},
            **fields,
        )
        for contact in contacts
    ]
    return OutboundMessage.objects.bulk_create(rows)


def last_transition(campaign):
    return campaign.transitions.order_by("id").last()


# --- The failure rate ---------------------------------------------------------------------------


def test_a_failure_rate_above_the_threshold_pauses_it_with_the_numbers(sending):
    sends(sending, M.DELIVERED, 154)
    sends(sending, M.FAILED, 46)
    assert campaign_breaker_check([sending.pk]) == [sending]
    sending.refresh_from_db()
    reason = "Paused by the circuit breaker: 23 % of its last 200 sends failed (threshold 20 %)."
    assert (sending.status, sending.paused_from, sending.status_reason) == (S.PAUSED, S.SENDING, reason)
    row = last_transition(sending)
    assert (row.from_status, row.to_status, row.actor_kind, row.reason) == (
        S.SENDING,
        S.PAUSED,
        "system",
        reason,
    )
    assert row.details == {
        "cause": "breaker",
        "answered": 200,
        "failed": 46,
        "opted_out": 0,
        "failure_threshold": 0.2,
        "opt_out_threshold": 0.02,
    }


def test_at_the_threshold_it_keeps_sending(sending):
    sends(sending, M.ACCEPTED, 160)
    sends(sending, M.FAILED, 40)
    assert campaign_breaker_check([sending.pk]) == []
    assert status_of(sending) == S.SENDING


def test_nothing_is_judged_below_the_minimum_sample(sending, settings):
    settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 50
    sends(sending, M.FAILED, 49)
    assert campaign_breaker_check([sending.pk]) == []
    sends(sending, M.ACCEPTED, 1)
    assert campaign_breaker_check([sending.pk]) == [sending]


def test_only_the_latest_answers_count(sending, settings):
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 20, 10
    now = timezone.now()
    sends(sending, M.FAILED, 20, at=now + timedelta(seconds=1))
    sends(sending, M.ACCEPTED, 20, at=now + timedelta(seconds=2))
    assert campaign_breaker_window(sending) == breaker.Window(answered=20, failed=0, opted_out=0)
    assert campaign_breaker_check([sending.pk]) == []
    sends(sending, M.FAILED, 5, at=now + timedelta(seconds=3))
    assert campaign_breaker_window(sending).failed == 5
    assert campaign_breaker_check([sending.pk]) == [sending]


def test_messages_without_an_answer_from_whatsapp_are_no_evidence(sending, settings):
    """Our own failures (no code: a variable that could not be bound), and messages not answered yet."""
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 20, 10
    sends(sending, M.FAILED, 30, error_code=None, error_class="campaign_binding_failed")
    for status in (M.QUEUED, M.SENDING, M.UNKNOWN, M.SKIPPED, M.CANCELLED):
        sends(sending, status, 5)
    sends(sending, M.FAILED, 3, is_test=True)  # test sends are no part of the audience
    assert campaign_breaker_window(sending) == breaker.Window(answered=0, failed=0, opted_out=0)
    sends(sending, M.ACCEPTED, 10)
    assert campaign_breaker_check([sending.pk]) == []


def test_a_failure_reported_after_acceptance_counts(sending, settings):
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 20, 10
    sends(sending, M.ACCEPTED, 15)
    sends(sending, M.FAILED, 5, accepted_at=timezone.now())  # a status webhook said failed
    assert campaign_breaker_check([sending.pk]) == [sending]
    assert "25 % of its last 20 sends failed" in last_transition(sending).reason


# --- The opt-out rate ---------------------------------------------------------------------------


def test_recipients_opting_out_because_of_it_pause_it(sending, settings):
    """Its opt-outs as the results page attributes them: of its purpose after the message was sent
    (within CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS), or by its opt-out button."""
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 50, 50
    sent_at = timezone.now() - timedelta(minutes=5)
    messages = sends(sending, M.DELIVERED, 50)
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(sent_at=sent_at)
    for message in messages[:4]:
        opt_in(message.contact, sending.purpose, occurred_at=sent_at - timedelta(days=2))
    # Before their message was sent, and long after it: not its doing.
    opt_out(messages[0].contact, sending.purpose, occurred_at=sent_at - timedelta(days=1))
    OutboundMessage.objects.filter(pk=messages[1].pk).update(sent_at=sent_at - timedelta(hours=73))
    opt_out(messages[1].contact, sending.purpose, occurred_at=sent_at)
    opt_out(messages[2].contact, sending.purpose)
    assert campaign_breaker_window(sending).opted_out == 1
    assert campaign_breaker_check([sending.pk]) == []  # 1 of 50 is 2 %: at the threshold
    opt_out(
        messages[3].contact,
        sending.purpose,
        source=ConsentSource.BUTTON,
        evidence={"outbound_message_id": messages[3].pk},
    )
    assert campaign_breaker_check([sending.pk]) == [sending]
    reason = (
        "Paused by the circuit breaker: 4 % of the recipients of its last 50 sends opted out (threshold 2 %)."
    )
    assert status_of(sending) == S.PAUSED
    assert last_transition(sending).reason == reason
    assert last_transition(sending).details["opted_out"] == 2


def test_both_rates_are_named_when_both_pass(sending, settings):
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 10, 10
    failed = sends(sending, M.FAILED, 5)
    opt_out(
        failed[0].contact,
        sending.purpose,
        source=ConsentSource.BUTTON,
        evidence={"outbound_message_id": failed[0].pk},
    )
    sends(sending, M.ACCEPTED, 5)
    assert campaign_breaker_check([sending.pk]) == [sending]
    assert last_transition(sending).reason == (
        "Paused by the circuit breaker: 50 % of its last 10 sends failed (threshold 20 %); "
        "10 % of the recipients of its last 10 sends opted out (threshold 2 %)."
    )


def test_the_opt_outs_it_counts_are_those_the_results_page_credits_to_the_campaign(sending, settings):
    """One rule (``results.opt_out_caused`` per message, ``campaign_opt_outs`` per campaign)."""
    from messaging.campaigns.results import campaign_opt_outs

    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 200, 50
    sent_at = timezone.now() - timedelta(hours=2)
    messages = sends(sending, M.READ, 30)
    OutboundMessage.objects.filter(campaign=sending).update(sent_at=sent_at)
    opt_out(messages[0].contact, sending.purpose)
    opt_out(messages[1].contact, sending.purpose, occurred_at=sent_at - timedelta(minutes=1))
    opt_out(messages[2].contact, "marketing" if sending.purpose != "marketing" else "service")
    evidence = {"outbound_message_id": messages[3].pk}
    opt_out(messages[3].contact, sending.purpose, source=ConsentSource.BUTTON, evidence=evidence)
    assert campaign_breaker_window(sending).opted_out == campaign_opt_outs(sending).total == 2


# --- Cost ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [60, 600])
def test_one_query_per_campaign_whatever_its_size(sending, size):
    sends(sending, M.DELIVERED, size)
    with CaptureQueriesContext(connection) as window_queries:
        campaign_breaker_window(sending)
    with CaptureQueriesContext(connection) as check_queries:
        assert campaign_breaker_check([sending.pk]) == []
    assert len(window_queries) == 1
    assert len(check_queries) == 2  # the sending campaigns among the ids, and the window of each


def test_the_dispatcher_checks_a_campaign_at_most_once_in_check_seconds_per_process(sending, monkeypatch):
    checked = []
    monkeypatch.setattr(breaker, "campaign_breaker_check", lambda ids: checked.append(sorted(ids)) or [])
    monkeypatch.setattr(breaker, "CHECK_SECONDS", 2.0)
    clock = iter([100.0, 101.0, 102.0, 103.0])
    monkeypatch.setattr(breaker.time, "monotonic", lambda: next(clock))
    campaigns_breaker_tick({sending.pk})
    campaigns_breaker_tick({sending.pk})
    campaigns_breaker_tick({sending.pk, sending.pk + 1})
    campaigns_breaker_tick({sending.pk + 1})
    assert checked == [[sending.pk], [sending.pk, sending.pk + 1]]


# --- Once, and only while sending ---------------------------------------------------------------


def test_it_is_not_paused_twice(sending):
    sends(sending, M.FAILED, 60)
    assert campaign_breaker_check([sending.pk]) == [sending]
    assert campaign_breaker_check([sending.pk]) == []
    assert [t.to_status for t in sending.transitions.order_by("id")][-2:] == [S.SENDING, S.PAUSED]


def test_a_campaign_someone_paused_meanwhile_is_left_as_it_is(sending, approver, monkeypatch):
    sends(sending, M.FAILED, 60)
    real = breaker.campaign_breaker_window

    def window_then_a_person_pauses(campaign):
        window = real(campaign)
        campaign_pause(campaign=campaign, actor=as_actor(approver), reason="Checking the template")
        return window

    monkeypatch.setattr(breaker, "campaign_breaker_window", window_then_a_person_pauses)
    assert campaign_breaker_check([sending.pk]) == []
    assert last_transition(sending).reason == "Checking the template"


def test_a_resumed_campaign_gets_a_fresh_sample(sending, approver):
    sends(sending, M.FAILED, 60)
    campaign_breaker_check([sending.pk])
    campaign_resume(campaign=sending, actor=as_actor(approver))
    assert campaign_breaker_window(sending).answered == 0
    assert campaign_breaker_check([sending.pk]) == []
    assert status_of(sending) == S.SENDING


# --- Its messages wait --------------------------------------------------------------------------


def test_a_tripped_campaigns_messages_are_not_claimed(sending):
    sends(sending, M.FAILED, 60)
    queued = sends(sending, M.QUEUED, 5, next_attempt_at=timezone.now())
    campaign_breaker_check([sending.pk])
    assert not batches.claim_batch()
    assert set(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in queued]).values_list("status", flat=True)
    ) == {M.QUEUED}


def test_the_dispatcher_trips_it_after_a_batch_and_leaves_the_rest_queued(sending, memory_backend, settings):
    """A batch of 5 goes, the breaker sees 15 of the last 20 answers failed, the rest waits."""
    settings.CAMPAIGN_BREAKER_WINDOW, settings.CAMPAIGN_BREAKER_MIN_SAMPLE = 20, 10
    settings.WHATSAPP_MESSAGES_PER_SECOND = 5  # a batch is 5 messages
    sends(sending, M.FAILED, 20, at=timezone.now())
    version = sending.template.approved_version
    queued = sends(sending, M.QUEUED, 12, template_version=version, next_attempt_at=timezone.now())
    for message in queued:
        opt_in(message.contact, sending.purpose)
    dispatch()
    assert status_of(sending) == S.PAUSED
    states = list(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in queued]).values_list("status", flat=True)
    )
    assert sorted(states).count(M.ACCEPTED) == 5
    assert states.count(M.QUEUED) == 7


# --- Settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"CAMPAIGN_BREAKER_FAILURE_RATE": "0"}, "CAMPAIGN_BREAKER_FAILURE_RATE"),
        ({"CAMPAIGN_BREAKER_OPT_OUT_RATE": "1.5"}, "CAMPAIGN_BREAKER_OPT_OUT_RATE"),
        (
            {"CAMPAIGN_BREAKER_WINDOW": "100", "CAMPAIGN_BREAKER_MIN_SAMPLE": "101"},
            "CAMPAIGN_BREAKER_MIN_SAMPLE",
        ),
        ({"EMAIL_URL": "http://mail.example"}, "EMAIL_URL"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(variables, named):
    """A start-up in a fresh process (about a second each)."""
    from tests.core.test_settings import manage

    result = manage("check", **variables)
    assert result.returncode != 0
    assert named in result.stderr.splitlines()[-1]
