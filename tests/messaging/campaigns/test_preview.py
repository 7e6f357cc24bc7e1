"""The campaign preview against hand-built contacts: counts by reason and language, the holds and
until when, too late, the budget and the duration, the lists behind the figures."""

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, Purpose, Tag
from contacts.segments.services import segment_create
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, ScheduleKind
from messaging.campaigns.eligibility import Exclusion, campaign_recipients
from messaging.campaigns.preview import campaign_preview, excluded_contacts, sample_recipients
from messaging.models import MessageKind, MessageStatus, MessagingTier, OutboundMessage
from messaging.sending.reach import frequency_cap_verdict
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate, TemplateVersion
from tests.factories import ContactFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
FIRST_NAME = {"source": "field", "value": "first_name", "fallback": "", "format": ""}
_names = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def templates(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}


@pytest.fixture
def promotion(templates):
    return templates["spring_promotion"]


def make_campaign(template, **fields) -> Campaign:
    Tag.objects.get_or_create(name="outsider")
    segment = segment_create(
        name=f"Everyone {next(_names)}",
        rules={"op": "none", "rules": [{"kind": "tag", "tag": "outsider"}]},
        actor=SYSTEM,
    )
    purpose = Purpose.MARKETING if template.category == "MARKETING" else Purpose.SERVICE
    return Campaign.objects.create(
        name=f"Campaign {next(_names)}", template=template, segment=segment, purpose=purpose, **fields
    )


def customer(phone=None, *, purposes=(Purpose.MARKETING,), **fields) -> Contact:
    contact = ContactFactory(phone=phone, **fields) if phone else ContactFactory(**fields)
    for purpose in purposes:
        opt_in(contact, purpose)
    return contact


def sent(contact, *, at, purpose=Purpose.MARKETING, status=MessageStatus.ACCEPTED) -> OutboundMessage:
    """A business-initiated message that reached the person at ``at`` (or may have)."""
    return OutboundMessage.objects.create(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=purpose,
        status=status,
        claimed_at=at,
        accepted_at=at if status != MessageStatus.SENDING else None,
    )


def german_translation(template: MessageTemplate) -> None:
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


# --- counts ------------------------------------------------------------------------------------------


def test_the_counts_by_reason_and_language_match_the_recipients(promotion):
    german_translation(promotion)
    campaign = make_campaign(promotion, bindings={"body": {"1": FIRST_NAME}})
    for language in ("de", "de", "de", "en", "es"):
        customer(language=language, time_zone="Europe/Berlin")
    no_address = customer()
    Contact.objects.filter(pk=no_address.pk).update(phone=None, user_id="bsuid-preview")
    customer(not_on_whatsapp_since=timezone.now())
    for _ in range(2):
        opt_out(customer())
    ContactFactory()
    customer("+12125550123")
    customer(first_name="")
    customer().tags.add(Tag.objects.get(name="outsider"))  # not a member
    preview = campaign_preview(campaign)
    assert preview.audience == 12
    assert preview.excluded == {
        Exclusion.NO_ADDRESS: 1,
        Exclusion.NOT_ON_WHATSAPP: 1,
        Exclusion.OPTED_OUT: 2,
        Exclusion.NO_CONSENT: 1,
        Exclusion.US_MARKETING: 1,
        Exclusion.MISSING_VARIABLE: 1,
    }
    assert list(preview.excluded) == list(Exclusion.values)  # in the order they are checked
    assert (preview.eligible, preview.will_receive, preview.excluded_total) == (5, 5, 7)
    assert preview.languages == {"de": 3, "en": 2}
    # What the preview counts is what the recipients query says, contact by contact.
    rows = list(campaign_recipients(campaign).values_list("exclusion", flat=True))
    assert len(rows) == preview.audience
    assert {r: rows.count(r) for r in Exclusion.values} == preview.excluded


def test_an_empty_audience_gives_zeros(promotion):
    preview = campaign_preview(make_campaign(promotion))
    assert (preview.audience, preview.will_receive, preview.held_quiet_hours) == (0, 0, 0)
    assert preview.expected_duration == timedelta(0) and preview.languages == {}


def test_the_preview_is_a_fixed_number_of_queries_whatever_the_audience(promotion):
    campaign = make_campaign(promotion, bindings={"body": {"1": FIRST_NAME}})
    counts = []
    for size in (2, 12):
        while Contact.objects.count() < size:
            customer(time_zone="Asia/Tokyo" if Contact.objects.count() % 2 else "")
        with CaptureQueriesContext(connection) as queries:
            campaign_preview(campaign)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8


# --- holds -------------------------------------------------------------------------------------------


def test_held_for_quiet_hours_and_until_when(promotion, templates):
    # 19:30 UTC: 21:30 in Berlin (held until 09:00 there), 04:30 next day in Tokyo (held until 09:00
    # there), 15:30 in New York (goes).
    at = utc(2030, 6, 3, 19, 30)
    campaign = make_campaign(promotion, schedule_kind=ScheduleKind.AT, send_at=at)
    customer(time_zone="Europe/Berlin")
    customer(time_zone="Europe/Berlin")
    customer(time_zone="Asia/Tokyo")
    customer(time_zone="America/New_York")
    preview = campaign_preview(campaign, now=utc(2030, 6, 1))
    assert preview.will_receive == 4
    assert preview.held_quiet_hours == 3
    assert preview.held_quiet_hours_until == utc(2030, 6, 4, 7, 0)  # 09:00 in Berlin, the last
    assert preview.first_send_at == at and preview.last_send_at == utc(2030, 6, 4, 7, 0)
    # Quiet hours are for marketing: a utility campaign goes at once.
    utility = make_campaign(templates["order_update"], schedule_kind=ScheduleKind.AT, send_at=at)
    for person in Contact.objects.all():
        opt_in(person, Purpose.SERVICE)
    assert campaign_preview(utility, now=utc(2030, 6, 1)).held_quiet_hours == 0


def test_a_number_spanning_several_zones_waits_for_all_of_them(promotion):
    # 22:30 UTC: 09:30 on Lord Howe and in Sydney, but 05:00 on the Cocos Islands: held until 09:00
    # there (02:30 UTC), when it is 13:30 in Sydney.
    at = utc(2030, 1, 14, 22, 30)
    campaign = make_campaign(promotion, schedule_kind=ScheduleKind.AT, send_at=at)
    customer("+61412345678")
    preview = campaign_preview(campaign, now=utc(2030, 1, 1))
    assert preview.held_quiet_hours == 1
    assert preview.held_quiet_hours_until == utc(2030, 1, 15, 2, 30)


def test_held_by_the_frequency_cap_and_until_when(promotion):
    now = timezone.now().replace(microsecond=0)
    campaign = make_campaign(promotion)
    capped, once, served = customer(time_zone="UTC"), customer(time_zone="UTC"), customer(time_zone="UTC")
    sent(capped, at=now - timedelta(days=1))
    sent(capped, at=now - timedelta(days=3))
    sent(capped, at=now - timedelta(days=9))  # outside the 7 days
    sent(once, at=now - timedelta(days=2))
    sent(served, at=now - timedelta(hours=30), purpose=Purpose.SERVICE)
    sent(served, at=now - timedelta(hours=40), purpose=Purpose.SERVICE)
    with override_settings(MARKETING_SENDING_HOURS=""):
        preview = campaign_preview(campaign, now=now)
    assert preview.held_frequency_cap == 1
    expected = frequency_cap_verdict(OutboundMessage(contact=capped, purpose=Purpose.MARKETING), now)
    assert expected.held and preview.held_frequency_cap_until == expected.until == now + timedelta(days=4)
    assert preview.too_late == 0 and preview.will_receive == 3
    assert preview.notes == []  # it goes now: nothing is counted ahead of time


def test_a_send_in_progress_counts_towards_the_cap(promotion):
    now = timezone.now().replace(microsecond=0)
    campaign = make_campaign(promotion)
    person = customer(time_zone="UTC")
    sent(person, at=now - timedelta(days=1))
    sent(person, at=now - timedelta(hours=1), status=MessageStatus.SENDING)
    with override_settings(MARKETING_SENDING_HOURS=""):
        preview = campaign_preview(campaign, now=now)
    assert preview.held_frequency_cap == 1
    assert preview.held_frequency_cap_until == now + timedelta(days=6)


def test_held_by_the_cap_past_the_latest_send_time_is_too_late(promotion):
    now = timezone.now().replace(microsecond=0)
    campaign = make_campaign(promotion, latest_send_at=now + timedelta(days=2))
    person, free = customer(time_zone="UTC"), customer(time_zone="UTC")
    sent(person, at=now - timedelta(days=1))
    sent(person, at=now - timedelta(days=2))  # free again in 5 days: after the latest send time
    with override_settings(MARKETING_SENDING_HOURS=""):
        preview = campaign_preview(campaign, now=now)
    assert (preview.too_late, preview.held_frequency_cap, preview.will_receive) == (1, 0, 1)
    assert free.pk in campaign_recipients(campaign).filter(exclusion__isnull=True).values_list(
        "pk", flat=True
    )


def test_recipients_reached_only_after_the_latest_send_time_are_too_late(promotion):
    campaign = make_campaign(
        promotion,
        schedule_kind=ScheduleKind.LOCAL,
        local_date=date(2030, 6, 3),
        local_time=time(10, 0),
        latest_send_at=utc(2030, 6, 3, 12, 0),
    )
    customer(time_zone="Europe/Berlin")  # 08:00 UTC
    customer(time_zone="Asia/Tokyo")  # 01:00 UTC
    customer("+12125550199", purposes=(Purpose.MARKETING,), time_zone="America/New_York")  # US: excluded
    customer(time_zone="America/Sao_Paulo")  # 13:00 UTC: too late
    preview = campaign_preview(campaign, now=utc(2030, 6, 1))
    assert (preview.eligible, preview.too_late, preview.will_receive) == (3, 1, 2)
    assert preview.first_send_at == utc(2030, 6, 3, 1, 0)
    assert preview.last_send_at == utc(2030, 6, 3, 8, 0)
    assert preview.excluded[Exclusion.US_MARKETING] == 1
    assert any("frequency cap" in note for note in preview.notes)  # counted as at the first moment


# --- rate, budget, duration --------------------------------------------------------------------------


@override_settings(MARKETING_SENDING_HOURS="")
def test_the_budget_spreads_the_sending_over_days_and_open_windows_cost_nothing(promotion):
    now = timezone.now().replace(microsecond=0)
    MessagingTier.objects.create(tier="TEST", limit=2, source="tests")
    campaign = make_campaign(promotion, rate_cap=1)
    people = [customer(time_zone="UTC") for _ in range(5)]
    Contact.objects.filter(pk=people[0].pk).update(last_inbound_at=now - timedelta(hours=1))  # window open
    sent(people[1], at=now - timedelta(hours=2), purpose=Purpose.SERVICE)  # counted already today
    preview = campaign_preview(campaign, now=now)
    assert preview.messaging_limit == 2 and preview.budget_used == 1
    assert (preview.budget_free, preview.budget_needed) == (2, 3)
    # One more person today (2 - 1 used), then two a day: two periods of 24 hours.
    assert (preview.first_day, preview.budget_days) == (3, 2)
    assert preview.rate_per_second == 1 and preview.send_duration == timedelta(seconds=5)
    assert preview.expected_duration >= timedelta(hours=24)


@override_settings(WHATSAPP_MESSAGES_PER_SECOND=80, WHATSAPP_MESSAGING_LIMIT="TIER_UNLIMITED")
def test_the_rate_is_the_lower_of_the_campaigns_and_the_global_one(promotion):
    customer(time_zone="UTC")
    assert campaign_preview(make_campaign(promotion, rate_cap=500)).rate_per_second == 80
    preview = campaign_preview(make_campaign(promotion, rate_cap=20))
    assert preview.rate_per_second == 20
    assert preview.messaging_limit is None and preview.budget_days == 1 and preview.first_day == 1


# --- the lists behind the figures --------------------------------------------------------------------


def test_each_reason_lists_its_contacts(promotion):
    campaign = make_campaign(promotion)
    opted_out = customer()
    opt_out(opted_out)
    customer()
    assert list(excluded_contacts(campaign, Exclusion.OPTED_OUT)) == [opted_out]
    assert not excluded_contacts(campaign, Exclusion.NO_ADDRESS).exists()
    with pytest.raises(ApplicationError) as refused:
        excluded_contacts(campaign, "too_rich")
    assert refused.value.code == "campaign_exclusion_unknown"


def test_sample_recipients_show_each_language_first(promotion):
    german_translation(promotion)
    campaign = make_campaign(promotion)
    english = [customer(language="en") for _ in range(3)]
    german = customer(language="de")
    opt_out(customer(language="de"))
    samples = sample_recipients(campaign, n=2)
    assert [s.pk for s in samples] == [english[0].pk, german.pk]
    assert [s.send_language for s in samples] == ["en", "de"]
    assert len(sample_recipients(campaign, n=10)) == 4
    assert sample_recipients(campaign, n=0) == []
