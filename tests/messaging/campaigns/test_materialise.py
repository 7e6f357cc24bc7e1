"""A due campaign's recipients become its messages: one INSERT … SELECT, at most once, with the
preview's reasons, per-class send times, one queued row per WhatsApp address."""

import itertools
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, Purpose, Tag
from contacts.models import TestNumber as StaffTestNumber
from contacts.segments.services import segment_create
from core.actors import Actor
from core.errors import ApplicationError
from messaging import tasks
from messaging.campaign_models import Campaign, CampaignStatus, ScheduleKind
from messaging.campaigns import materialise as materialise_module
from messaging.campaigns.bindings import contact_parameters
from messaging.campaigns.eligibility import Exclusion
from messaging.campaigns.freezing import campaign_freeze
from messaging.campaigns.materialise import (
    CampaignSkip,
    campaign_materialise,
    campaign_message_parameters,
    campaign_start_and_materialise,
)
from messaging.campaigns.preview import campaign_preview
from messaging.campaigns.workflow import campaign_start
from messaging.models import HoldReason, MessageKind, MessageStatus, OutboundMessage
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate, TemplateVersion
from tests.factories import ContactFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
FIRST_NAME = {"source": "field", "value": "first_name", "fallback": "", "format": ""}
SUNDAY = {"source": "literal", "value": "Sunday", "fallback": "", "format": ""}
COUPON = {"source": "literal", "value": "SPRING20", "fallback": "", "format": ""}
PROMOTION_BINDINGS = {"body": {"1": FIRST_NAME, "2": SUNDAY}, "buttons": {"2": COUPON}}
_names = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def templates(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}


@pytest.fixture
def promotion(templates):
    return templates["spring_promotion"]


def german_translation(template: MessageTemplate) -> MessageTemplate:
    version = template.approved_version
    row = MessageTemplate.objects.get(pk=template.pk)
    row.pk, row.language, row.meta_template_id, row.approved_version = None, "de", "de-copy", None
    row.save()
    copy = TemplateVersion.objects.create(
        template=row,
        number=1,
        category=version.category,
        parameter_format=version.parameter_format,
        components=version.components,
        review=version.review,
    )
    MessageTemplate.objects.filter(pk=row.pk).update(approved_version=copy)
    row.refresh_from_db()
    return row


def approved(template, *, now: datetime, bindings=None, **fields) -> Campaign:
    """An approved campaign to everyone but the "outsider" tag, frozen at ``now`` (as approval does)."""
    Tag.objects.get_or_create(name="outsider")
    segment = segment_create(
        name=f"Everyone {next(_names)}",
        rules={"op": "none", "rules": [{"kind": "tag", "tag": "outsider"}]},
        actor=SYSTEM,
    )
    purpose = Purpose.MARKETING if template.category == "MARKETING" else Purpose.SERVICE
    campaign = Campaign.objects.create(
        name=f"Campaign {next(_names)}",
        template=template,
        segment=segment,
        purpose=purpose,
        bindings=PROMOTION_BINDINGS if bindings is None else bindings,
        header_media_source="link",
        header_media_link="https://cdn.example/spring.jpg",
        **fields,
    )
    frozen, version = campaign_freeze(campaign, now=now)
    frozen["purpose"] = purpose
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.APPROVED, frozen=frozen, segment_version=version, approved_at=now
    )
    campaign.refresh_from_db()
    return campaign


def started(template, *, now: datetime, **fields) -> Campaign:
    return campaign_start(campaign=approved(template, now=now, **fields), now=now)


def customer(phone=None, *, purposes=(Purpose.MARKETING,), **fields) -> Contact:
    contact = ContactFactory(phone=phone, **fields) if phone else ContactFactory(**fields)
    for purpose in purposes:
        opt_in(contact, purpose)
    return contact


def rows(campaign) -> dict[int, OutboundMessage]:
    return {m.contact_id: m for m in OutboundMessage.objects.filter(campaign=campaign)}


def reasons(campaign) -> dict[int, str]:
    return {m.contact_id: m.error_class for m in rows(campaign).values() if m.status == MessageStatus.SKIPPED}


def queued(campaign) -> set[int]:
    return {m.contact_id for m in rows(campaign).values() if m.status == MessageStatus.QUEUED}


# --- who gets a row, and which ---------------------------------------------------------------------


@override_settings(MARKETING_SENDING_HOURS="")
def test_exactly_the_consenting_are_queued_the_rest_skipped_with_the_preview_s_reasons(promotion):
    german = german_translation(promotion)
    now = timezone.now().replace(microsecond=0)
    campaign = started(promotion, now=now)
    takers = [customer(language=lang) for lang in ("de", "de", "en")]
    no_address = customer()
    Contact.objects.filter(pk=no_address.pk).update(phone=None, user_id="bsuid-materialise")
    gone = customer(not_on_whatsapp_since=now)
    left = customer()
    opt_out(left)
    never_asked = ContactFactory()
    service_only = customer(purposes=(Purpose.SERVICE,))
    us = customer("+12125550123")
    nameless = customer(first_name="")
    customer().tags.add(Tag.objects.get(name="outsider"))  # not a member

    result = campaign_materialise(campaign=campaign, now=now)

    assert queued(campaign) == {c.pk for c in takers}
    assert reasons(campaign) == {
        no_address.pk: Exclusion.NO_ADDRESS,
        gone.pk: Exclusion.NOT_ON_WHATSAPP,
        left.pk: Exclusion.OPTED_OUT,
        never_asked.pk: Exclusion.NO_CONSENT,
        service_only.pk: Exclusion.NO_CONSENT,
        us.pk: Exclusion.US_MARKETING,
        nameless.pk: Exclusion.MISSING_VARIABLE,
    }
    assert (result.inserted, result.queued, result.total) == (10, 3, 10)
    skipped = rows(campaign)[left.pk]
    assert skipped.error_text == Exclusion.OPTED_OUT.label and skipped.finished_at == now
    assert skipped.next_attempt_at is None and skipped.hold_reason == ""
    # What the preview promises at the same instant is what was written.
    preview = campaign_preview(campaign, now=now)
    assert {k: v for k, v in preview.excluded.items() if v} == result.skipped
    assert preview.will_receive == result.queued and preview.held_quiet_hours == result.held_quiet_hours
    # A queued row: the template version of its language, the dispatcher as actor, due now.
    by_contact = rows(campaign)
    assert {by_contact[c.pk].template_version_id for c in takers[:2]} == {german.approved_version_id}
    english = by_contact[takers[2].pk]
    assert english.template_version_id == promotion.approved_version_id
    assert (english.kind, english.purpose, english.status) == (
        MessageKind.TEMPLATE,
        Purpose.MARKETING,
        MessageStatus.QUEUED,
    )
    assert (english.actor_kind, english.actor_label) == ("system", "campaign dispatcher")
    assert (english.next_attempt_at, english.hold_reason, english.error_class) == (now, "", "")
    assert (english.parameters, english.rendered_text, english.is_test) == ({}, "", False)
    assert len({m.public_id for m in by_contact.values()}) == 10


@override_settings(MARKETING_SENDING_HOURS="")
def test_an_opt_out_after_approval_is_skipped(promotion):
    now = timezone.now().replace(microsecond=0)
    stays, leaves = customer(), customer()
    campaign = approved(promotion, now=now)
    opt_out(leaves)
    campaign_start_and_materialise(campaign, now=now + timedelta(seconds=1))
    assert queued(campaign) == {stays.pk}
    assert reasons(campaign) == {leaves.pk: Exclusion.OPTED_OUT}


def test_merged_away_contacts_and_test_numbers_are_never_recipients(promotion):
    now = timezone.now().replace(microsecond=0)
    survivor, merged, staff = customer(), customer(), customer()
    Contact.objects.filter(pk=merged.pk).update(merged_into=survivor)
    StaffTestNumber.objects.create(contact=staff, label="Staff phone")
    campaign = started(promotion, now=now)
    with override_settings(MARKETING_SENDING_HOURS=""):
        campaign_materialise(campaign=campaign, now=now)
    assert set(rows(campaign)) == {survivor.pk}


# --- when ------------------------------------------------------------------------------------------


def test_a_local_time_schedule_gives_each_zone_class_its_moment_and_too_late_is_skipped(promotion):
    berlin = customer(time_zone="Europe/Berlin")
    tokyo = customer(time_zone="Asia/Tokyo")
    sao_paulo = customer(time_zone="America/Sao_Paulo")  # 13:00 UTC: after the latest send time
    campaign = approved(
        promotion,
        now=utc(2030, 6, 1),
        schedule_kind=ScheduleKind.LOCAL,
        local_date=date(2030, 6, 3),
        local_time=time(10, 0),
        latest_send_at=utc(2030, 6, 3, 12, 0),
    )
    at = utc(2030, 6, 3, 1, 0)  # 10:00 in Tokyo: the first clock to reach it
    campaign = campaign_start(campaign=campaign, now=at)
    result = campaign_materialise(campaign=campaign, now=at)
    by_contact = rows(campaign)
    assert by_contact[berlin.pk].next_attempt_at == utc(2030, 6, 3, 8, 0)
    assert by_contact[tokyo.pk].next_attempt_at == utc(2030, 6, 3, 1, 0)
    late = by_contact[sao_paulo.pk]
    assert (late.status, late.error_class) == (MessageStatus.SKIPPED, CampaignSkip.TOO_LATE)
    assert late.error_text == CampaignSkip.TEXT[CampaignSkip.TOO_LATE]
    preview = campaign_preview(campaign, now=at)
    assert (preview.too_late, preview.will_receive) == (result.skipped["too_late"], result.queued) == (1, 2)


def test_quiet_hours_hold_marketing_until_every_zone_of_the_class_may_get_it(promotion):
    # 19:30 UTC: 21:30 in Berlin (held until 09:00 there), 15:30 in New York (goes at once).
    at = utc(2030, 6, 3, 19, 30)
    campaign = approved(promotion, now=utc(2030, 6, 1), schedule_kind=ScheduleKind.AT, send_at=at)
    campaign = campaign_start(campaign=campaign, now=at)
    berlin = customer(time_zone="Europe/Berlin")
    new_york = customer(time_zone="America/New_York")
    result = campaign_materialise(campaign=campaign, now=at)
    by_contact = rows(campaign)
    held = by_contact[berlin.pk]
    assert (held.status, held.hold_reason) == (MessageStatus.QUEUED, HoldReason.QUIET_HOURS)
    assert held.next_attempt_at == utc(2030, 6, 4, 7, 0)
    goes = by_contact[new_york.pk]
    assert (goes.hold_reason, goes.next_attempt_at) == ("", at)
    preview = campaign_preview(campaign, now=at)
    assert (
        (preview.held_quiet_hours, preview.will_receive) == (result.held_quiet_hours, result.queued) == (1, 2)
    )


# --- at most once ----------------------------------------------------------------------------------


@override_settings(MARKETING_SENDING_HOURS="")
def test_two_contacts_with_one_whatsapp_address_get_one_message(promotion):
    now = timezone.now().replace(microsecond=0)
    first = customer("+4915199990001", wa_id="4915100000001")
    second = customer("+4915100000001")  # the first's WhatsApp id, as its phone
    # Not sendable, so it does not take the address from the one who may get it.
    opted_out = customer("+4915199990002", wa_id="4915100000002", purposes=())
    opt_out(opted_out)
    may = customer("+4915100000002")
    campaign = started(promotion, now=now)
    result = campaign_materialise(campaign=campaign, now=now)
    assert queued(campaign) == {first.pk, may.pk}
    assert reasons(campaign) == {second.pk: CampaignSkip.DUPLICATE_ADDRESS, opted_out.pk: Exclusion.OPTED_OUT}
    preview = campaign_preview(campaign, now=now)
    assert preview.will_receive == result.queued + result.skipped[CampaignSkip.DUPLICATE_ADDRESS]


@override_settings(MARKETING_SENDING_HOURS="")
def test_materialising_again_writes_nothing(promotion):
    now = timezone.now().replace(microsecond=0)
    for _ in range(3):
        customer()
    campaign = started(promotion, now=now)
    first = campaign_materialise(campaign=campaign, now=now)
    customer()  # a member since: the campaign's audience was written when it started
    again = campaign_materialise(campaign=campaign, now=now + timedelta(minutes=1))
    assert (first.inserted, again.inserted) == (3, 0)
    assert again.queued == 3 and OutboundMessage.objects.filter(campaign=campaign).count() == 3


def test_only_a_started_campaign_is_materialised(promotion):
    campaign = approved(promotion, now=timezone.now())
    with pytest.raises(ApplicationError) as info:
        campaign_materialise(campaign=campaign)
    assert info.value.code == "campaign_not_sending"


@override_settings(MARKETING_SENDING_HOURS="")
def test_start_and_materialise_is_one_transaction(promotion, monkeypatch):
    now = timezone.now().replace(microsecond=0)
    customer()
    campaign = approved(promotion, now=now)

    def crash(**kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(materialise_module, "campaign_materialise", crash)
    with pytest.raises(RuntimeError):
        campaign_start_and_materialise(campaign, now=now)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED and not rows(campaign)


@override_settings(MARKETING_SENDING_HOURS="")
def test_the_number_of_statements_does_not_grow_with_the_audience(promotion):
    now = timezone.now().replace(microsecond=0)
    counts = []
    for size in (5, 50):
        while Contact.objects.count() < size:
            customer()
        campaign = started(promotion, now=now)
        with CaptureQueriesContext(connection) as queries:
            result = campaign_materialise(campaign=campaign, now=now)
        assert result.queued == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- overdue, and the task -------------------------------------------------------------------------


def test_an_overdue_campaign_skips_everyone_too_late_and_completes(promotion):
    approved_at = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    person, left = customer(), customer()
    opt_out(left)
    campaign = approved(promotion, now=approved_at, latest_send_at=approved_at + timedelta(hours=1))
    assert tasks.start_due_campaigns().startswith("1 campaign")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert reasons(campaign) == {person.pk: CampaignSkip.TOO_LATE, left.pk: Exclusion.OPTED_OUT}


@override_settings(MARKETING_SENDING_HOURS="")
def test_the_task_starts_due_campaigns_once(promotion):
    customer()
    campaign = approved(promotion, now=timezone.now() - timedelta(seconds=1))
    later = approved(promotion, now=timezone.now(), schedule_kind=ScheduleKind.AT, send_at=utc(2090, 1, 1))
    tasks.start_due_campaigns()
    assert tasks.start_due_campaigns().startswith("0 campaigns")
    campaign.refresh_from_db()
    later.refresh_from_db()
    assert (campaign.status, later.status) == (CampaignStatus.SENDING, CampaignStatus.APPROVED)
    assert OutboundMessage.objects.filter(campaign=campaign).count() == 1


# --- parameters, per batch -------------------------------------------------------------------------


@override_settings(MARKETING_SENDING_HOURS="")
def test_a_batch_s_parameters_are_bound_from_the_frozen_bindings_in_one_contact_query(promotion):
    german_translation(promotion)
    now = timezone.now().replace(microsecond=0)
    people = [customer(language=lang, first_name=f"Name{i}") for i, lang in enumerate(("de", "en", "de"))]
    campaign = started(promotion, now=now)
    campaign_materialise(campaign=campaign, now=now)
    Contact.objects.filter(pk=people[2].pk).update(first_name="")  # gone since materialisation
    batch = list(OutboundMessage.objects.filter(campaign=campaign).order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        bound = campaign_message_parameters(batch)
    assert len(queries) == 2  # the campaigns, the contacts
    for message, person in zip(batch[:2], people[:2], strict=True):
        assert not isinstance(bound[message.pk], ApplicationError), bound[message.pk].message
        parameters, text = bound[message.pk]
        language = "de" if person.language == "de" else "en"
        assert parameters == contact_parameters(campaign, person, language=language)
        assert parameters["header"] == {"type": "image", "link": "https://cdn.example/spring.jpg"}
        assert f"Hi {person.first_name}, spring is here" in text
    problem = bound[batch[2].pk]
    assert isinstance(problem, ApplicationError) and problem.code == "campaign_value_missing"


# --- PostgreSQL: two workers at once ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_materialising_at_once_write_each_row_once(promotion, settings):
    settings.MARKETING_SENDING_HOURS = ""
    now = timezone.now().replace(microsecond=0)
    for _ in range(20):
        customer()
    campaign = started(promotion, now=now)
    both_ready = threading.Barrier(2, timeout=30)
    outcomes = []

    def work():
        try:
            both_ready.wait()
            outcomes.append(campaign_materialise(campaign=campaign, now=now).inserted)
        except Exception as exc:  # reported below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == [0, 20], outcomes
    assert OutboundMessage.objects.filter(campaign=campaign).count() == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_starting_one_campaign_at_once_start_and_write_it_once(promotion, settings):
    settings.MARKETING_SENDING_HOURS = ""
    now = timezone.now().replace(microsecond=0)
    for _ in range(5):
        customer()
    campaign = approved(promotion, now=now)
    both_ready = threading.Barrier(2, timeout=30)
    outcomes = []

    def work():
        try:
            both_ready.wait()
            outcomes.append(campaign_start_and_materialise(campaign, now=now))
        except ApplicationError as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    results = [o for o in outcomes if not isinstance(o, ApplicationError)]
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(results) == 1 and results[0].inserted == 5, outcomes
    assert [e.code for e in refused] == ["campaign_wrong_status"]
    assert OutboundMessage.objects.filter(campaign=campaign).count() == 5
    assert campaign.transitions.filter(to_status=CampaignStatus.SENDING).count() == 1
