"""A campaign's progress and results (``messaging.campaigns.results``): exact figures for a hand-built
set of messages, test sends and other campaigns left out, and a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cloud_api.errors import lookup
from contacts.models import ConsentSource, Purpose
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.results import (
    NEEDS_REVIEW,
    campaign_failures,
    campaign_funnel,
    campaign_opt_outs,
    campaign_progress,
    campaign_recipient_messages,
    campaign_skips,
)
from messaging.models import HoldReason, MessageStatus
from tests.factories import CampaignFactory, opt_out
from tests.messaging.campaigns.results_world import answer, campaign_message, messages, reads

M = MessageStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(db):
    return CampaignFactory(status=CampaignStatus.SENDING, rate_cap=2)


@pytest.fixture
def world(campaign):
    """Three queued (one waiting for the budget), one sending, two accepted, two sent, three
    delivered, four read, four failed, five skipped, one cancelled, two unknown (one past its
    deadline) — and, never counted, two test sends and another campaign's message."""
    made = {}
    made["queued"] = [
        *messages(campaign, M.QUEUED, 2),
        campaign_message(campaign, M.QUEUED, hold_reason=HoldReason.BUDGET),
    ]
    made["sending"] = messages(campaign, M.SENDING, 1)
    made["accepted"] = messages(campaign, M.ACCEPTED, 2)
    made["sent"] = messages(campaign, M.SENT, 2)
    made["delivered"] = messages(campaign, M.DELIVERED, 3)
    made["read"] = messages(campaign, M.READ, 4)
    made["failed"] = [
        *messages(campaign, M.FAILED, 2, error_code=131026, error_class="recipient-permanent"),
        campaign_message(campaign, M.FAILED, error_code=131050, error_class="recipient-permanent"),
        campaign_message(campaign, M.FAILED, error_class="marked_failed"),
    ]
    made["skipped"] = [
        *messages(campaign, M.SKIPPED, 2, error_class="opted_out"),
        campaign_message(campaign, M.SKIPPED, error_class="no_consent"),
        campaign_message(campaign, M.SKIPPED, error_class="duplicate_address"),
        campaign_message(campaign, M.SKIPPED, error_class="template_not_sendable"),
    ]
    made["cancelled"] = messages(campaign, M.CANCELLED, 1)
    made["unknown"] = [
        campaign_message(campaign, M.UNKNOWN),
        campaign_message(campaign, M.UNKNOWN, needs_review=True),
    ]
    made["tests"] = messages(campaign, M.READ, 2, is_test=True, error_code=131026)
    made["other"] = messages(CampaignFactory(status=CampaignStatus.SENDING), M.READ, 1)
    return made


def test_each_state_is_counted_once_and_test_sends_never(campaign, world):
    progress = campaign_progress(campaign)
    assert progress.counts == {
        M.QUEUED: 3,
        M.SENDING: 1,
        M.ACCEPTED: 2,
        M.SENT: 2,
        M.DELIVERED: 3,
        M.READ: 4,
        M.FAILED: 4,
        M.SKIPPED: 5,
        M.CANCELLED: 1,
        M.UNKNOWN: 2,
    }
    assert progress.total == 27
    assert progress.needs_review == 1
    assert progress.budget_held == 1


def test_the_progress_is_one_query(campaign, world):
    with CaptureQueriesContext(connection) as queries:
        campaign_progress(campaign)
    assert len(queries) == 1


def test_the_expected_finish_is_the_remaining_at_the_effective_rate(campaign, world, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 80
    now = timezone.now()
    progress = campaign_progress(campaign, now=now)
    # Three queued and one sending at the campaign's cap of 2 per second.
    assert progress.remaining == 4
    assert progress.effective_rate == 2
    assert progress.expected_finish == now + timedelta(seconds=2)
    assert any("budget" in note for note in progress.notes)

    campaign.rate_cap = None
    settings.WHATSAPP_MESSAGES_PER_SECOND = 3
    assert campaign_progress(campaign, now=now).expected_finish == now + timedelta(seconds=2)  # ceil(4/3)


def test_a_paused_campaign_has_no_expected_finish(campaign, world):
    campaign.status = CampaignStatus.PAUSED
    progress = campaign_progress(campaign)
    assert progress.expected_finish is None
    assert progress.live
    assert any("Paused" in note for note in progress.notes)


def test_nothing_left_to_send_has_no_finish_to_expect(campaign):
    messages(campaign, M.READ, 2)
    progress = campaign_progress(campaign)
    assert (progress.remaining, progress.seconds_left, progress.expected_finish) == (0, 0, None)
    assert progress.finish_text == "nothing left to send"


def test_the_current_rate_counts_the_last_minute_of_acceptances(campaign):
    now = timezone.now()
    messages(campaign, M.ACCEPTED, 3, at=now - timedelta(seconds=10))
    messages(campaign, M.DELIVERED, 3, at=now - timedelta(seconds=59))
    messages(campaign, M.READ, 2, at=now - timedelta(seconds=61))
    messages(campaign, M.ACCEPTED, 2, at=now - timedelta(seconds=5), is_test=True)
    assert campaign_progress(campaign, now=now).accepted_last_minute == 6
    assert campaign_progress(campaign, now=now).current_rate == 0.1


def test_the_funnel_counts_each_step_reached_at_least(campaign, world):
    read, delivered = world["read"], world["delivered"]
    answer(read[0])
    answer(read[0], text="And another thing")  # one message answered twice counts once
    answer(read[1], type="button", text="Book")
    answer(delivered[0])
    answer(world["tests"][0], type="button")  # a test send: never counted
    answer(world["other"][0])
    funnel = campaign_funnel(campaign)
    assert (funnel.sent, funnel.delivered, funnel.read) == (9, 7, 4)
    assert (funnel.replied, funnel.pressed) == (3, 1)


def test_the_funnel_is_one_query(campaign, world):
    with CaptureQueriesContext(connection) as queries:
        campaign_funnel(campaign)
    assert len(reads(queries)) == 1


def test_opt_outs_are_attributed_by_button_and_by_time(campaign, settings):
    settings.CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS = 72
    now = timezone.now()
    purpose = campaign.purpose
    other_purpose = next(p for p in Purpose.values if p != purpose)
    other_campaign = CampaignFactory(status=CampaignStatus.SENDING)

    # Pressed the opt-out button of its message an hour after it was sent: both ways.
    button = campaign_message(campaign, M.READ, at=now - timedelta(hours=2))
    opt_out(
        button.contact,
        purpose,
        source=ConsentSource.BUTTON,
        occurred_at=now - timedelta(hours=1),
        evidence={"outbound_message_id": button.pk, "outbound_message_public_id": str(button.public_id)},
    )
    # Opted out (any way) of its purpose five hours after it was sent: by time.
    later = campaign_message(campaign, M.DELIVERED, at=now - timedelta(hours=10))
    opt_out(later.contact, purpose, occurred_at=now - timedelta(hours=5))
    # After the window: not counted.
    late = campaign_message(campaign, M.DELIVERED, at=now - timedelta(hours=100))
    opt_out(late.contact, purpose, occurred_at=now - timedelta(hours=1))
    # Another purpose within the window: not counted.
    elsewhere = campaign_message(campaign, M.READ, at=now - timedelta(hours=3))
    opt_out(elsewhere.contact, other_purpose, occurred_at=now - timedelta(hours=1))
    # Before the message was sent: not counted.
    before = campaign_message(campaign, M.SENT, at=now - timedelta(hours=1))
    opt_out(before.contact, purpose, occurred_at=now - timedelta(hours=2))
    # The button of another campaign's message, long after this one's: not counted.
    theirs = campaign_message(other_campaign, M.READ, at=now - timedelta(hours=2))
    campaign_message(campaign, M.READ, contact=theirs.contact, at=now - timedelta(hours=200))
    opt_out(
        theirs.contact,
        purpose,
        source=ConsentSource.BUTTON,
        occurred_at=now - timedelta(hours=1),
        evidence={"outbound_message_id": theirs.pk},
    )
    # A test send's recipient: no recipient of the campaign.
    test = campaign_message(campaign, M.READ, at=now - timedelta(hours=2), is_test=True)
    opt_out(
        test.contact,
        purpose,
        source=ConsentSource.BUTTON,
        occurred_at=now - timedelta(hours=1),
        evidence={"outbound_message_id": test.pk},
    )
    # Never sent (skipped): its recipient's opt-out is not the campaign's doing.
    skipped = campaign_message(campaign, M.SKIPPED, error_class="no_consent")
    opt_out(skipped.contact, purpose, occurred_at=now - timedelta(minutes=5))

    opt_outs = campaign_opt_outs(campaign)
    assert (opt_outs.by_button, opt_outs.within_window, opt_outs.total) == (1, 2, 2)
    assert opt_outs.window_hours == 72

    settings.CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS = 4
    opt_outs = campaign_opt_outs(campaign)
    assert (opt_outs.by_button, opt_outs.within_window, opt_outs.total) == (1, 1, 1)


def test_failures_are_grouped_by_metas_code_with_its_meaning(campaign, world):
    groups = [(g.code, g.error_class, g.count, g.meaning) for g in campaign_failures(campaign)]
    assert groups == [
        (131026, "recipient-permanent", 2, lookup(131026).meaning),
        (131050, "recipient-permanent", 1, lookup(131050).meaning),
        (None, "marked_failed", 1, "The outcome stayed unknown; staff marked it failed."),
    ]


def test_skipped_are_grouped_by_reason(campaign, world):
    groups = [(g.reason, g.count, g.label) for g in campaign_skips(campaign)]
    assert groups == [
        ("opted_out", 2, "Opted out"),
        ("duplicate_address", 1, "Another contact has the same WhatsApp number; that one gets it."),
        ("no_consent", 1, "No opt-in for the purpose"),
        ("template_not_sendable", 1, "Template not sendable"),
    ]


def test_the_recipient_list_filters_by_state_and_code(campaign, world):
    answer(world["read"][0])
    assert campaign_recipient_messages(campaign).count() == 27
    read = list(campaign_recipient_messages(campaign, state=M.READ))
    assert [m.pk for m in read] == sorted(m.pk for m in world["read"])
    assert [m.replied for m in read] == [True, False, False, False]
    assert campaign_recipient_messages(campaign, state=M.FAILED, code=131026).count() == 2
    assert campaign_recipient_messages(campaign, code=0).count() == 0
    assert [m.pk for m in campaign_recipient_messages(campaign, state=NEEDS_REVIEW)] == [
        world["unknown"][1].pk
    ]


def _all_results(campaign):
    campaign_progress(campaign)
    campaign_funnel(campaign)
    campaign_opt_outs(campaign)
    campaign_failures(campaign)
    campaign_skips(campaign)


@pytest.mark.parametrize("size", [5, 50])
def test_the_results_take_the_same_queries_whatever_the_size(campaign, size):
    now = timezone.now()
    for index in range(size):
        status = (M.READ, M.FAILED, M.SKIPPED, M.DELIVERED, M.QUEUED)[index % 5]
        message = campaign_message(
            campaign, status, at=now - timedelta(hours=2), error_code=131026 if status == M.FAILED else None
        )
        if status == M.READ:
            answer(message, type="button")
            opt_out(message.contact, campaign.purpose, occurred_at=now - timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries:
        _all_results(campaign)
    assert len(reads(queries)) == 5
