"""The role matrix: what each group may do, and that every admin page renders for every role."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from core.actors import Actor
from core.roles import ROLES
from tests.factories import ContactFactory, UserFactory, make_wording, opt_in

pytestmark = pytest.mark.django_db

# (permission, roles that have it). Each issue that adds models extends this table.
MATRIX = [
    ("contacts.view_contact", {"Editor", "Approver", "Support", "Auditor"}),
    ("contacts.add_contact", {"Editor"}),
    ("contacts.change_contact", {"Editor"}),
    ("contacts.delete_contact", {"Editor"}),
    ("contacts.add_tag", {"Editor"}),
    ("contacts.view_consentevent", {"Editor", "Approver", "Support", "Auditor"}),
    ("contacts.add_consentevent", set()),
    ("contacts.change_consentevent", set()),
    ("contacts.delete_consentevent", set()),
    ("contacts.record_opt_in", {"Editor"}),
    ("contacts.record_opt_out", {"Editor", "Support"}),
    ("contacts.add_consentwording", {"Editor"}),
    ("contacts.change_consentwording", set()),
    ("contacts.view_activitylogentry", {"Auditor", "Administrator"}),
    ("contacts.change_activitylogentry", set()),
    ("contacts.merge_contact", {"Editor"}),
    # Audiences (contacts 0011). Exporting reads the list: Editors and Auditors.
    ("contacts.export_contact", {"Editor", "Auditor"}),
    ("contacts.view_contactimport", {"Editor", "Auditor"}),
    ("contacts.add_contactimport", {"Editor"}),
    ("contacts.change_contactimport", {"Editor"}),
    # An import is the record of what a file did to the contacts and their consent.
    ("contacts.delete_contactimport", set()),
    ("contacts.view_importrow", {"Editor", "Auditor"}),
    ("contacts.change_importrow", set()),
    ("contacts.view_importfile", set()),
    ("contacts.change_importmapping", set()),
    ("contacts.view_attributedefinition", {"Editor", "Approver", "Auditor"}),
    ("contacts.add_attributedefinition", {"Editor"}),
    ("contacts.change_attributedefinition", {"Editor"}),
    ("contacts.delete_attributedefinition", {"Editor"}),
    ("contacts.view_contactlist", {"Editor", "Approver", "Auditor"}),
    ("contacts.add_contactlist", {"Editor"}),
    ("contacts.change_contactlist", set()),
    ("contacts.delete_contactlist", set()),
    ("contacts.view_contactlistmember", {"Editor", "Auditor"}),
    ("contacts.change_contactlistmember", set()),
    ("contacts.view_segment", {"Editor", "Approver", "Auditor"}),
    ("contacts.add_segment", {"Editor"}),
    ("contacts.change_segment", {"Editor"}),
    ("contacts.delete_segment", set()),
    # A campaign freezes a segment version: versions are append-only, written by the segment service.
    ("contacts.view_segmentversion", {"Editor", "Approver", "Auditor"}),
    ("contacts.add_segmentversion", set()),
    ("contacts.change_segmentversion", set()),
    ("contacts.delete_segmentversion", set()),
    ("templates_app.view_messagetemplate", {"Editor", "Approver", "Support", "Auditor"}),
    ("templates_app.add_messagetemplate", {"Editor"}),
    ("templates_app.change_messagetemplate", {"Editor"}),
    ("templates_app.submit_messagetemplate", {"Editor"}),
    ("templates_app.sync_messagetemplate", {"Editor"}),
    ("templates_app.change_templatebutton", {"Editor"}),
    ("templates_app.change_templatecard", {"Editor"}),
    ("templates_app.view_templateversion", {"Editor", "Approver", "Support", "Auditor"}),
    ("templates_app.change_templateversion", set()),
    ("templates_app.change_templateevent", set()),
    ("messaging.view_outboundmessage", {"Editor", "Approver", "Support", "Auditor", "Administrator"}),
    ("messaging.change_outboundmessage", set()),
    # A template from a contact's page is business-initiated; Support answers inside the window
    # (the support inbox), it does not send templates (messaging 0007).
    ("messaging.send_template_message", {"Editor"}),
    ("messaging.view_inboundmessage", {"Editor", "Approver", "Support", "Auditor", "Administrator"}),
    ("inbox.view_conversation", {"Support", "Auditor"}),
    ("inbox.reply_conversation", {"Support"}),
    ("inbox.assign_conversation", {"Support"}),
    ("inbox.change_conversation", set()),
    ("inbox.delete_conversation", set()),
    ("inbox.add_conversationnote", {"Support"}),
    ("inbox.view_conversationnote", {"Support", "Auditor"}),
    ("inbox.change_conversationnote", set()),
    ("inbox.delete_conversationnote", set()),
    ("inbox.view_cannedreply", {"Support", "Editor", "Auditor"}),
    ("inbox.add_cannedreply", {"Editor"}),
    ("inbox.change_cannedreply", {"Editor"}),
    ("messaging.view_messagemedia", {"Support", "Auditor"}),
    ("messaging.add_messagemedia", set()),
    ("messaging.change_messagemedia", set()),
    ("messaging.delete_messagemedia", set()),
    ("messaging.view_webhookevent", {"Auditor", "Administrator"}),
    ("messaging.change_webhookevent", set()),
    ("messaging.view_sendinghalt", {"Editor", "Approver", "Support", "Auditor", "Administrator"}),
    ("messaging.clear_sendinghalt", {"Administrator"}),
    ("messaging.halt_sending", {"Administrator", "Approver"}),
    ("messaging.review_unknown_message", {"Administrator"}),
    ("messaging.change_messagestatusevent", set()),
    # Campaigns (messaging 0008): Editors write, submit and pause a sending campaign; Approvers
    # approve (not their own), pause, resume and cancel; Auditors read. Nobody deletes one, and
    # its authors and transition log are written by the workflow's services only.
    ("messaging.view_campaign", {"Editor", "Approver", "Auditor"}),
    ("messaging.add_campaign", {"Editor"}),
    ("messaging.change_campaign", {"Editor"}),
    ("messaging.delete_campaign", set()),
    ("messaging.submit_campaign", {"Editor"}),
    ("messaging.approve_campaign", {"Approver"}),
    ("messaging.pause_campaign", {"Editor", "Approver"}),
    ("messaging.resume_campaign", {"Approver"}),
    ("messaging.test_send_campaign", {"Editor"}),
    ("messaging.view_campaigntransition", {"Editor", "Approver", "Auditor"}),
    ("messaging.add_campaigntransition", set()),
    ("messaging.change_campaigntransition", set()),
    ("messaging.delete_campaigntransition", set()),
    ("messaging.view_campaignauthor", {"Editor", "Approver", "Auditor"}),
    ("messaging.add_campaignauthor", set()),
    ("messaging.change_campaignauthor", set()),
    ("messaging.delete_campaignauthor", set()),
    # Staff test numbers (contacts 0012) are a way round audience rules: Administrators keep them.
    ("contacts.view_testnumber", {"Editor", "Auditor", "Administrator"}),
    ("contacts.add_testnumber", {"Administrator"}),
    ("contacts.change_testnumber", {"Administrator"}),
    ("contacts.delete_testnumber", set()),
    ("auth.change_user", {"Administrator"}),
    ("auth.add_user", {"Administrator"}),
    # Accounts are deactivated, never deleted; the roles themselves are the migrations' to shape.
    ("auth.delete_user", set()),
    ("auth.view_user", {"Administrator", "Auditor"}),
    ("auth.view_group", {"Administrator", "Auditor"}),
    ("auth.add_group", set()),
    ("auth.change_group", set()),
    ("auth.delete_group", set()),
    ("auth.change_permission", set()),
]


def test_every_role_exists():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("perm,allowed", MATRIX, ids=[m[0] for m in MATRIX])
def test_role_matrix(role, perm, allowed):
    user = UserFactory(role=role)
    assert user.has_perm(perm) == (role in allowed)


def test_auditor_has_no_write_permission_at_all():
    user = UserFactory(role="Auditor")
    # Exporting the contact list reads it; it changes nothing.
    reads = ("view_", "export_")
    writes = [p for p in user.get_all_permissions() if not p.split(".")[1].startswith(reads)]
    assert writes == []


@pytest.fixture
def world():
    from messaging.models import InboundMessage, MessagingTier, SendingHalt, WebhookEvent
    from templates_app.demo import seed_templates
    from tests.messaging.webhook_bodies import outbound

    contact = ContactFactory()
    opt_in(contact)
    make_wording()
    templates = seed_templates(actor=Actor.system("tests"))
    outbound(contact, template_version=templates[0].approved_version, purpose="service")
    InboundMessage.objects.create(
        wamid="wamid.in.1", contact=contact, type="text", text="Hi", payload={}, sent_at=contact.created_at
    )
    WebhookEvent.objects.create(body=b'{"object": "whatsapp_business_account"}')
    SendingHalt.objects.create(reason="Token expired", error_code=190, active=False)
    MessagingTier.objects.create(tier="TIER_2K", limit=2000, source="tests")
    campaign_world()
    return contact


def campaign_world():
    """A campaign with an author and a transition, and a staff test number, for every page."""
    from messaging.campaign_models import CampaignAuthor
    from messaging.campaigns.transitions import move
    from tests.factories import CampaignFactory, TestNumberFactory

    author = UserFactory(username="campaign_author", role="Editor")
    campaign = CampaignFactory(created_by=author)
    CampaignAuthor.objects.create(campaign=campaign, user=author)
    move(campaign, actor=Actor.for_user(author), to="pending_approval", action="submitted")
    TestNumberFactory(added_by=author)


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_page_renders_for_every_role(client, role, world):
    """Each changelist, add and change page answers 200 when allowed and 403 when not; never a 500."""
    user = UserFactory(role=role)
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        request = type("Request", (), {"user": user})()
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        can_view = model_admin.has_view_or_change_permission(request)
        assert changelist.status_code == (200 if can_view else 403), (role, opts.label)
        add = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == (200 if model_admin.has_add_permission(request) else 403), (
            role,
            opts.label,
        )
        obj = model.objects.first()
        if obj is not None:
            change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            assert change.status_code in ((200,) if can_view else (403, 302)), (role, opts.label)


def test_only_a_superuser_can_grant_superuser(client):
    admin_user = UserFactory(role="Administrator")
    target = UserFactory(username="newbie")
    client.force_login(admin_user)
    page = client.get(reverse("admin:auth_user_change", args=[target.pk]))
    assert page.status_code == 200
    assert b'name="is_superuser"' not in page.content


@pytest.mark.parametrize("role", ROLES)
def test_who_may_manage_which_account(role):
    """Administrators manage accounts within the roles: never a superuser's, never their own groups."""
    from accounts.services import account_refusal

    user = UserFactory(role=role)
    other = UserFactory(role="Support")
    superuser = UserFactory(username="root", is_superuser=True)
    if role == "Administrator":
        assert account_refusal(actor=user, target=other) is None
        assert account_refusal(actor=user, target=superuser).code == "superuser_account"
        assert account_refusal(actor=user, target=user, touches_access=True).code == "own_account"
    else:
        for target in (other, superuser, user):
            assert account_refusal(actor=user, target=target).code == "permission_denied"


@pytest.mark.parametrize("role", ROLES)
def test_only_a_superuser_manages_an_administrators_account(role):
    """An Administrator who could change another Administrator's password could log in as them and
    widen their own groups from there; so that account is a superuser's, like a superuser's own."""
    from accounts.services import account_refusal

    user = UserFactory(role=role)
    administrator = UserFactory(role="Administrator")
    superuser = UserFactory(username="root", is_superuser=True)
    expected = "administrator_account" if role == "Administrator" else "permission_denied"
    assert account_refusal(actor=user, target=administrator).code == expected
    assert account_refusal(actor=superuser, target=administrator) is None
