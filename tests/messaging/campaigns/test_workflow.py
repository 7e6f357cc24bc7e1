"""Writing a campaign and having it approved: create, edit, submit, withdraw, approve, reject, duplicate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ActivityLogEntry
from contacts.segments.services import segment_update
from core.errors import ApplicationError
from messaging.campaign_models import CampaignAuthor, CampaignStatus
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_create,
    campaign_duplicate,
    campaign_reject,
    campaign_submit,
    campaign_update,
    campaign_withdraw,
    campaigns_due,
)
from tests.factories import UserFactory
from tests.messaging.campaigns.workflow_world import (
    REMINDER_BINDINGS,
    SYSTEM,
    as_actor,
    literal,
    status_of,
    transitions,
    translation,
)

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # its fixtures

pytestmark = pytest.mark.django_db
S = CampaignStatus


def refused(code, call, **kwargs):
    with pytest.raises(ApplicationError) as info:
        call(**kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def activity(campaign):
    return list(
        ActivityLogEntry.objects.filter(object_type="messaging.campaign", object_id=str(campaign.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- create and edit -------------------------------------------------------------------------------


def test_a_new_campaign_is_a_draft_its_creator_an_author(draft, editor):
    assert draft.status == S.DRAFT
    assert draft.purpose == "service"  # appointment_reminder is UTILITY
    assert draft.created_by == editor
    assert list(CampaignAuthor.objects.filter(campaign=draft).values_list("user", flat=True)) == [editor.pk]
    assert activity(draft) == ["campaign.created"]
    assert transitions(draft) == []


def test_a_marketing_template_makes_a_marketing_campaign(editor, templates, segment):
    campaign = campaign_create(
        actor=as_actor(editor), name="Spring", template=templates["spring_promotion"], segment=segment
    )
    assert campaign.purpose == "marketing"


def test_create_refuses_a_template_that_is_not_approved(editor, reminder, segment):
    reminder.status = "PAUSED"
    reminder.save(update_fields=["status"])
    error = refused(
        "campaign_template_not_approved",
        campaign_create,
        actor=as_actor(editor),
        name="x",
        template=reminder,
        segment=segment,
    )
    assert "appointment_reminder" in error.message


@pytest.mark.parametrize("role", ["Approver", "Support", "Auditor", "Administrator"])
def test_only_editors_create_campaigns(role, reminder, segment):
    user = UserFactory(role=role)
    refused(
        "permission_denied",
        campaign_create,
        actor=as_actor(user),
        name="x",
        template=reminder,
        segment=segment,
    )


def test_the_system_creates_no_campaign(reminder, segment):
    refused("permission_denied", campaign_create, actor=SYSTEM, name="x", template=reminder, segment=segment)


def test_create_refuses_a_blank_name_and_bad_values(editor, reminder, segment):
    actor = as_actor(editor)
    refused(
        "campaign_name_missing", campaign_create, actor=actor, name="  ", template=reminder, segment=segment
    )
    error = refused(
        "campaign_invalid",
        campaign_create,
        actor=actor,
        name="x",
        template=reminder,
        segment=segment,
        schedule_kind="tomorrow",
    )
    assert error.field == "schedule_kind"
    refused(
        "campaign_invalid",
        campaign_create,
        actor=actor,
        name="x",
        template=reminder,
        segment=segment,
        rate_cap=0,
    )


def test_editing_a_draft_makes_the_editor_an_author(draft, editor):
    colleague = UserFactory(username="eddie_editor", role="Editor")
    campaign = campaign_update(
        campaign=draft, actor=as_actor(colleague), name="  Autumn reminders ", rate_cap=5
    )
    assert (campaign.name, campaign.rate_cap) == ("Autumn reminders", 5)
    assert set(CampaignAuthor.objects.filter(campaign=draft).values_list("user", flat=True)) == {
        editor.pk,
        colleague.pk,
    }
    assert activity(draft) == ["campaign.created", "campaign.changed"]


def test_changing_the_template_derives_the_purpose_again(draft, editor, templates):
    campaign = campaign_update(campaign=draft, actor=as_actor(editor), template=templates["spring_promotion"])
    assert campaign.purpose == "marketing"


def test_only_a_draft_is_edited(pending, editor):
    error = refused(
        "campaign_not_editable", campaign_update, campaign=pending, actor=as_actor(editor), name="x"
    )
    assert "withdraw" in error.message


def test_workflow_fields_are_not_edited(draft, editor):
    for field in ("status", "frozen", "approved_by", "purpose"):
        refused(
            "campaign_field_not_editable",
            campaign_update,
            campaign=draft,
            actor=as_actor(editor),
            **{field: None},
        )


def test_an_approver_does_not_edit(draft, approver):
    refused("permission_denied", campaign_update, campaign=draft, actor=as_actor(approver), name="x")


# --- submit ----------------------------------------------------------------------------------------


def test_submit_sends_it_for_approval(draft, editor):
    colleague = UserFactory(username="eddie_editor", role="Editor")
    campaign = campaign_submit(campaign=draft, actor=as_actor(colleague))
    assert campaign.status == S.PENDING_APPROVAL and campaign.submitted_at is not None
    assert transitions(campaign) == [(S.DRAFT, S.PENDING_APPROVAL)]
    row = campaign.transitions.get()
    assert (row.actor_user, row.actor_kind) == (colleague, "user")
    assert CampaignAuthor.objects.filter(campaign=campaign, user=colleague).exists()
    assert activity(campaign)[-1] == "campaign.submitted"


def test_submit_twice_says_it_awaits_approval(pending, editor):
    error = refused("campaign_wrong_status", campaign_submit, campaign=pending, actor=as_actor(editor))
    assert "awaiting approval" in error.message
    assert transitions(pending) == [(S.DRAFT, S.PENDING_APPROVAL)]


def test_an_approver_does_not_submit(draft, approver):
    refused("permission_denied", campaign_submit, campaign=draft, actor=as_actor(approver))


def submit_refused(draft, editor, code, **changes):
    if changes:
        campaign_update(campaign=draft, actor=as_actor(editor), **changes)
    error = refused(code, campaign_submit, campaign=draft, actor=as_actor(editor))
    assert status_of(draft) == S.DRAFT
    return error


def test_submit_refuses_unbound_variables(draft, editor):
    error = submit_refused(draft, editor, "campaign_bindings_invalid", bindings={})
    assert "{{first_name}}" in error.message


def test_submit_refuses_an_empty_audience(draft, editor, germans):
    from contacts.segments.services import segment_create

    french = segment_create(
        name="France", rules={"op": "all", "rules": [{"kind": "country", "in": ["FR"]}]}, actor=SYSTEM
    )
    error = submit_refused(draft, editor, "campaign_audience_empty", segment=french)
    assert "France" in error.message


def test_submit_refuses_an_archived_segment(draft, editor, segment):
    segment_update(segment=segment, archived=True, actor=SYSTEM)
    submit_refused(draft, editor, "campaign_segment_archived")


def test_submit_refuses_a_template_paused_since(draft, editor, reminder):
    from templates_app.services import template_apply_status

    template_apply_status(template=reminder, status="PAUSED", source="webhook")
    submit_refused(draft, editor, "campaign_template_not_approved")


def test_submit_refuses_languages_of_different_categories(draft, editor, reminder):
    german = translation(reminder, "de", category="MARKETING")
    error = submit_refused(draft, editor, "campaign_categories_differ")
    assert german.language in error.message


def test_submit_refuses_a_send_time_in_the_past(draft, editor):
    error = submit_refused(
        draft,
        editor,
        "campaign_schedule_past",
        schedule_kind="at",
        send_at=timezone.now() - timedelta(minutes=1),
    )
    assert error.field == "send_at"


def test_submit_refuses_an_at_schedule_without_a_time(draft, editor):
    submit_refused(draft, editor, "campaign_schedule_missing", schedule_kind="at")


def test_submit_refuses_a_local_time_passed_in_every_zone(draft, editor):
    two_days_ago = (timezone.now() - timedelta(days=2)).date()
    submit_refused(
        draft,
        editor,
        "campaign_schedule_past",
        schedule_kind="local",
        local_date=two_days_ago,
        local_time="10:00",
    )


def test_a_local_time_still_ahead_somewhere_may_be_submitted(draft, editor):
    # 10:00 today has passed in Berlin by evening, but not on Baker Island (UTC-12).
    today = timezone.now().date()
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        schedule_kind="local",
        local_date=today + timedelta(days=1),
        local_time="00:00",
    )
    assert campaign_submit(campaign=draft, actor=as_actor(editor)).status == S.PENDING_APPROVAL


def test_submit_refuses_a_latest_send_time_before_the_send_time(draft, editor):
    send_at = timezone.now() + timedelta(hours=2)
    submit_refused(
        draft,
        editor,
        "campaign_latest_before_start",
        schedule_kind="at",
        send_at=send_at,
        latest_send_at=send_at - timedelta(minutes=1),
    )


def test_submit_refuses_a_latest_send_time_in_the_past(draft, editor):
    submit_refused(
        draft, editor, "campaign_latest_passed", latest_send_at=timezone.now() - timedelta(minutes=1)
    )


def test_submit_refuses_a_media_template_without_its_media(draft, editor, templates):
    error = submit_refused(
        draft,
        editor,
        "campaign_media_missing",
        template=templates["order_update"],
        bindings={"body": {"1": literal("Pablo"), "2": literal("ORD-1")}, "buttons": {"0": literal("ORD-1")}},
    )
    assert "document" in error.message


def test_submit_refuses_media_for_a_template_without_a_media_header(draft, editor):
    submit_refused(
        draft,
        editor,
        "campaign_media_unexpected",
        header_media_source="link",
        header_media_link="https://shop.example/a.jpg",
    )


def test_submit_refuses_a_rate_cap_above_the_global_rate(draft, editor, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 20
    error = submit_refused(draft, editor, "campaign_rate_cap_too_high", rate_cap=21)
    assert "20" in error.message


def test_submit_names_every_problem_at_once(draft, editor):
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        bindings={},
        schedule_kind="at",
        send_at=timezone.now() - timedelta(hours=1),
    )
    error = refused("campaign_bindings_invalid", campaign_submit, campaign=draft, actor=as_actor(editor))
    codes = {p["code"] for p in error.details["problems"]}
    assert codes == {"campaign_bindings_invalid", "campaign_schedule_past"}


def test_an_edit_between_the_checks_and_the_update_is_checked_again(draft, editor, monkeypatch):
    """Submit what was checked: an edit saved while the checks ran makes the submission refuse."""
    from messaging.campaigns import workflow

    real = workflow.campaign_readiness

    def edited_meanwhile(campaign, **kwargs):
        result = real(campaign, **kwargs)
        campaign_update(campaign=draft, actor=as_actor(editor), bindings={})
        return result

    monkeypatch.setattr(workflow, "campaign_readiness", edited_meanwhile)
    refused("campaign_changed", campaign_submit, campaign=draft, actor=as_actor(editor))
    assert status_of(draft) == S.DRAFT


# --- withdraw --------------------------------------------------------------------------------------


def test_withdrawing_makes_it_a_draft_again_to_edit(pending, editor):
    campaign = campaign_withdraw(campaign=pending, actor=as_actor(editor))
    assert campaign.status == S.DRAFT
    assert transitions(campaign)[-1] == (S.PENDING_APPROVAL, S.DRAFT)
    assert campaign_update(campaign=campaign, actor=as_actor(editor), name="Fixed").name == "Fixed"


def test_only_a_pending_campaign_is_withdrawn(draft, editor, approver):
    refused("campaign_wrong_status", campaign_withdraw, campaign=draft, actor=as_actor(editor))


def test_an_approver_does_not_withdraw(pending, approver):
    refused("permission_denied", campaign_withdraw, campaign=pending, actor=as_actor(approver))


# --- approve ---------------------------------------------------------------------------------------


def test_approval_freezes_content_rules_and_bindings(approved, approver, reminder, segment):
    assert approved.status == S.APPROVED
    assert (approved.approved_by, approved.approved_at is not None) == (approver, True)
    assert approved.segment_version.version == segment.version
    frozen = approved.frozen
    assert frozen["default_language"] == "en"
    assert frozen["languages"]["en"]["template_id"] == reminder.pk
    assert frozen["languages"]["en"]["version_id"] == reminder.approved_version_id
    assert frozen["languages"]["en"]["components"] == reminder.approved_version.components
    assert frozen["languages"]["en"]["category"] == "UTILITY"
    assert frozen["bindings"] == REMINDER_BINDINGS
    assert frozen["rules"] == segment.rules
    assert frozen["schedule"]["kind"] == "now" and frozen["purpose"] == "service"
    assert transitions(approved) == [(S.DRAFT, S.PENDING_APPROVAL), (S.PENDING_APPROVAL, S.APPROVED)]
    assert approved.transitions.last().actor_user == approver


def test_editing_the_segment_later_does_not_reach_the_approved_campaign(approved, segment):
    rules = {"op": "all", "rules": [{"kind": "country", "in": ["AT"]}]}
    segment_update(segment=segment, rules=rules, actor=SYSTEM)
    approved.refresh_from_db()
    assert approved.frozen["rules"]["rules"][0]["in"] == ["DE"]
    assert approved.segment_version.version == 1


def test_an_included_segment_is_frozen_as_it_was(editor, approver, reminder, germans):
    from tests.factories import make_segment

    inner = make_segment(name="Inner")
    outer = make_segment(
        name="Outer", rules={"op": "all", "rules": [{"kind": "in_segment", "segment": inner.pk}]}
    )
    campaign = campaign_create(
        actor=as_actor(editor), name="x", template=reminder, segment=outer, bindings=REMINDER_BINDINGS
    )
    campaign_submit(campaign=campaign, actor=as_actor(editor))
    campaign = campaign_approve(campaign=campaign, actor=as_actor(approver))
    assert campaign.frozen["rules"] == {"op": "all", "rules": [inner.rules]}


def test_an_author_may_not_approve(draft, reminder, segment):
    both = UserFactory(username="erin_and_alex", role="Editor")
    both.groups.add(*UserFactory(username="tmp_approver", role="Approver").groups.all())
    campaign_update(campaign=draft, actor=as_actor(both), name="Edited by both")
    campaign_submit(campaign=draft, actor=as_actor(both))
    error = refused("campaign_approver_is_author", campaign_approve, campaign=draft, actor=as_actor(both))
    assert "another Approver" in error.message
    refused(
        "campaign_approver_is_author", campaign_reject, campaign=draft, actor=as_actor(both), comment="no"
    )
    assert status_of(draft) == S.PENDING_APPROVAL


def test_a_superuser_author_may_not_approve_either(reminder, segment, germans):
    root = UserFactory(username="root", is_superuser=True)
    campaign = campaign_create(
        actor=as_actor(root), name="x", template=reminder, segment=segment, bindings=REMINDER_BINDINGS
    )
    campaign_submit(campaign=campaign, actor=as_actor(root))
    refused("campaign_approver_is_author", campaign_approve, campaign=campaign, actor=as_actor(root))


@pytest.mark.parametrize("role", ["Editor", "Support", "Auditor", "Administrator"])
def test_only_approvers_approve(pending, role):
    user = UserFactory(role=role)
    refused("permission_denied", campaign_approve, campaign=pending, actor=as_actor(user))
    refused("permission_denied", campaign_reject, campaign=pending, actor=as_actor(user), comment="no")


def test_the_system_does_not_approve(pending):
    refused("permission_denied", campaign_approve, campaign=pending, actor=SYSTEM)


def test_an_inactive_approver_may_not_approve(pending, approver):
    approver.is_active = False
    approver.save(update_fields=["is_active"])
    refused("permission_denied", campaign_approve, campaign=pending, actor=as_actor(approver))


def test_a_draft_is_not_approved(draft, approver):
    error = refused("campaign_wrong_status", campaign_approve, campaign=draft, actor=as_actor(approver))
    assert "draft" in error.message


def test_approving_twice_says_who_approved_it(approved, approver, second_approver):
    error = refused(
        "campaign_wrong_status", campaign_approve, campaign=approved, actor=as_actor(second_approver)
    )
    assert approver.username in error.message


def test_approval_checks_again_what_changed_while_it_waited(pending, approver, reminder):
    from templates_app.services import template_apply_status

    template_apply_status(template=reminder, status="DISABLED", source="webhook")
    refused("campaign_template_not_approved", campaign_approve, campaign=pending, actor=as_actor(approver))
    assert status_of(pending) == S.PENDING_APPROVAL


def test_approval_checks_the_audience_again(pending, approver, germans):
    for contact in germans:
        contact.country = "FR"
        contact.save(update_fields=["country"])
    refused("campaign_audience_empty", campaign_approve, campaign=pending, actor=as_actor(approver))


def test_approved_after_its_send_time_it_is_due_at_once(draft, editor, approver):
    soon = timezone.now() + timedelta(minutes=5)
    campaign_update(campaign=draft, actor=as_actor(editor), schedule_kind="at", send_at=soon)
    campaign_submit(campaign=draft, actor=as_actor(editor))
    later = soon + timedelta(minutes=30)
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver), now=later)
    assert campaign.status == S.APPROVED
    assert campaigns_due(later) == [campaign]


def test_approval_after_the_latest_send_time_is_refused(draft, editor, approver):
    soon = timezone.now() + timedelta(minutes=5)
    campaign_update(
        campaign=draft,
        actor=as_actor(editor),
        schedule_kind="at",
        send_at=soon,
        latest_send_at=soon + timedelta(minutes=10),
    )
    campaign_submit(campaign=draft, actor=as_actor(editor))
    error = refused(
        "campaign_latest_passed",
        campaign_approve,
        campaign=draft,
        actor=as_actor(approver),
        now=soon + timedelta(hours=1),
    )
    assert "reject it" in error.message
    assert status_of(draft) == S.PENDING_APPROVAL


def test_a_scheduled_campaign_is_not_due_before_its_time(draft, editor, approver):
    at = timezone.now() + timedelta(days=1)
    campaign_update(campaign=draft, actor=as_actor(editor), schedule_kind="at", send_at=at)
    campaign_submit(campaign=draft, actor=as_actor(editor))
    campaign = campaign_approve(campaign=draft, actor=as_actor(approver))
    assert campaigns_due() == []
    assert campaigns_due(at) == [campaign]


# --- reject ----------------------------------------------------------------------------------------


def test_reject_needs_a_comment(pending, approver):
    for comment in ("", "   ", None):
        refused(
            "campaign_reject_comment_missing",
            campaign_reject,
            campaign=pending,
            actor=as_actor(approver),
            comment=comment,
        )
    assert status_of(pending) == S.PENDING_APPROVAL


def test_rejecting_returns_it_to_its_authors_with_the_comment(pending, approver, editor):
    campaign = campaign_reject(campaign=pending, actor=as_actor(approver), comment="  The date is wrong. ")
    assert (campaign.status, campaign.status_reason) == (S.DRAFT, "The date is wrong.")
    row = campaign.transitions.last()
    assert (row.from_status, row.to_status, row.reason) == (S.PENDING_APPROVAL, S.DRAFT, "The date is wrong.")
    assert activity(campaign)[-1] == "campaign.rejected"
    # Submitted again, the reason goes.
    assert campaign_submit(campaign=campaign, actor=as_actor(editor)).status_reason == ""


def test_an_approved_campaign_is_not_rejected(approved, second_approver):
    refused(
        "campaign_wrong_status",
        campaign_reject,
        campaign=approved,
        actor=as_actor(second_approver),
        comment="x",
    )


# --- duplicate -------------------------------------------------------------------------------------


def test_duplicate_makes_a_draft_copy_with_nothing_frozen(approved, approver, editor):
    colleague = UserFactory(username="eddie_editor", role="Editor")
    copy = campaign_duplicate(campaign=approved, actor=as_actor(colleague))
    assert copy.pk != approved.pk
    assert (copy.name, copy.status, copy.frozen, copy.segment_version) == (
        "Copy of Spring reminders",
        S.DRAFT,
        {},
        None,
    )
    assert (copy.template, copy.segment, copy.bindings) == (
        approved.template,
        approved.segment,
        approved.bindings,
    )
    # The source's authors wrote the copy too (four eyes): the duplicator joins them.
    authors = set(CampaignAuthor.objects.filter(campaign=copy).values_list("user", flat=True))
    assert authors == {colleague.pk, editor.pk}
    assert transitions(copy) == [] and copy.approved_by is None
    assert activity(copy) == ["campaign.duplicated"]


def test_an_approver_does_not_duplicate(approved, approver):
    refused("permission_denied", campaign_duplicate, campaign=approved, actor=as_actor(approver))


def test_a_campaign_whose_template_left_approved_is_duplicated_too(approved, editor, reminder):
    from templates_app.services import template_apply_status

    template_apply_status(template=reminder, status="DISABLED", source="webhook")
    copy = campaign_duplicate(campaign=approved, actor=as_actor(editor))
    assert (copy.status, copy.purpose, copy.template) == (S.DRAFT, "service", reminder)
    refused("campaign_template_not_approved", campaign_submit, campaign=copy, actor=as_actor(editor))


def test_a_new_header_file_forgets_the_media_id_of_the_old_one(
    editor, templates, segment, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging.campaign_models import Campaign

    settings.MEDIA_ROOT = tmp_path
    campaign = campaign_create(
        actor=as_actor(editor),
        name="Spring",
        template=templates["spring_promotion"],
        segment=segment,
        header_media_source="upload",
        header_media_file=SimpleUploadedFile("spring.jpg", b"\xff\xd8\xff first", content_type="image/jpeg"),
    )
    assert campaign.header_media_file.name.startswith("campaign-media/spring")
    Campaign.objects.filter(pk=campaign.pk).update(
        header_media_id="4711", header_media_mime="image/jpeg", header_media_uploaded_at=timezone.now()
    )
    campaign = campaign_update(campaign=campaign, actor=as_actor(editor), name="Spring!")
    assert campaign.header_media_id == "4711"  # the file did not change
    campaign = campaign_update(
        campaign=campaign,
        actor=as_actor(editor),
        header_media_file=SimpleUploadedFile("summer.jpg", b"\xff\xd8\xff second", content_type="image/jpeg"),
    )
    campaign.refresh_from_db()
    assert campaign.header_media_file.name.startswith("campaign-media/summer")
    assert (campaign.header_media_id, campaign.header_media_mime, campaign.header_media_uploaded_at) == (
        "",
        "",
        None,
    )
