"""The campaign page's workflow buttons: shown to whoever may press them, and each a POST view that
checks the permission again, calls the workflow service and reports — a refusal as a message,
never a 500."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from messaging.campaign_models import Campaign, CampaignStatus
from tests.factories import UserFactory
from tests.messaging.campaigns.workflow_world import as_actor, status_of

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
S = CampaignStatus


def do_url(campaign, action):
    return reverse("admin:messaging_campaign_do", args=[campaign.pk, action])


def change_url(campaign):
    return reverse("admin:messaging_campaign_change", args=[campaign.pk])


def said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def read(client, campaign) -> dict:
    """What the Approve and Reject buttons post besides a comment: the fingerprint of the page read."""
    steps = client.get(change_url(campaign)).context["workflow_steps"]
    return {"fingerprint": next(step.fingerprint for step in steps if step.action == "approve")}


def buttons(client, campaign) -> set[str]:
    context = client.get(change_url(campaign)).context
    return {step.action for step in context["workflow_steps"]}


# --- which buttons whom ------------------------------------------------------------------------------


def test_an_editor_sees_submit_on_a_draft_and_no_approval(client_for, editor, draft):
    assert buttons(client_for(editor), draft) == {"submit", "duplicate"}


def test_the_approver_sees_approve_and_reject_on_someone_elses_pending(client_for, approver, pending):
    assert buttons(client_for(approver), pending) == {"approve", "reject", "cancel"}


def test_an_author_approver_is_told_why_the_buttons_are_absent(client_for, pending):
    both = UserFactory(username="dual", role="Approver")
    both.groups.add(*UserFactory(username="tmp", role="Editor").groups.all())
    from messaging.campaigns.workflow import campaign_submit, campaign_withdraw

    campaign_withdraw(campaign=pending, actor=as_actor(both))
    campaign_submit(campaign=pending, actor=as_actor(both))
    response = client_for(both).get(change_url(pending))
    actions = {step.action for step in response.context["workflow_steps"]}
    assert "approve" not in actions and "reject" not in actions
    assert "You are among its authors" in response.content.decode()


def test_editors_pause_only_a_sending_campaign(client_for, editor, approved):
    client = client_for(editor)
    assert "pause" not in buttons(client, approved)
    from messaging.campaigns.workflow import campaign_start

    campaign_start(campaign=approved)
    assert buttons(client, approved) == {"pause", "duplicate"}


def test_approvers_pause_resume_and_cancel(client_for, approver, approved):
    client = client_for(approver)
    assert buttons(client, approved) == {"pause", "cancel"}
    client.post(do_url(approved, "pause"), {"comment": "Wrong day"})
    assert status_of(approved) == S.PAUSED
    assert buttons(client, approved) == {"resume", "cancel"}


def test_auditors_see_no_buttons(client_for, auditor, pending):
    assert buttons(client_for(auditor), pending) == set()


# --- each step ------------------------------------------------------------------------------------------


def test_submit_moves_the_draft_and_says_so(client_for, editor, draft):
    response = client_for(editor).post(do_url(draft, "submit"))
    assert response.status_code == 302 and response.url == change_url(draft)
    assert status_of(draft) == S.PENDING_APPROVAL
    assert "submitted for approval" in said(response)


def test_an_incomplete_draft_is_refused_with_every_problem(client_for, editor, draft):
    Campaign.objects.filter(pk=draft.pk).update(bindings={})
    response = client_for(editor).post(do_url(draft, "submit"))
    assert response.status_code == 302
    assert status_of(draft) == S.DRAFT
    assert "cannot be submitted" in said(response)


def test_approve_freezes_and_reports_when_it_goes(client_for, approver, pending):
    client = client_for(approver)
    response = client.post(do_url(pending, "approve"), read(client, pending))
    assert status_of(pending) == S.APPROVED
    assert "approved" in said(response) and "due now" in said(response)


def test_the_second_approver_is_told_someone_was_faster(client_for, approver, second_approver, pending):
    page = read(client_for(second_approver), pending)  # Blake opens the campaign; Alex approves it
    first = client_for(approver)
    first.post(do_url(pending, "approve"), read(first, pending))
    response = client_for(second_approver).post(do_url(pending, "approve"), page)
    assert response.status_code == 302
    assert "approved (by alex_approver) now" in said(response)


def test_reject_needs_a_comment(client_for, approver, pending):
    client = client_for(approver)
    response = client.post(do_url(pending, "reject"), {"comment": "  "})
    assert status_of(pending) == S.PENDING_APPROVAL
    assert "Say why it is rejected" in said(response)
    response = client.post(
        do_url(pending, "reject"), {"comment": "Use the spring image", **read(client, pending)}
    )
    assert status_of(pending) == S.DRAFT
    pending.refresh_from_db()
    assert pending.status_reason == "Use the spring image"


def test_a_comment_too_long_is_refused_without_a_500(client_for, approver, pending):
    response = client_for(approver).post(do_url(pending, "reject"), {"comment": "x" * 5000})
    assert response.status_code == 302
    assert status_of(pending) == S.PENDING_APPROVAL
    assert "too long" in said(response)


def test_an_author_posting_approve_is_refused_by_the_service(client_for, editor, pending):
    # An Editor-and-Approver who submitted it forges the approve POST.
    editor.groups.add(*UserFactory(username="tmp2", role="Approver").groups.all())
    response = client_for(editor).post(do_url(pending, "approve"))
    assert response.status_code == 302
    assert status_of(pending) == S.PENDING_APPROVAL
    assert "one of the authors" in said(response)


@pytest.mark.parametrize(
    ("role", "action"),
    [
        ("editor", "approve"),
        ("editor", "reject"),
        ("editor", "resume"),
        ("editor", "cancel"),
        ("approver", "submit"),
        ("approver", "duplicate"),
        ("auditor", "pause"),
        ("auditor", "submit"),
        ("support", "approve"),
        ("administrator", "cancel"),
    ],
)
def test_a_step_outside_ones_role_is_forbidden(request, client_for, role, action, pending):
    response = client_for(request.getfixturevalue(role)).post(do_url(pending, action), {"comment": "x"})
    assert response.status_code == 403
    assert status_of(pending) == S.PENDING_APPROVAL


def test_a_step_in_the_wrong_state_is_refused_with_a_message(client_for, approver, draft):
    response = client_for(approver).post(do_url(draft, "resume"))
    assert response.status_code == 302
    assert "cannot be resumed" in said(response)
    assert status_of(draft) == S.DRAFT


def test_pause_resume_cancel_round_trip(client_for, approver, approved):
    client = client_for(approver)
    client.post(do_url(approved, "pause"))
    assert status_of(approved) == S.PAUSED
    client.post(do_url(approved, "resume"))
    assert status_of(approved) == S.APPROVED
    response = client.post(do_url(approved, "cancel"), {"comment": "Season over"})
    assert status_of(approved) == S.CANCELLED
    approved.refresh_from_db()
    assert approved.status_reason == "Season over"
    assert "cancelled" in said(response)


def test_duplicate_opens_the_new_draft(client_for, editor, approved):
    response = client_for(editor).post(do_url(approved, "duplicate"))
    copy = Campaign.objects.exclude(pk=approved.pk).get()
    assert copy.status == S.DRAFT and copy.name == "Copy of Spring reminders"
    assert response.url == change_url(copy)


def test_withdraw_brings_it_back_to_draft(client_for, editor, pending):
    client_for(editor).post(do_url(pending, "withdraw"))
    assert status_of(pending) == S.DRAFT


def test_get_is_not_allowed_and_forged_ids_are_404(client_for, approver, pending):
    client = client_for(approver)
    assert client.get(do_url(pending, "approve")).status_code == 405
    assert client.post(f"/admin/messaging/campaign/{pending.pk + 999}/do/approve/").status_code == 404
    assert client.post(f"/admin/messaging/campaign/{pending.pk}/do/explode/").status_code == 404
    # Not an id at all: the admin's catch-all sends it to a change page that does not exist.
    assert client.post("/admin/messaging/campaign/abc/do/approve/", follow=True).status_code == 200
    assert client.post("/admin/messaging/campaign/99999999999999999999999/do/approve/").status_code == 404
    assert status_of(pending) == S.PENDING_APPROVAL


def test_approve_and_reject_without_the_pages_fingerprint_are_refused(client_for, approver, pending):
    # Through the admin a verdict is about the page that was read: a POST without it (or with
    # another page's) is told to read the campaign again.
    client = client_for(approver)
    response = client.post(do_url(pending, "approve"))
    assert status_of(pending) == S.PENDING_APPROVAL
    assert "changed since you opened it" in said(response)
    response = client.post(do_url(pending, "reject"), {"comment": "No", "fingerprint": "0" * 64})
    assert status_of(pending) == S.PENDING_APPROVAL
    assert "changed since you opened it" in said(response)


def test_the_approve_form_carries_the_fingerprint(client_for, approver, pending):
    page = client_for(approver).get(change_url(pending)).content.decode()
    fingerprint = read(client_for(approver), pending)["fingerprint"]
    assert f'<input type="hidden" name="fingerprint" value="{fingerprint}">' in page


def test_a_post_without_the_csrf_token_is_refused(approver, pending):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    assert client.post(do_url(pending, "approve")).status_code == 403
    assert status_of(pending) == S.PENDING_APPROVAL


def test_the_timeline_shows_who_when_and_why(client_for, approver, pending):
    client = client_for(approver)
    client.post(do_url(pending, "reject"), {"comment": "Wrong store", **read(client, pending)})
    page = client.get(change_url(pending)).content.decode()
    assert "erin_editor" in page and "alex_approver" in page
    assert "Draft → Awaiting approval" in page and "Awaiting approval → Draft" in page
    assert "Wrong store" in page


def test_a_draft_says_what_submitting_needs_first(client_for, editor, draft):
    client = client_for(editor)
    assert client.get(change_url(draft)).context["missing"] == []
    Campaign.objects.filter(pk=draft.pk).update(bindings={})
    response = client.get(change_url(draft))
    assert response.context["missing"] and "Submitting needs, first" in response.content.decode()
