"""An approved campaign's life: start, pause, resume, cancel, back to approval, complete, when it is due."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.transitions import TRANSITIONS, move
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_cancel,
    campaign_complete,
    campaign_pause,
    campaign_resume,
    campaign_return_to_approval,
    campaign_start,
    campaign_submit,
    campaign_update,
    campaigns_due,
    campaigns_overdue,
)
from messaging.models import MessageStatus
from tests.factories import UserFactory
from tests.messaging.campaigns.workflow_world import (
    SYSTEM,
    as_actor,
    campaign_message,
    status_of,
    transitions,
)

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # its fixtures
pytestmark = pytest.mark.django_db
S = CampaignStatus


def refused(code, call, **kwargs):
    with pytest.raises(ApplicationError) as info:
        call(**kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# --- start and complete ----------------------------------------------------------------------------


def test_an_approved_now_campaign_is_due_and_starts(approved):
    assert campaigns_due() == [approved]
    campaign = campaign_start(campaign=approved)
    assert campaign.status == S.SENDING and campaign.started_at is not None
    row = campaign.transitions.last()
    assert (row.from_status, row.to_status, row.actor_kind) == (S.APPROVED, S.SENDING, "system")
    assert campaigns_due() == []


def test_a_campaign_is_not_started_before_it_is_due(draft, editor, approver):
    at = timezone.now() + timedelta(hours=3)
    campaign_update(campaign=draft, actor=as_actor(editor), schedule_kind="at", send_at=at)
    campaign_submit(campaign=draft, actor=as_actor(editor))
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver))
    refused("campaign_not_due", campaign_start, campaign=campaign)
    assert campaign_start(campaign=campaign, now=at).status == S.SENDING


def test_a_local_time_campaign_is_due_when_its_first_member_s_clock_reaches_it(
    draft, editor, approver, germans
):
    day = (timezone.now() + timedelta(days=3)).date()
    campaign_update(
        campaign=draft, actor=as_actor(editor), schedule_kind="local", local_date=day, local_time="10:00"
    )
    campaign_submit(campaign=draft, actor=as_actor(editor))
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver))
    # Every member has a German number: 10:00 in Berlin.
    assert {(c.zone_earliest, c.zone_latest) for c in germans} == {("Europe/Berlin", "Europe/Berlin")}
    first = datetime.combine(day, time(10, 0), tzinfo=ZoneInfo("Europe/Berlin"))
    assert campaign.frozen["schedule"]["first_send_at"] == first.astimezone(UTC).isoformat()
    assert campaigns_due(first - timedelta(seconds=1)) == []
    assert campaigns_due(first) == [campaign]


def test_a_campaign_past_its_latest_send_time_is_overdue_not_due(draft, editor, approver):
    now = timezone.now()
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        schedule_kind="at",
        send_at=now + timedelta(minutes=5),
        latest_send_at=now + timedelta(hours=1),
    )
    campaign_submit(campaign=draft, actor=as_actor(editor))
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver))
    later = now + timedelta(hours=2)
    assert campaigns_due(later) == []
    assert campaigns_overdue(later) == [campaign]
    # The dispatcher still starts it, to skip everyone with that reason.
    assert campaign_start(campaign=campaign, now=later).status == S.SENDING


def test_only_an_approved_campaign_starts(sending):
    refused("campaign_wrong_status", campaign_start, campaign=sending)


def test_a_person_does_not_start_or_complete_a_campaign(approved, approver):
    refused("permission_denied", campaign_start, campaign=approved, actor=as_actor(approver))
    refused("permission_denied", campaign_complete, campaign=approved, actor=as_actor(approver))


def test_a_campaign_completes_when_nothing_is_queued_or_sending(sending):
    message = campaign_message(sending, status=MessageStatus.SENDING)
    campaign_message(sending, status=MessageStatus.DELIVERED)
    campaign_message(sending, status=MessageStatus.QUEUED, is_test=True)  # a test send does not count
    error = refused("campaign_still_sending", campaign_complete, campaign=sending)
    assert "1 message" in error.message
    message.status = MessageStatus.ACCEPTED
    message.save(update_fields=["status"])
    campaign = campaign_complete(campaign=sending)
    assert campaign.status == S.COMPLETED and campaign.finished_at is not None


def test_only_a_sending_campaign_completes(approved):
    refused("campaign_wrong_status", campaign_complete, campaign=approved)


# --- pause and resume ------------------------------------------------------------------------------


def test_an_approver_pauses_an_approved_campaign_and_resumes_it(approved, approver):
    campaign = campaign_pause(campaign=approved, actor=as_actor(approver), reason="Wrong date")
    assert (campaign.status, campaign.paused_from, campaign.status_reason) == (
        S.PAUSED,
        S.APPROVED,
        "Wrong date",
    )
    campaign = campaign_resume(campaign=campaign, actor=as_actor(approver))
    assert (campaign.status, campaign.paused_from, campaign.status_reason) == (S.APPROVED, "", "")
    assert transitions(campaign)[-2:] == [(S.APPROVED, S.PAUSED), (S.PAUSED, S.APPROVED)]


def test_a_sending_campaign_resumes_sending(sending, approver):
    campaign = campaign_pause(campaign=sending, actor=as_actor(approver))
    assert campaign.paused_from == S.SENDING
    assert campaign_resume(campaign=campaign, actor=as_actor(approver)).status == S.SENDING


def test_an_editor_pauses_a_sending_campaign_only(approved, editor):
    refused("permission_denied", campaign_pause, campaign=approved, actor=as_actor(editor))
    campaign = campaign_start(campaign=approved)
    assert campaign_pause(campaign=campaign, actor=as_actor(editor)).status == S.PAUSED


def test_an_editor_does_not_resume(sending, editor):
    campaign = campaign_pause(campaign=sending, actor=as_actor(editor))
    refused("permission_denied", campaign_resume, campaign=campaign, actor=as_actor(editor))
    assert status_of(campaign) == S.PAUSED


@pytest.mark.parametrize("role", ["Support", "Auditor", "Administrator"])
def test_other_roles_do_not_pause_resume_or_cancel(sending, role):
    user = UserFactory(role=role)
    refused("permission_denied", campaign_pause, campaign=sending, actor=as_actor(user))
    refused("permission_denied", campaign_cancel, campaign=sending, actor=as_actor(user))
    campaign = campaign_pause(campaign=sending, actor=SYSTEM)
    refused("permission_denied", campaign_resume, campaign=campaign, actor=as_actor(user))


def test_pausing_twice_says_it_is_paused(approved, approver):
    campaign_pause(campaign=approved, actor=as_actor(approver))
    error = refused("campaign_wrong_status", campaign_pause, campaign=approved, actor=as_actor(approver))
    assert "paused" in error.message


def test_a_draft_or_pending_campaign_is_not_paused_or_resumed(pending, approver):
    refused("campaign_wrong_status", campaign_pause, campaign=pending, actor=as_actor(approver))
    refused("campaign_wrong_status", campaign_resume, campaign=pending, actor=as_actor(approver))


def test_no_resume_while_its_template_is_paused(approved, approver, reminder):
    from templates_app.services import template_apply_status

    template_apply_status(template=reminder, status="PAUSED", source="webhook")
    assert status_of(approved) == S.PAUSED
    error = refused(
        "campaign_template_not_sendable", campaign_resume, campaign=approved, actor=as_actor(approver)
    )
    assert "appointment_reminder" in error.message


# --- cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["draft", "pending", "approved", "sending"])
def test_anything_not_finished_is_cancelled(request, fixture, approver):
    campaign = request.getfixturevalue(fixture)
    campaign = campaign_cancel(campaign=campaign, actor=as_actor(approver), reason="Offer withdrawn")
    assert (campaign.status, campaign.status_reason) == (S.CANCELLED, "Offer withdrawn")
    assert campaign.finished_at is not None
    assert transitions(campaign)[-1] == (fixture if fixture != "pending" else S.PENDING_APPROVAL, S.CANCELLED)


def test_a_paused_campaign_is_cancelled(sending, approver):
    campaign_pause(campaign=sending, actor=as_actor(approver))
    assert campaign_cancel(campaign=sending, actor=as_actor(approver)).status == S.CANCELLED


def test_cancelling_cancels_its_queued_messages_only(sending, approver):
    queued = [campaign_message(sending) for _ in range(3)]
    on_its_way = campaign_message(sending, status=MessageStatus.SENDING)
    delivered = campaign_message(sending, status=MessageStatus.DELIVERED)
    test_send = campaign_message(sending, is_test=True)
    campaign_cancel(campaign=sending, actor=as_actor(approver), reason="Offer withdrawn")
    for message in queued:
        message.refresh_from_db()
        assert (message.status, message.error_class, message.error_text) == (
            MessageStatus.CANCELLED,
            "campaign_cancelled",
            "Offer withdrawn",
        )
        assert message.finished_at is not None
    for message, status in ((on_its_way, "sending"), (delivered, "delivered"), (test_send, "queued")):
        message.refresh_from_db()
        assert message.status == status


def test_a_finished_campaign_is_not_cancelled(sending, approver):
    campaign = campaign_complete(campaign=sending)
    error = refused("campaign_wrong_status", campaign_cancel, campaign=campaign, actor=as_actor(approver))
    assert "completed" in error.message


def test_cancelled_is_final(draft, approver):
    campaign = campaign_cancel(campaign=draft, actor=as_actor(approver))
    refused("campaign_wrong_status", campaign_cancel, campaign=campaign, actor=as_actor(approver))


def test_an_editor_does_not_cancel(draft, editor):
    refused("permission_denied", campaign_cancel, campaign=draft, actor=as_actor(editor))


# --- back to approval ------------------------------------------------------------------------------


def test_an_approved_campaign_goes_back_to_approval_and_forgets_its_approval(approved, approver):
    frozen = approved.frozen
    campaign = campaign_return_to_approval(campaign=approved, reason="WhatsApp disabled the template.")
    assert (campaign.status, campaign.status_reason) == (
        S.PENDING_APPROVAL,
        "WhatsApp disabled the template.",
    )
    assert (campaign.frozen, campaign.segment_version, campaign.approved_by) == ({}, None, None)
    row = campaign.transitions.last()
    assert (row.from_status, row.to_status, row.actor_kind) == (S.APPROVED, S.PENDING_APPROVAL, "system")
    assert row.details["frozen"] == frozen and row.details["approved_by"] == approver.pk
    # The same Approver may approve it again.
    assert campaign_approve(campaign=campaign, actor=as_actor(approver)).status == S.APPROVED


def test_a_sending_campaign_pauses_first(sending):
    campaign = campaign_return_to_approval(campaign=sending, reason="Edited at WhatsApp.")
    assert campaign.status == S.PENDING_APPROVAL and campaign.paused_from == ""
    assert transitions(campaign)[-2:] == [(S.SENDING, S.PAUSED), (S.PAUSED, S.PENDING_APPROVAL)]


def test_a_paused_campaign_goes_back_to_approval(sending, approver):
    campaign_pause(campaign=sending, actor=as_actor(approver))
    campaign = campaign_return_to_approval(campaign=sending, reason="Re-categorised.")
    assert transitions(campaign)[-1] == (S.PAUSED, S.PENDING_APPROVAL)


def test_a_draft_does_not_go_back_to_approval(draft):
    refused("campaign_wrong_status", campaign_return_to_approval, campaign=draft, reason="x")


def test_an_editor_does_not_send_a_campaign_back_to_approval(approved, editor):
    refused(
        "permission_denied",
        campaign_return_to_approval,
        campaign=approved,
        reason="x",
        actor=as_actor(editor),
    )


# --- the table -------------------------------------------------------------------------------------


def test_no_transition_outside_the_table(draft):
    for start in S:
        for to in S:
            if (start, to) in TRANSITIONS:
                continue
            draft.status = start
            with pytest.raises(ApplicationError) as info:
                move(draft, actor=SYSTEM, to=to, action="moved")
            assert info.value.code == "campaign_wrong_status", (start, to)
    assert transitions(draft) == [] and status_of(draft) == S.DRAFT
