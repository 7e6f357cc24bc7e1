"""Quiet hours: marketing goes only inside the sending hours in every zone the person may be in."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from contacts.models import Contact
from contacts.phones import time_zones_for_phone
from messaging.models import HoldReason
from messaging.sending.verdicts import GO, SkipReason, Verdict, hold, skip

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@functools.lru_cache(maxsize=8)
def parse_sending_hours(value: str) -> tuple[time, time] | None:
    """``"09:00-20:00"`` → (start, end); empty → None (no quiet hours).

    An ``end`` before ``start`` spans midnight."""
    if not (value or "").strip():
        return None
    match = _HOURS.match(value)
    if not match:
        raise ImproperlyConfigured(f"MARKETING_SENDING_HOURS must look like 09:00-20:00, got {value!r}.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MARKETING_SENDING_HOURS has an impossible time: {value!r}.") from exc


def contact_time_zones(contact: Contact) -> tuple[str, ...]:
    """The contact's zone, else every zone phonenumbers gives for the number, else the site's zone."""
    if contact.time_zone:
        return (contact.time_zone,)
    number = contact.phone or (("+" + contact.wa_id.lstrip("+")) if contact.wa_id else "")
    zones = ()
    if number:
        try:
            zones = time_zones_for_phone(number)
        except Exception:  # an unparsable wa_id: fall back to the site's zone
            zones = ()
    return zones or (settings.TIME_ZONE,)


def _inside(moment: datetime, zone: ZoneInfo, hours: tuple[time, time]) -> bool:
    start, end = hours
    local = moment.astimezone(zone).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_verdict(contact: Contact, now: datetime) -> Verdict:
    """Marketing goes only when it is inside the sending hours in *every* zone the person may be in."""
    hours = parse_sending_hours(settings.MARKETING_SENDING_HOURS)
    if hours is None:
        return Verdict(GO)
    zones = [ZoneInfo(name) for name in contact_time_zones(contact)]
    if all(_inside(now, zone, hours) for zone in zones):
        return Verdict(GO)
    until = next_common_sending_time(zones, hours, now)
    names = ", ".join(z.key for z in zones)
    if until is None:
        return skip(
            SkipReason.NO_COMMON_SENDING_HOURS,
            f"The number's time zones ({names}) share no sending hours; set the contact's time zone.",
        )
    return hold(HoldReason.QUIET_HOURS, until, f"Quiet hours at the recipient ({names}).")


def next_common_sending_time(
    zones: list[ZoneInfo], hours: tuple[time, time], now: datetime, days: int = 3
) -> datetime | None:
    """The earliest instant after ``now`` inside the sending hours in every zone (None if none soon).

    The common window, if any, opens when the last of the zones opens, so the candidates are
    each zone's local opening times over the next few days.
    """
    start = hours[0]
    candidates = set()
    for zone in zones:
        today = now.astimezone(zone).date()
        for offset in range(-1, days + 1):
            day = date.fromordinal(today.toordinal() + offset)
            candidate = datetime.combine(day, start, tzinfo=zone)
            if candidate > now:
                candidates.add(candidate.astimezone(UTC))
    for candidate in sorted(candidates):
        if all(_inside(candidate, zone, hours) for zone in zones):
            return candidate
    return None
