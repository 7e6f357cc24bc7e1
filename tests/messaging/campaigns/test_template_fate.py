"""What WhatsApp does to a template decides the fate of the campaigns that froze it (docs/campaigns.md)."""

import pytest

from messaging.campaign_models import CampaignStatus
from messaging.campaigns import template_fate
from messaging.campaigns.workflow import campaign_approve, campaign_pause, campaign_start, campaign_submit
from templates_app.models import TemplateVersion, VersionReview
from templates_app.services import template_apply_status, templates_sync
from tests.messaging.campaigns.workflow_world import as_actor, status_of, transitions, translation

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # its fixtures
pytestmark = pytest.mark.django_db
S = CampaignStatus


def meta_says(template, **report):
    template_apply_status(template=template, source="webhook", **report)


def last_transition(campaign):
    return campaign.transitions.order_by("id").last()


# --- PAUSED for quality: pause, and resume by itself ----------------------------------------------


def test_a_paused_template_pauses_its_approved_campaign(approved, reminder):
    meta_says(reminder, status="PAUSED")
    approved.refresh_from_db()
    assert (approved.status, approved.paused_from) == (S.PAUSED, S.APPROVED)
    assert "paused appointment_reminder (en) for its quality" in approved.status_reason
    row = last_transition(approved)
    assert (row.actor_kind, row.details["cause"]) == ("system", "template")
    assert row.details["templates"] == {"en": reminder.pk}


def test_approved_again_with_the_same_content_it_resumes_by_itself(sending, reminder):
    meta_says(reminder, status="PAUSED")
    assert status_of(sending) == S.PAUSED
    meta_says(reminder, status="APPROVED")
    sending.refresh_from_db()
    assert (sending.status, sending.paused_from, sending.status_reason) == (S.SENDING, "", "")
    assert transitions(sending)[-2:] == [(S.SENDING, S.PAUSED), (S.PAUSED, S.SENDING)]
    assert last_transition(sending).details == {"cause": "template"}


def test_flagged_pauses_too(approved, reminder):
    meta_says(reminder, status="FLAGGED")
    assert status_of(approved) == S.PAUSED
    meta_says(reminder, status="APPROVED")
    assert status_of(approved) == S.APPROVED


def test_a_campaign_an_approver_paused_stays_paused(approved, reminder, approver):
    campaign_pause(campaign=approved, actor=as_actor(approver), reason="Holding it for the press release")
    meta_says(reminder, status="PAUSED")
    meta_says(reminder, status="APPROVED")
    approved.refresh_from_db()
    assert (approved.status, approved.status_reason) == (S.PAUSED, "Holding it for the press release")
    assert transitions(approved)[-1] == (S.APPROVED, S.PAUSED)


def test_a_pause_after_a_template_pause_is_the_approvers(approved, reminder, approver):
    """The latest pause decides: the Approver resumed it by hand and paused it again."""
    meta_says(reminder, status="PAUSED")
    meta_says(reminder, status="APPROVED")
    campaign_pause(campaign=approved, actor=as_actor(approver))
    meta_says(reminder, status="PAUSED")
    meta_says(reminder, status="APPROVED")
    assert status_of(approved) == S.PAUSED


def test_a_quality_rating_alone_changes_nothing(approved, reminder):
    meta_says(reminder, quality="RED")
    assert status_of(approved) == S.APPROVED and len(transitions(approved)) == 2


def test_a_paused_translation_pauses_the_campaign_and_its_approval_resumes_it(
    draft, editor, approver, reminder
):
    german = translation(reminder, "de")
    campaign_submit(campaign=draft, actor=as_actor(editor))
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver))
    assert sorted(campaign.frozen["languages"]) == ["de", "en"]
    meta_says(german, status="PAUSED")
    assert status_of(campaign) == S.PAUSED
    meta_says(reminder, status="PAUSED")  # both paused now
    meta_says(german, status="APPROVED")
    assert status_of(campaign) == S.PAUSED  # English still paused
    meta_says(reminder, status="APPROVED")
    assert status_of(campaign) == S.APPROVED


# --- anything else: back to approval ---------------------------------------------------------------


@pytest.mark.parametrize("status", ["DISABLED", "REJECTED", "PENDING", "IN_APPEAL", "ARCHIVED", "DELETED"])
def test_a_template_that_leaves_approved_sends_the_campaign_back_to_approval(approved, reminder, status):
    meta_says(reminder, status=status)
    approved.refresh_from_db()
    assert approved.status == S.PENDING_APPROVAL and approved.frozen == {}
    assert "appointment_reminder (en)" in approved.status_reason
    assert "needs approving again" in approved.status_reason
    assert transitions(approved)[-1] == (S.APPROVED, S.PENDING_APPROVAL)


def test_a_sending_campaign_pauses_before_it_goes_back(sending, reminder):
    meta_says(reminder, status="DISABLED")
    assert transitions(sending)[-2:] == [(S.SENDING, S.PAUSED), (S.PAUSED, S.PENDING_APPROVAL)]


def test_a_paused_campaign_goes_back_when_the_template_is_disabled(approved, reminder):
    meta_says(reminder, status="PAUSED")
    meta_says(reminder, status="DISABLED")  # Meta's third pause
    assert transitions(approved)[-2:] == [(S.APPROVED, S.PAUSED), (S.PAUSED, S.PENDING_APPROVAL)]


def test_a_category_change_sends_it_back(approved, reminder):
    meta_says(reminder, category="MARKETING")
    approved.refresh_from_db()
    assert approved.status == S.PENDING_APPROVAL
    assert "re-categorised appointment_reminder (en) from UTILITY to MARKETING" in approved.status_reason


def test_new_approved_content_sends_it_back_even_while_paused_by_the_template(approved, reminder):
    meta_says(reminder, status="PAUSED")
    components = [*reminder.approved_version.components]
    components[1] = {
        **components[1],
        "text": "Hello {{first_name}}, see you {{date}} at {{time}} in {{store}}.",
    }
    TemplateVersion.objects.create(
        template=reminder,
        number=2,
        category="UTILITY",
        parameter_format="NAMED",
        components=components,
        review=VersionReview.PENDING,
    )
    meta_says(reminder, status="APPROVED")  # approves version 2
    approved.refresh_from_db()
    assert approved.status == S.PENDING_APPROVAL
    assert "not the content that was approved (now version 2)" in approved.status_reason


def test_content_edited_in_whatsapp_manager_found_by_the_sync_sends_it_back(
    approved, reminder, memory_backend
):
    components = [dict(c) for c in reminder.approved_version.components]
    components[1]["text"] = "Hi {{first_name}}, we moved your appointment to {{date}} {{time}} ({{store}})."
    memory_backend.templates[reminder.meta_template_id] = {
        "id": reminder.meta_template_id,
        "name": reminder.name,
        "language": reminder.language,
        "category": reminder.category,
        "parameter_format": "NAMED",
        "components": components,
        "status": "APPROVED",
    }
    templates_sync()
    approved.refresh_from_db()
    assert approved.status == S.PENDING_APPROVAL
    assert last_transition(approved).actor_label == "WhatsApp template verdict (sync)"


def test_a_new_approval_freezes_the_new_content(approved, reminder, approver, second_approver):
    meta_says(reminder, status="PENDING")
    meta_says(reminder, status="APPROVED")
    assert status_of(approved) == S.PENDING_APPROVAL  # approving again is a person's decision
    campaign = campaign_approve(campaign=approved, actor=as_actor(second_approver))
    assert campaign.status == S.APPROVED and campaign.frozen["languages"]["en"]["template_id"] == reminder.pk


# --- who is not concerned --------------------------------------------------------------------------


def test_drafts_pending_and_finished_campaigns_are_left_alone(draft, editor, reminder, approver):
    from messaging.campaigns.workflow import campaign_cancel, campaign_create
    from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS

    pending = campaign_create(
        actor=as_actor(editor),
        name="Pending",
        template=reminder,
        segment=draft.segment,
        bindings=REMINDER_BINDINGS,
    )
    campaign_submit(campaign=pending, actor=as_actor(editor))
    cancelled = campaign_create(actor=as_actor(editor), name="Gone", template=reminder, segment=draft.segment)
    campaign_cancel(campaign=cancelled, actor=as_actor(approver))
    meta_says(reminder, status="DISABLED")
    assert [status_of(c) for c in (draft, pending, cancelled)] == [S.DRAFT, S.PENDING_APPROVAL, S.CANCELLED]


def test_another_templates_verdict_does_not_touch_the_campaign(approved, templates):
    meta_says(templates["order_update"], status="DISABLED")
    assert status_of(approved) == S.APPROVED


def test_a_completed_campaign_is_left_alone(sending, reminder):
    from messaging.campaigns.workflow import campaign_complete

    campaign_complete(campaign=sending)
    meta_says(reminder, status="DISABLED")
    assert status_of(sending) == S.COMPLETED


# --- the reaction commits with the template's change, or neither does -----------------------------


def test_a_failing_reaction_leaves_the_template_unchanged_so_the_report_is_retried(
    approved, reminder, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(template_fate, "campaign_template_fate", broken)
    with pytest.raises(RuntimeError):
        meta_says(reminder, status="PAUSED")
    reminder.refresh_from_db()
    assert reminder.status == "APPROVED" and status_of(approved) == S.APPROVED


def test_a_campaign_moved_meanwhile_is_judged_again(approved, reminder, monkeypatch):
    """The dispatcher starts it between the pause's read and its UPDATE: the UPDATE finds it
    sending, and the verdict, read again, pauses the sending campaign."""
    from messaging.campaigns import workflow

    real_expect = workflow.expect_status
    raced = []

    def dispatcher_first(campaign, allowed, verb):
        real_expect(campaign, allowed, verb)
        if verb == "paused" and not raced:
            raced.append(campaign_start(campaign=campaign))

    monkeypatch.setattr(workflow, "expect_status", dispatcher_first)
    meta_says(reminder, status="PAUSED")
    approved.refresh_from_db()
    assert (approved.status, approved.paused_from) == (S.PAUSED, S.SENDING)
    assert transitions(approved)[-2:] == [(S.APPROVED, S.SENDING), (S.SENDING, S.PAUSED)]
