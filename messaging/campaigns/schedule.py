"""When each recipient's campaign message may go: the scheduled moment, quiet hours, too late.

A contact's clock is known to SQL only as its zone span, ``Contact.zone_earliest`` /
``zone_latest`` (``contacts.zones``). Everyone with the same pair is one *zone class*: the same
moment, the same quiet-hours verdict. So the work is done per class in Python — a few hundred
classes at most, whatever the audience — and mapped onto contacts in SQL (a ``CASE`` on
``zone_latest``, an ``IN`` list), never per contact in Python. SQLite has no ``AT TIME ZONE``;
this way both databases run the same SQL.

**A class's zones.** A pair names the two ends of a span; the zones in between matter too when a
span is wide (a non-geographic +1 number may be anywhere from Saipan to Pago Pago: a time inside
the sending hours at both ends can be outside them in Honolulu). phonenumbers knows every span a
number can have, so a pair is read back as the zones of the numbers that give it
(:func:`zone_class`) — the zones ``quiet_hours.contact_time_zones`` uses for such a contact. An
empty pair is the site's ``TIME_ZONE``.

**The moment.** "now": now. "at": ``send_at``. "local": ``local_date`` at ``local_time`` on the
recipient's clock, in the zone of their class where that comes last, so nobody is reached before
that local time in any zone their number may be in. A moment that has passed (a campaign approved
after its time) is now. Daylight saving, decided once (:func:`local_instant`): a local time that
does not exist that day (the clocks jump over it) is read with the offset before the jump, i.e.
that much later on the clock (02:30 on a spring-forward day in Berlin is 03:30 CEST); a local
time that happens twice (the clocks go back) is its first occurrence. Both never reach anyone
before the time they were promised.

**Quiet hours** (marketing only): the message goes at the moment if it is inside
``MARKETING_SENDING_HOURS`` in every zone of the class, else at the next instant it is
(``quiet_hours.next_common_sending_time``, the rule the sender applies); a class whose zones
share no sending hours is never reached. **Too late**: recipients whose message could go only
after ``latest_send_at`` are skipped with that reason.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.utils import timezone

from contacts.zones import span_of
from messaging.campaign_models import Campaign, ScheduleKind
from messaging.sending.quiet_hours import _inside, next_common_sending_time, parse_sending_hours

# --- zone classes ----------------------------------------------------------------------------------


@functools.cache
def _zone(name: str) -> ZoneInfo:
    """``ZoneInfo`` keeps only a handful of zones loaded; here every zone is asked, often."""
    return ZoneInfo(name)


@dataclass(frozen=True)
class ZoneClass:
    """Everyone whose stored span is ``(earliest, latest)``: the zones they may be in."""

    earliest: str
    latest: str
    zones: tuple[str, ...]

    @property
    def single(self) -> bool:
        return self.earliest == self.latest

    @property
    def q(self) -> Q:
        """This class as a condition on ``Contact``."""
        return Q(zone_earliest=self.earliest, zone_latest=self.latest)


@functools.lru_cache(maxsize=1)
def _spans() -> dict[tuple[str, str], tuple[str, ...]]:
    """(earliest, latest) → every zone of the numbers phonenumbers gives that span.

    Three spans come from more than one zone list (Perth–Adelaide with or without Eucla, …): the
    extra zones lie between the ends all year, so the union answers for all of them.
    """
    from phonenumbers.timezone import UNKNOWN_TIMEZONE
    from phonenumbers.tzdata import TIMEZONE_DATA

    known = available_timezones()
    spans: dict[tuple[str, str], set[str]] = {}
    for zones in set(TIMEZONE_DATA.values()):
        usable = {z for z in zones if z != UNKNOWN_TIMEZONE and z in known}
        if len(usable) > 1:
            spans.setdefault(span_of(usable), set()).update(usable)
    return {pair: tuple(sorted(zones)) for pair, zones in spans.items()}


def zone_class(earliest: str, latest: str) -> ZoneClass:
    """The class of contacts whose stored span is ``(earliest, latest)`` ('' = the site's zone)."""
    if earliest == latest:
        return ZoneClass(earliest, latest, (earliest or settings.TIME_ZONE,))
    zones = _spans().get((earliest, latest)) or tuple(z for z in (earliest, latest) if z)
    return ZoneClass(earliest, latest, zones or (settings.TIME_ZONE,))


@functools.lru_cache(maxsize=1)
def _universe() -> tuple[ZoneClass, ...]:
    singles = [zone_class(z, z) for z in sorted(available_timezones())]
    return (*singles, *(zone_class(*pair) for pair in sorted(_spans())))


def known_zone_classes() -> tuple[ZoneClass, ...]:
    """Every class a contact can be in: each zone alone, each span phonenumbers gives, nothing known
    (the site's zone, read now: a setting)."""
    return (zone_class("", ""), *_universe())


def zone_classes_of(contacts: QuerySet) -> list[ZoneClass]:
    """The classes present among ``contacts`` (one ``SELECT DISTINCT``)."""
    pairs = contacts.order_by().values_list("zone_earliest", "zone_latest").distinct()
    return [zone_class(earliest, latest) for earliest, latest in pairs]


# --- moments ---------------------------------------------------------------------------------------


def local_instant(day: date, at: time, zone: str) -> datetime:
    """``day`` at ``at`` on a clock in ``zone`` ('' = the site's zone), in UTC.

    ``fold=0`` decides both daylight-saving cases (module docstring): a skipped time is read with
    the offset before the jump (later on the clock by the jump), a repeated time is its first
    occurrence.
    """
    local = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=_zone(zone or settings.TIME_ZONE))
    return local.astimezone(UTC)


def scheduled_moment(campaign: Campaign, zones: ZoneClass, *, now: datetime) -> datetime:
    """When the campaign is due for this class, never before ``now``."""
    kind = campaign.schedule_kind
    if kind == ScheduleKind.AT and campaign.send_at is not None:
        return max(campaign.send_at, now)
    if kind == ScheduleKind.LOCAL and campaign.local_date is not None and campaign.local_time is not None:
        return max(max(local_instant(campaign.local_date, campaign.local_time, z) for z in zones.zones), now)
    return now


def _instant_is_fixed(campaign: Campaign) -> bool:
    return not (
        campaign.schedule_kind == ScheduleKind.LOCAL
        and campaign.local_date is not None
        and campaign.local_time is not None
    )


def first_send_at(
    campaign: Campaign,
    *,
    now: datetime | None = None,
    classes: Iterable[ZoneClass] | None = None,
) -> datetime:
    """The earliest instant anyone may get the campaign (never before ``now``).

    For a local-time schedule, the earliest of its classes' moments: ``classes`` when given, else
    the classes of the campaign's members (one query; ``eligibility.campaign_members``).
    """
    now = now or timezone.now()
    if _instant_is_fixed(campaign):
        return scheduled_moment(campaign, zone_class("", ""), now=now)
    if classes is None:
        from messaging.campaigns.eligibility import campaign_members

        classes = zone_classes_of(campaign_members(campaign, now=now))
    moments = [scheduled_moment(campaign, c, now=now) for c in classes]
    return min(moments) if moments else scheduled_moment(campaign, zone_class("", ""), now=now)


def too_late(campaign: Campaign, moment: datetime | None) -> bool:
    """A message that could go only at ``moment`` (None: never) is skipped: after the latest send time."""
    if moment is None:
        return False
    return campaign.latest_send_at is not None and moment > campaign.latest_send_at


# --- quiet hours -----------------------------------------------------------------------------------


def inside_sending_hours(zones: ZoneClass, at: datetime) -> bool:
    """``quiet_hours_verdict``'s test: inside the sending hours in every zone of the class."""
    hours = parse_sending_hours(settings.MARKETING_SENDING_HOURS)
    return hours is None or all(_inside(at, _zone(z), hours) for z in zones.zones)


def sending_hours_resume(zones: ZoneClass, at: datetime) -> datetime | None:
    """When a marketing message due at ``at`` may go: ``at`` itself inside the sending hours, else
    the next instant inside them in every zone (None: the zones share no sending hours)."""
    hours = parse_sending_hours(settings.MARKETING_SENDING_HOURS)
    if hours is None or inside_sending_hours(zones, at):
        return at
    return next_common_sending_time([_zone(z) for z in zones.zones], hours, at)


@dataclass(frozen=True)
class ClassTiming:
    """A zone class's fate for one campaign: its moment, when it may go, skipped too late or never."""

    zones: ZoneClass
    moment: datetime
    go_at: datetime | None  # None: the zones share no sending hours (marketing)
    too_late: bool

    @property
    def held_quiet_hours(self) -> bool:
        return not self.too_late and self.go_at is not None and self.go_at > self.moment


def class_timing(campaign: Campaign, zones: ZoneClass, *, now: datetime, marketing: bool) -> ClassTiming:
    moment = scheduled_moment(campaign, zones, now=now)
    go_at = sending_hours_resume(zones, moment) if marketing else moment
    return ClassTiming(zones, moment, go_at, too_late(campaign, go_at))


# --- the same in SQL -------------------------------------------------------------------------------


def _classes(classes: Iterable[ZoneClass] | None) -> list[ZoneClass]:
    return list(known_zone_classes() if classes is None else classes)


def zone_class_conditions(values: dict[ZoneClass, object]) -> list[tuple[Q, object]]:
    """(condition, value) pairs covering ``values``: spans by their pair, single zones grouped into
    one ``zone_latest IN (…)`` per value (with ``zone_earliest = zone_latest``)."""
    singles: dict[object, list[str]] = {}
    conditions = []
    for zones, value in values.items():
        if zones.single:
            singles.setdefault(value, []).append(zones.latest)
        else:
            conditions.append((zones.q, value))
    for value, names in singles.items():
        conditions.append((Q(zone_earliest=F("zone_latest"), zone_latest__in=sorted(names)), value))
    return conditions


def moment_expression(
    campaign: Campaign,
    *,
    now: datetime | None = None,
    classes: Iterable[ZoneClass] | None = None,
    shift: timedelta = timedelta(0),
):
    """Each contact's scheduled moment (plus ``shift``) as SQL: a constant, or a ``CASE`` on the
    zone columns for a local-time schedule (NULL for a span not among ``classes``; default: every
    known class). The arithmetic is done here: SQLite has no time zones and no interval type."""
    now = now or timezone.now()
    if _instant_is_fixed(campaign):
        moment = scheduled_moment(campaign, zone_class("", ""), now=now) + shift
        return Value(moment, output_field=DateTimeField())
    values = {c: scheduled_moment(campaign, c, now=now) + shift for c in _classes(classes)}
    whens = [When(q, then=Value(moment)) for q, moment in zone_class_conditions(values)]
    return Case(*whens, default=Value(None), output_field=DateTimeField())


def inside_sending_hours_q(at: datetime, *, classes: Iterable[ZoneClass] | None = None) -> Q:
    """Contacts for whom ``at`` is inside the sending hours in every zone they may be in.

    Both ends of the span inside (two ``IN`` lists over the zones, computed here), minus the wide
    spans whose inner zones are outside at that instant. A span not among ``classes`` is judged
    by its ends.
    """
    hours = parse_sending_hours(settings.MARKETING_SENDING_HOURS)
    if hours is None:
        return Q(pk__isnull=False)
    classes = _classes(classes)
    ends = {z for c in classes for z in (c.earliest, c.latest)}
    inside = sorted(z for z in ends if _inside(at, _zone(z or settings.TIME_ZONE), hours))
    q = Q(zone_earliest__in=inside, zone_latest__in=inside)
    for c in classes:
        if not c.single and c.earliest in inside and c.latest in inside and not inside_sending_hours(c, at):
            q &= ~c.q
    return q


def held_for_quiet_hours_q(
    campaign: Campaign, *, now: datetime | None = None, classes: Iterable[ZoneClass] | None = None
) -> Q:
    """Contacts whose scheduled moment falls in quiet hours (marketing): they wait, or never go."""
    now = now or timezone.now()
    held = [
        c
        for c in _classes(classes)
        if class_timing(campaign, c, now=now, marketing=True).go_at
        != (scheduled_moment(campaign, c, now=now))
    ]
    if not held:
        return Q(pk__in=[])
    q = Q(pk__in=[])
    for condition, _ in zone_class_conditions({c: True for c in held}):
        q |= condition
    return q
