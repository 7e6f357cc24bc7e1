"""WhatsApp changes a template while an Approver's approval is running.

``campaign_approve`` reads the templates (``campaign_freeze``), then UPDATEs the campaign. The
template's change runs ``template_fate`` inside its own transaction, but only over campaigns that
are approved, sending or paused — a pending one is not looked at, so the approval itself must
notice: it locks the frozen templates' rows and compares them again before it commits.
"""

import contextlib

import pytest

from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns import workflow
from messaging.campaigns.freezing import frozen_template_drift
from messaging.campaigns.template_fate import campaigns_template_fate
from messaging.campaigns.workflow import campaign_approve
from tests.messaging.campaigns.test_approval_four_eyes import new_approved_content
from tests.messaging.campaigns.workflow_world import as_actor

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
S = CampaignStatus


def test_a_template_edit_approved_during_the_approval_never_leaves_a_stale_approved_campaign(
    approver, pending, reminder, monkeypatch
):
    real_freeze = workflow.campaign_freeze

    def freeze_then_whatsapp_edits(campaign, *, now):
        frozen = real_freeze(campaign, now=now)
        # Meanwhile (another process): the sync adopts new approved content and tells campaigns.
        new_approved_content(reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: new words.")
        campaigns_template_fate(template=reminder)
        return frozen

    monkeypatch.setattr(workflow, "campaign_freeze", freeze_then_whatsapp_edits)
    with contextlib.suppress(ApplicationError):  # a refusal ("the template changed") is fine
        campaign_approve(campaign=pending, actor=as_actor(approver))
    campaign = Campaign.objects.get(pk=pending.pk)
    if campaign.status == S.APPROVED:
        # Approved: then with the content WhatsApp sends now, not the one it replaced.
        assert frozen_template_drift(campaign) == []


def test_the_approval_is_rolled_back_with_a_clear_refusal(approver, pending, reminder, monkeypatch):
    real_freeze = workflow.campaign_freeze

    def freeze_then_whatsapp_edits(campaign, *, now):
        frozen = real_freeze(campaign, now=now)
        new_approved_content(reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: new words.")
        return frozen

    monkeypatch.setattr(workflow, "campaign_freeze", freeze_then_whatsapp_edits)
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=pending, actor=as_actor(approver))
    assert refused.value.code == "campaign_template_changed"
    campaign = Campaign.objects.get(pk=pending.pk)
    assert (campaign.status, campaign.frozen, campaign.approved_by) == (S.PENDING_APPROVAL, {}, None)
    assert not campaign.transitions.filter(to_status=S.APPROVED).exists()
    # Read again, it is approved with the content WhatsApp sends now.
    monkeypatch.setattr(workflow, "campaign_freeze", real_freeze)
    approved = campaign_approve(campaign=pending, actor=as_actor(approver))
    assert approved.status == S.APPROVED and frozen_template_drift(approved) == []
