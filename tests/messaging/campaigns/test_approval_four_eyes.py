"""Four eyes at approval: an Approver approves exactly what they read, and never what they wrote.

The Approve button posts the fingerprint of the page that was read (``four_eyes``): a
resubmission, a template WhatsApp changed or a segment edited while the page was open is refused.
The audience is the one submitted (an edit after submission is refused), and whoever wrote the
template version approval would freeze, or the campaign a copy was made from, is an author.
"""

import copy
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from contacts.segments.services import segment_update
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignAuthor, CampaignStatus
from messaging.campaigns.four_eyes import campaign_fingerprint
from messaging.campaigns.template_fate import campaigns_template_fate
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_create,
    campaign_duplicate,
    campaign_reject,
    campaign_submit,
    campaign_update,
    campaign_withdraw,
)
from templates_app.models import TemplateVersion
from tests.factories import ContactFactory, UserFactory, make_segment
from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS, as_actor, literal, status_of

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
S = CampaignStatus


@pytest.fixture
def dual(db):
    """Someone an Administrator gave both roles (the admin tests use such a user too)."""
    user = UserFactory(username="dana_dual", role="Approver")
    user.groups.add(Group.objects.get(name="Editor"))
    return user


def approve_form_fields(html: str) -> dict:
    """The hidden fields of the Approve button's form, as the browser would post them."""
    form = re.search(r'<form[^>]*class="campaign-step-approve[^"]*"[^>]*>(.*?)</form>', html, re.S)
    assert form, "no Approve button on the page"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))


def new_approved_content(template, body_text: str, *, submitted_by=None) -> TemplateVersion:
    """WhatsApp now has other approved content for ``template`` (an edit approved; the sync's path)."""
    current = template.approved_version
    components = copy.deepcopy(current.components)
    for component in components:
        if component.get("type") == "BODY":
            component["text"] = body_text
    version = TemplateVersion.objects.create(
        template=template,
        number=current.number + 1,
        category=current.category,
        parameter_format=current.parameter_format,
        components=components,
        review="APPROVED",
        submitted_by=submitted_by,
    )
    template.approved_version = version
    template.save(update_fields=["approved_version"])
    return version


# --- the approver approves what they read -----------------------------------------------------------


def test_an_approve_click_does_not_approve_a_resubmission_the_approver_never_saw(
    client_for, approver, editor, pending
):
    client = client_for(approver)
    page = client.get(reverse("admin:messaging_campaign_change", args=[pending.pk]))
    fields = approve_form_fields(page.content.decode())

    # While the Approver reads, the Editor withdraws, rewrites and resubmits.
    erin = as_actor(editor)
    campaign_withdraw(campaign=pending, actor=erin)
    sneaky = {**REMINDER_BINDINGS, "body": {**REMINDER_BINDINGS["body"], "store": literal("CLOSED FOREVER")}}
    campaign_update(campaign=pending, actor=erin, bindings=sneaky)
    campaign_submit(campaign=pending, actor=erin)

    client.post(reverse("admin:messaging_campaign_do", args=[pending.pk, "approve"]), fields)
    # The click was about the submission on the page: this one must be read first.
    assert status_of(pending) == S.PENDING_APPROVAL


def test_an_approve_click_does_not_freeze_template_content_that_changed_after_the_page_was_read(
    client_for, approver, pending, reminder
):
    client = client_for(approver)
    page = client.get(reverse("admin:messaging_campaign_change", args=[pending.pk]))
    fields = approve_form_fields(page.content.decode())

    new_approved_content(reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: something else entirely.")

    client.post(reverse("admin:messaging_campaign_do", args=[pending.pk, "approve"]), fields)
    assert status_of(pending) == S.PENDING_APPROVAL


# --- what the authors submitted is what is approved -------------------------------------------------


def test_the_approver_cannot_rewrite_the_audience_after_submission_and_approve_it(dual, pending, segment):
    # Erin submitted "Germany". Dana (Editor and Approver, no author) widens the segment, then approves.
    ContactFactory(country="FR")
    segment_update(
        segment=segment,
        actor=as_actor(dual),
        rules={"op": "all", "rules": [{"kind": "country", "in": ["DE", "FR"]}]},
    )
    with pytest.raises(ApplicationError):
        campaign_approve(campaign=pending, actor=as_actor(dual))
    assert status_of(pending) == S.PENDING_APPROVAL


def test_the_writer_of_new_template_content_cannot_approve_the_campaign_it_sent_back(
    dual, approved, reminder
):
    # Dana edits the template (WhatsApp approves the edit): the campaign goes back to approval...
    new_approved_content(
        reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: Dana's words.", submitted_by=dual
    )
    campaigns_template_fate(template=reminder)
    assert status_of(approved) == S.PENDING_APPROVAL
    # ... and Dana approves her own words.
    with pytest.raises(ApplicationError):
        campaign_approve(campaign=Campaign.objects.get(pk=approved.pk), actor=as_actor(dual))


def test_the_writer_of_a_campaign_cannot_approve_its_unchanged_copy(dual, editor, reminder, segment):
    original = campaign_create(
        actor=as_actor(dual), name="Dana's", template=reminder, segment=segment, bindings=REMINDER_BINDINGS
    )
    # A colleague clicks Duplicate and Submit: not a word of it is theirs.
    copy_ = campaign_duplicate(campaign=original, actor=as_actor(editor))
    campaign_submit(campaign=copy_, actor=as_actor(editor))
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=copy_, actor=as_actor(dual))
    assert refused.value.code == "campaign_approver_is_author"


# --- the service's side of the fingerprint ----------------------------------------------------------


def test_the_fingerprint_of_the_page_read_approves(approver, pending):
    read = campaign_fingerprint(Campaign.objects.get(pk=pending.pk))
    assert (
        status_of(campaign_approve(campaign=pending, actor=as_actor(approver), expected=read)) == S.APPROVED
    )


def test_another_fingerprint_is_refused_as_changed(approver, pending):
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=pending, actor=as_actor(approver), expected="")
    assert refused.value.code == "campaign_changed"
    assert "read it again" in refused.value.message
    assert status_of(pending) == S.PENDING_APPROVAL


def test_the_fingerprint_moves_with_what_the_approver_reads(pending, reminder, segment, editor):
    before = campaign_fingerprint(pending)
    assert campaign_fingerprint(Campaign.objects.get(pk=pending.pk)) == before  # stable
    Campaign.objects.filter(pk=pending.pk).update(rate_cap=5)
    assert campaign_fingerprint(Campaign.objects.get(pk=pending.pk)) != before
    Campaign.objects.filter(pk=pending.pk).update(rate_cap=None)
    segment_update(
        segment=segment,
        actor=as_actor(editor),
        rules={"op": "all", "rules": [{"kind": "country", "in": ["AT"]}]},
    )
    assert campaign_fingerprint(Campaign.objects.get(pk=pending.pk)) != before


def test_a_reject_about_another_page_is_refused(approver, editor, pending):
    read = campaign_fingerprint(pending)
    erin = as_actor(editor)
    campaign_withdraw(campaign=pending, actor=erin)
    campaign_submit(campaign=pending, actor=erin)
    with pytest.raises(ApplicationError) as refused:
        campaign_reject(campaign=pending, actor=as_actor(approver), comment="no", expected=read)
    assert refused.value.code == "campaign_changed"
    assert status_of(pending) == S.PENDING_APPROVAL


# --- the audience submitted --------------------------------------------------------------------------


def test_an_included_segment_edited_after_submission_is_refused_until_resubmitted(approver, editor, reminder):
    base = make_segment(name="Customers")
    wrapper = make_segment(
        name="Our customers", rules={"op": "all", "rules": [{"kind": "in_segment", "segment": base.pk}]}
    )
    ContactFactory(country="DE")
    ContactFactory(country="FR")
    erin = as_actor(editor)
    campaign = campaign_create(
        actor=erin, name="Wrapped", template=reminder, segment=wrapper, bindings=REMINDER_BINDINGS
    )
    campaign_submit(campaign=campaign, actor=erin)
    segment_update(
        segment=base, actor=erin, rules={"op": "all", "rules": [{"kind": "country", "in": ["DE", "FR"]}]}
    )
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=campaign, actor=as_actor(approver))
    assert refused.value.code == "campaign_segment_changed"
    # The authors withdraw and submit what the segment is now: that is approvable.
    campaign_withdraw(campaign=campaign, actor=erin)
    campaign_submit(campaign=campaign, actor=erin)
    assert status_of(campaign_approve(campaign=campaign, actor=as_actor(approver))) == S.APPROVED


def test_a_campaign_sent_back_expects_the_audience_it_was_approved_with(
    approved, approver, editor, reminder, segment
):
    segment_update(
        segment=segment,
        actor=as_actor(editor),
        rules={"op": "all", "rules": [{"kind": "country", "in": ["DE", "AT"]}]},
    )
    new_approved_content(reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: new words.")
    campaigns_template_fate(template=reminder)
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=Campaign.objects.get(pk=approved.pk), actor=as_actor(approver))
    assert refused.value.code == "campaign_segment_changed"


def test_a_campaign_sent_back_with_its_audience_unchanged_is_approved_again(
    approved, second_approver, reminder
):
    new_approved_content(reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: new words.")
    campaigns_template_fate(template=reminder)
    again = campaign_approve(campaign=Campaign.objects.get(pk=approved.pk), actor=as_actor(second_approver))
    assert status_of(again) == S.APPROVED


# --- who wrote it ------------------------------------------------------------------------------------


def test_a_copy_keeps_every_author_of_its_source(dual, editor, approver, reminder, segment):
    original = campaign_create(
        actor=as_actor(dual), name="Dana's", template=reminder, segment=segment, bindings=REMINDER_BINDINGS
    )
    campaign_update(campaign=original, actor=as_actor(editor), name="Dana's and Erin's")
    copy_ = campaign_duplicate(campaign=original, actor=as_actor(editor))
    assert set(CampaignAuthor.objects.filter(campaign=copy_).values_list("user", flat=True)) == {
        dual.pk,
        editor.pk,
    }
    campaign_submit(campaign=copy_, actor=as_actor(editor))
    assert status_of(campaign_approve(campaign=copy_, actor=as_actor(approver))) == S.APPROVED


def test_a_template_writers_approval_is_refused_as_an_author(dual, approver, pending, reminder):
    new_approved_content(
        reminder, "Hi {{first_name}}, {{date}} {{time}} {{store}}: Dana's.", submitted_by=dual
    )
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign=pending, actor=as_actor(dual))
    assert refused.value.code == "campaign_approver_is_author"
    assert status_of(campaign_approve(campaign=pending, actor=as_actor(approver))) == S.APPROVED
