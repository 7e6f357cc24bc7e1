"""Test sends: to an active staff test number with its own opt-in, with sample values or a member's
(logged on the member), through send_message — and over HTTP to the sandbox."""

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile

from contacts.models import ActivityLogEntry, AttributeDefinition, Purpose
from contacts.models import TestNumber as StaffNumber  # not collected as a test class
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import CampaignStatus
from messaging.campaigns.languages import content_snapshot
from messaging.campaigns.test_send import campaign_test_send
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending import halt as halt_module
from messaging.sending.dispatch import send_queued
from templates_app.models import TemplateVersion, VersionReview
from tests.factories import ContactFactory, opt_in
from tests.messaging.campaigns.content_world import IMAGE_BINDINGS, PROMO, approved, campaign, image_header
from tests.sandbox import control

pytestmark = pytest.mark.django_db
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


@pytest.fixture(autouse=True)
def voucher_field(db):
    AttributeDefinition.objects.create(key="voucher", type="text")


@pytest.fixture
def promo(db):
    return campaign(approved("promo", "en"))


@pytest.fixture
def phone(db) -> StaffNumber:
    """Erin's phone, opted in to marketing (recorded as an Administrator does)."""
    contact = ContactFactory(phone="+4915100000001", first_name="Erin", language="en")
    opt_in(contact, Purpose.MARKETING)
    return StaffNumber.objects.create(contact=contact, label="Erin's phone")


@pytest.fixture
def member(db):
    return ContactFactory(first_name="ana", country="DE", language="en", attributes={"voucher": "ANA-1"})


def as_actor(user) -> Actor:
    return Actor.for_user(user)


def test_a_test_send_with_sample_values(promo, phone, editor):
    message = campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor))
    assert (message.campaign, message.is_test, message.contact) == (promo, True, phone.contact)
    assert message.parameters["body"] == ["Pablo", "gold", "Sunday"]
    assert message.status == MessageStatus.QUEUED
    entry = ActivityLogEntry.objects.get(action="campaign.test_sent")
    assert entry.object_id == str(promo.pk) and entry.details["member"] is None
    assert not ActivityLogEntry.objects.filter(action="contact.shown_in_test_send").exists()


def test_a_test_send_for_a_member_shows_their_values_and_is_logged_on_them(promo, phone, editor, member):
    message = campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor), member=member)
    assert message.parameters["body"][0] == "Ana" and message.parameters["buttons"]["1"] == "ANA-1"
    entry = ActivityLogEntry.objects.get(action="contact.shown_in_test_send")
    assert (entry.object_id, entry.actor_label) == (str(member.pk), editor.username)
    assert entry.details["campaign"] == promo.pk and entry.details["test_number_label"] == "Erin's phone"


def test_test_sends_may_repeat_and_never_take_a_members_place(promo, phone, editor, member):
    for _ in range(2):
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor), member=member)
    assert OutboundMessage.objects.filter(campaign=promo, is_test=True).count() == 2
    assert not OutboundMessage.objects.filter(contact=member).exists()


def test_a_member_gets_their_language(phone, editor):
    en = approved("promo", "en")
    german = [PROMO[0], {"type": "BODY", "text": "Hallo {{1}}, {{2}} bis {{3}}."}, PROMO[2]]
    approved("promo", "de", components=german)
    target = campaign(en)
    anke = ContactFactory(first_name="anke", country="DE", language="de", attributes={"voucher": "A"})
    message = campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor), member=anke)
    assert message.template_version.template.language == "de" and message.rendered_text.startswith("News for")
    assert "Hallo Anke, gold bis Sunday." in message.rendered_text
    english = campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor), language="en")
    assert english.template_version.template.language == "en"


def test_someone_outside_the_segment_is_refused(promo, phone, editor):
    french = ContactFactory(country="FR", attributes={"voucher": "X"})
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor), member=french)
    assert refused.value.code == "campaign_test_member_not_in_segment"
    assert not OutboundMessage.objects.exists()


def test_a_test_number_is_never_a_member_itself(promo, editor):
    staff = ContactFactory(country="DE", attributes={"voucher": "X"})
    opt_in(staff, Purpose.MARKETING)
    number = StaffNumber.objects.create(contact=staff, label="Staff")
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=number, actor=as_actor(editor), member=staff)
    assert refused.value.code == "campaign_test_member_not_in_segment"


def test_an_inactive_test_number_is_refused(promo, phone, editor):
    StaffNumber.objects.filter(pk=phone.pk).update(active=False)
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor))
    assert refused.value.code == "test_number_inactive"
    assert not OutboundMessage.objects.exists()


def test_a_test_number_without_an_opt_in_gets_the_send_paths_refusal(promo, editor):
    bare = StaffNumber.objects.create(contact=ContactFactory(), label="New phone")
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=bare, actor=as_actor(editor))
    assert refused.value.code == "no_consent"
    service_only = StaffNumber.objects.create(contact=ContactFactory(), label="Service phone")
    opt_in(service_only.contact, Purpose.SERVICE)
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=service_only, actor=as_actor(editor))
    assert refused.value.code == "consent_wrong_purpose"


@pytest.mark.parametrize("role", ["approver", "support", "auditor", "administrator"])
def test_only_those_allowed_to_test_send_may(promo, phone, role, request):
    user = request.getfixturevalue(role)
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(user))
    assert refused.value.code == "campaign_test_send_forbidden"
    with pytest.raises(ApplicationError):
        campaign_test_send(campaign=promo, test_number=phone, actor=Actor.system("tests"))


@pytest.mark.parametrize(
    "status", [CampaignStatus.DRAFT, CampaignStatus.PENDING_APPROVAL, CampaignStatus.CANCELLED]
)
def test_any_status_may_be_tested(promo, phone, editor, status):
    promo.status = status
    promo.save(update_fields=["status"])
    assert campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor)).is_test


def test_a_template_no_longer_approved_is_refused(promo, phone, editor):
    promo.template.status = "PAUSED"
    promo.template.save(update_fields=["status"])
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor))
    assert refused.value.code == "campaign_template_not_approved"


def test_a_members_test_needs_complete_bindings(phone, editor, member):
    target = campaign(approved(), bindings={"body": {"1": {"source": "field", "value": "first_name"}}})
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor), member=member)
    assert refused.value.code == "campaign_bindings_invalid"
    assert "{{2}} in the body is not bound" in refused.value.message
    # With sample values the template's samples fill what is not bound yet.
    assert campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor)).parameters[
        "body"
    ] == [
        "Pablo",
        "gold",
        "Sunday",
    ]


def test_an_approved_campaign_whose_template_changed_since_is_refused(promo, phone, editor):
    promo.frozen = content_snapshot(promo)
    promo.status = CampaignStatus.APPROVED
    promo.save(update_fields=["frozen", "status"])
    template = promo.template
    newer = TemplateVersion.objects.create(
        template=template,
        number=2,
        category="MARKETING",
        parameter_format="POSITIONAL",
        components=PROMO,
        review=VersionReview.APPROVED,
    )
    template.approved_version = newer
    template.save(update_fields=["approved_version"])
    with pytest.raises(ApplicationError) as refused:
        campaign_test_send(campaign=promo, test_number=phone, actor=as_actor(editor))
    assert refused.value.code == "campaign_template_changed"


def test_an_uploaded_header_file_is_uploaded_before_the_test(
    phone, editor, memory_backend, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    target = campaign(
        approved(components=image_header(PROMO)),
        bindings=IMAGE_BINDINGS,
        header_media_source="upload",
        header_media_file=ContentFile(JPEG, name="spring.jpg"),
    )
    message = campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor))
    (media_id,) = memory_backend.media
    assert message.parameters["header"] == {"type": "image", "id": media_id}


# --- over HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def whatsapp(app_sandbox, settings):
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.MARKETING_SENDING_HOURS = ""
    cache.delete(halt_module.CACHE_KEY)
    yield app_sandbox
    cache.delete(halt_module.CACHE_KEY)


def seed(sandbox, template):
    entry = {
        "id": template.meta_template_id,
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "parameter_format": template.parameter_format,
        "components": template.approved_version.components,
        "status": "APPROVED",
    }
    control(sandbox, "templates", {"templates": [entry]})


def test_a_test_send_reaches_the_sandbox(whatsapp, phone, editor, member, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    template = approved(components=image_header(PROMO))
    seed(whatsapp, template)
    target = campaign(
        template,
        bindings=IMAGE_BINDINGS,
        header_media_source="upload",
        header_media_file=ContentFile(JPEG, name="spring.jpg"),
    )
    message = campaign_test_send(campaign=target, test_number=phone, actor=as_actor(editor), member=member)
    assert send_queued(message.pk).startswith("accepted")
    (sent,) = control(whatsapp, "messages")["data"]
    assert sent["wa_id"] == phone.contact.phone.lstrip("+")
    assert sent["biz_opaque_callback_data"] == str(message.public_id)
    components = {c["type"]: c for c in sent["payload"]["template"]["components"]}
    assert components["header"]["parameters"][0]["image"]["id"] == target.header_media_id
    assert [p["text"] for p in components["body"]["parameters"]] == ["Ana", "gold", "Sunday"]
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED and message.is_test
