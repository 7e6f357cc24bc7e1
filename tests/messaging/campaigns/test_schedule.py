"""When a campaign's message may go to each recipient: local times across zones and daylight
saving, the latest send time, and quiet hours in SQL agreeing with the sender's rule."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from contacts.models import Contact, Purpose, Tag
from contacts.segments.services import segment_create
from core.actors import Actor
from messaging.campaign_models import Campaign, ScheduleKind
from messaging.campaigns.schedule import (
    class_timing,
    first_send_at,
    held_for_quiet_hours_q,
    inside_sending_hours_q,
    known_zone_classes,
    local_instant,
    moment_expression,
    scheduled_moment,
    sending_hours_resume,
    zone_class,
)
from messaging.sending.quiet_hours import contact_time_zones, quiet_hours_verdict
from templates_app.demo import seed_templates
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
_names = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def promotion(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}["spring_promotion"]


def make_campaign(template, **fields) -> Campaign:
    Tag.objects.get_or_create(name="outsider")
    segment = segment_create(
        name=f"Everyone {next(_names)}",
        rules={"op": "none", "rules": [{"kind": "tag", "tag": "outsider"}]},
        actor=SYSTEM,
    )
    return Campaign.objects.create(
        name=f"Campaign {next(_names)}",
        template=template,
        segment=segment,
        purpose=Purpose.MARKETING,
        **fields,
    )


def contact(phone=None, time_zone="", **fields) -> Contact:
    if phone is None and not time_zone and not fields:
        # Nothing known: an id from WhatsApp only, no number, no zone.
        return Contact.objects.create(user_id=f"bsuid-{next(_names)}")
    return (
        ContactFactory(phone=phone, time_zone=time_zone, **fields)
        if phone
        else ContactFactory(time_zone=time_zone)
    )


# Numbers whose zones phonenumbers knows, one zone or many.
ALASKA = "+19075550123"  # Anchorage and Adak
IDAHO = "+12085550123"  # Boise and Los Angeles
AUSTRALIAN_MOBILE = "+61412345678"  # Cocos to Lord Howe, eight zones
TOLL_FREE = "+18005550199"  # +1 non-geographic: Saipan to Pago Pago, 42 zones
RUSSIAN_MOBILE = "+79161234567"  # Kaliningrad to Kamchatka
NEW_YORK = "+12125550123"


# --- local times and daylight saving ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "at", "zone", "expected", "why"),
    [
        (date(2025, 3, 30), time(2, 30), "Europe/Berlin", utc(2025, 3, 30, 1, 30), "skipped: 03:30 CEST"),
        (date(2025, 10, 26), time(2, 30), "Europe/Berlin", utc(2025, 10, 26, 0, 30), "twice: the first"),
        (date(2025, 3, 30), time(1, 30), "Europe/London", utc(2025, 3, 30, 1, 30), "skipped: 02:30 BST"),
        (date(2025, 3, 9), time(2, 30), "America/New_York", utc(2025, 3, 9, 7, 30), "skipped: 03:30 EDT"),
        (date(2025, 11, 2), time(1, 30), "America/New_York", utc(2025, 11, 2, 5, 30), "twice: the first"),
        (date(2025, 3, 30), time(10, 0), "Europe/Berlin", utc(2025, 3, 30, 8, 0), "after the change"),
        (date(2025, 3, 29), time(10, 0), "Europe/Berlin", utc(2025, 3, 29, 9, 0), "before the change"),
    ],
)
def test_a_local_time_on_a_daylight_saving_day(day, at, zone, expected, why):
    moment = local_instant(day, at, zone)
    assert moment == expected, why
    # Never before the promised time on that clock.
    assert moment.astimezone(ZoneInfo(zone)).time() >= at


@override_settings(TIME_ZONE="America/Sao_Paulo")
def test_each_recipient_gets_it_at_the_local_time_in_the_last_of_their_zones(promotion):
    campaign = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2030, 6, 3), local_time=time(10, 0)
    )
    people = {
        "berlin": (contact(time_zone="Europe/Berlin"), utc(2030, 6, 3, 8, 0)),
        "new york": (contact(NEW_YORK), utc(2030, 6, 3, 14, 0)),
        "tokyo": (contact(time_zone="Asia/Tokyo"), utc(2030, 6, 3, 1, 0)),
        "unknown: the site's zone": (contact(), utc(2030, 6, 3, 13, 0)),
        "alaska: Adak": (contact(ALASKA), utc(2030, 6, 3, 19, 0)),
        "australia: Cocos": (contact(AUSTRALIAN_MOBILE), utc(2030, 6, 3, 3, 30)),
        "toll free: Pago Pago": (contact(TOLL_FREE), utc(2030, 6, 3, 21, 0)),
    }
    now = utc(2030, 6, 1)
    annotated = dict(
        Contact.objects.annotate(moment=moment_expression(campaign, now=now)).values_list("pk", "moment")
    )
    for label, (person, expected) in people.items():
        cls = zone_class(person.zone_earliest, person.zone_latest)
        assert scheduled_moment(campaign, cls, now=now) == expected, label
        assert annotated[person.pk] == expected, label
        # Nobody is reached before 10:00 in any zone their number may be in.
        wall = datetime(2030, 6, 3, 10, 0)
        assert all(expected.astimezone(ZoneInfo(z)).replace(tzinfo=None) >= wall for z in cls.zones), label
    assert first_send_at(campaign, now=now) == utc(2030, 6, 3, 1, 0)
    classes = [zone_class("Europe/Berlin", "Europe/Berlin")]
    assert first_send_at(campaign, now=now, classes=classes) == utc(2030, 6, 3, 8, 0)


def test_a_local_schedule_on_the_spring_forward_days_in_europe_and_the_us(promotion):
    europe = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2025, 3, 30), local_time=time(2, 30)
    )
    america = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2025, 3, 9), local_time=time(2, 30)
    )
    berlin, new_york, idaho = contact(time_zone="Europe/Berlin"), contact(NEW_YORK), contact(IDAHO)
    now = utc(2025, 3, 1)
    moments = {}
    for campaign in (europe, america):
        rows = Contact.objects.annotate(moment=moment_expression(campaign, now=now)).values_list(
            "pk", "moment"
        )
        moments.update({(campaign.pk, pk): moment for pk, moment in rows})
    assert moments[(europe.pk, berlin.pk)] == utc(2025, 3, 30, 1, 30)  # 03:30 CEST: 02:30 never happens
    assert moments[(america.pk, new_york.pk)] == utc(2025, 3, 9, 7, 30)  # 03:30 EDT
    assert moments[(america.pk, berlin.pk)] == utc(2025, 3, 9, 1, 30)  # an ordinary day in Berlin
    # Boise's 02:30 MST does not exist (09:30 UTC); Los Angeles's 02:30 PST neither (10:30 UTC): the later.
    assert moments[(america.pk, idaho.pk)] == utc(2025, 3, 9, 10, 30)


def test_a_local_schedule_on_the_fall_back_day_goes_at_the_first_of_the_two(promotion):
    campaign = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2025, 11, 2), local_time=time(1, 30)
    )
    new_york = contact(NEW_YORK)
    moment = Contact.objects.annotate(moment=moment_expression(campaign, now=utc(2025, 10, 1))).get(
        pk=new_york.pk
    )
    assert moment.moment == utc(2025, 11, 2, 5, 30)


def test_a_moment_that_has_passed_is_now(promotion):
    now = utc(2030, 6, 3, 12, 0)
    at = make_campaign(promotion, schedule_kind=ScheduleKind.AT, send_at=utc(2030, 6, 3, 9, 0))
    local = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2030, 6, 3), local_time=time(10, 0)
    )
    berlin, new_york = (
        zone_class("Europe/Berlin", "Europe/Berlin"),
        zone_class("America/New_York", "America/New_York"),
    )
    assert scheduled_moment(at, berlin, now=now) == now
    assert scheduled_moment(local, berlin, now=now) == now  # 08:00 UTC has passed
    assert scheduled_moment(local, new_york, now=now) == utc(2030, 6, 3, 14, 0)
    assert first_send_at(make_campaign(promotion), now=now) == now


def test_recipients_whose_moment_is_after_the_latest_send_time_are_too_late(promotion):
    campaign = make_campaign(
        promotion,
        schedule_kind=ScheduleKind.LOCAL,
        local_date=date(2030, 6, 3),
        local_time=time(10, 0),
        latest_send_at=utc(2030, 6, 3, 12, 0),
    )
    now = utc(2030, 6, 1)
    berlin = class_timing(campaign, zone_class("Europe/Berlin", "Europe/Berlin"), now=now, marketing=True)
    new_york = class_timing(
        campaign, zone_class("America/New_York", "America/New_York"), now=now, marketing=True
    )
    assert not berlin.too_late and new_york.too_late
    # A quiet-hours hold that ends after the latest send time is too late as well.
    campaign.schedule_kind, campaign.send_at = ScheduleKind.AT, utc(2030, 6, 3, 4, 0)
    held = class_timing(campaign, zone_class("Europe/Berlin", "Europe/Berlin"), now=now, marketing=True)
    assert held.go_at == utc(2030, 6, 3, 7, 0) and not held.too_late
    campaign.latest_send_at = utc(2030, 6, 3, 6, 0)
    assert class_timing(
        campaign, zone_class("Europe/Berlin", "Europe/Berlin"), now=now, marketing=True
    ).too_late


# --- quiet hours: the sender's rule, in SQL --------------------------------------------------------


def quiet_world() -> list[Contact]:
    people = [
        contact(time_zone=zone)
        for zone in (
            "Europe/Berlin",
            "Asia/Tokyo",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "America/St_Johns",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
        )
    ]
    numbers = (NEW_YORK, ALASKA, IDAHO, AUSTRALIAN_MOBILE, TOLL_FREE, RUSSIAN_MOBILE)
    people += [contact(number) for number in (*numbers, "+5511987654321", "+16715550123", "+6281234567890")]
    people.append(contact())
    assert any(len(contact_time_zones(p)) > 10 for p in people)  # some numbers span many zones
    return people


def instants():
    """Every 55 minutes through the days around the daylight-saving changes (Europe and the US in
    spring and autumn, Australia in April), and every two hours of a day a month."""
    starts = [utc(2025, 3, 8, 12), utc(2025, 3, 29), utc(2025, 4, 5), utc(2025, 10, 25), utc(2025, 11, 1, 12)]
    for start in starts:
        for step in range(0, 2 * 24 * 60, 55):
            yield start + timedelta(minutes=step)
    for month in range(1, 13):
        for hour in range(0, 24, 2):
            yield utc(2025, month, 15, hour, 17)


@override_settings(TIME_ZONE="Europe/Lisbon")
def test_inside_the_sending_hours_in_sql_agrees_with_the_senders_quiet_hours():
    people = quiet_world()
    disagree = []
    for at in instants():
        inside = set(Contact.objects.filter(inside_sending_hours_q(at)).values_list("pk", flat=True))
        for person in people:
            verdict = quiet_hours_verdict(person, at)
            if (verdict.go) != (person.pk in inside):
                disagree.append((at, person.time_zone or person.phone))
    assert disagree == []


@override_settings(TIME_ZONE="Europe/Lisbon")
def test_a_held_message_resumes_when_the_sender_would_let_it_go():
    people = quiet_world()
    held = 0
    for at in itertools.islice(instants(), 0, None, 7):
        for person in people:
            verdict = quiet_hours_verdict(person, at)
            resume = sending_hours_resume(zone_class(person.zone_earliest, person.zone_latest), at)
            if verdict.go:
                assert resume == at
            elif verdict.held:
                held += 1
                assert resume == verdict.until, (at, person.phone or person.time_zone)
            else:
                assert resume is None
    assert held > 100


@override_settings(MARKETING_SENDING_HOURS="")
def test_without_sending_hours_nobody_is_held(promotion):
    person = contact(time_zone="Asia/Tokyo")
    assert Contact.objects.filter(inside_sending_hours_q(utc(2030, 1, 1, 3))).filter(pk=person.pk).exists()


def test_held_for_quiet_hours_in_sql_is_the_class_timing(promotion):
    # 08:00 at the recipient is before the sending hours everywhere: each is held until 09:00.
    early = make_campaign(
        promotion, schedule_kind=ScheduleKind.LOCAL, local_date=date(2030, 6, 3), local_time=time(8, 0)
    )
    at_noon_utc = make_campaign(promotion, schedule_kind=ScheduleKind.AT, send_at=utc(2030, 6, 3, 12, 0))
    people = [contact(time_zone="Europe/Berlin"), contact(time_zone="Asia/Tokyo"), contact(NEW_YORK)]
    people += [contact(AUSTRALIAN_MOBILE), contact(TOLL_FREE)]
    now = utc(2030, 6, 1)
    for campaign in (early, at_noon_utc):
        held = set(
            Contact.objects.filter(held_for_quiet_hours_q(campaign, now=now)).values_list("pk", flat=True)
        )
        for person in people:
            timing = class_timing(
                campaign, zone_class(person.zone_earliest, person.zone_latest), now=now, marketing=True
            )
            assert (person.pk in held) == (timing.go_at != timing.moment), (campaign.schedule_kind, person)
    held_early = set(
        Contact.objects.filter(held_for_quiet_hours_q(early, now=now)).values_list("pk", flat=True)
    )
    assert held_early >= {p.pk for p in people[:3]}


def test_every_known_zone_class_has_a_moment_and_zones():
    classes = known_zone_classes()
    assert len({(c.earliest, c.latest) for c in classes}) == len(classes)
    assert zone_class("", "").zones and all(c.zones for c in classes)
    toll_free = zone_class("Pacific/Saipan", "Pacific/Pago_Pago")
    assert "Pacific/Honolulu" in toll_free.zones and len(toll_free.zones) > 40
    # A stored span phonenumbers does not know (an older library's): judged by its ends.
    assert zone_class("Europe/Berlin", "Europe/London").zones == ("Europe/Berlin", "Europe/London")
