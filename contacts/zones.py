"""The time zones a contact may be in, stored on the contact so SQL can use them.

A contact's own ``time_zone`` wins; otherwise a number may span several zones (+1 is the whole of
North America, +7 all of Russia), and phonenumbers lists them. Quiet hours must hold in *every*
zone the person may be in, and a "10:00 at the recipient" schedule must not reach anyone before
10:00, so the contact keeps the two extremes:

* ``zone_earliest`` — the zone where a given local time comes first (the largest UTC offset);
* ``zone_latest`` — the zone where it comes last (the smallest UTC offset).

A window such as 09:00–20:00 holds in every zone of the span when it holds in both ends, and
"10:00 everywhere" is 10:00 in ``zone_latest``. The ends are ordered by their UTC offset on a
fixed reference day, so the same number always gives the same pair whatever the season; the few
zones that move across each other with daylight saving are minutes apart in the case that
matters. Both are empty when nothing is known; readers then use the site's ``TIME_ZONE``.

Every write path that changes ``phone``, ``wa_id`` or ``time_zone`` refreshes them: ``Contact.save``
through :func:`zone_span`, writers that ``UPDATE`` a few contacts (merges, WhatsApp's identity
answers, phone changes) through :func:`refresh_zone_spans`, and an import with the span staging
computed for each row from the number it parsed (:func:`number_span`), in its INSERT and UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonenumberutil import is_number_type_geographical
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from contacts.phones import equivalent_numbers, time_zones_for_phone

# Offsets are compared on one fixed instant (northern winter), so the order never depends on
# when the span was computed.
_REFERENCE = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@lru_cache(maxsize=1024)
def _offset(zone: str):
    try:
        return _REFERENCE.astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None


def span_of(zones: Iterable[str]) -> tuple[str, str]:
    """(earliest, latest) of ``zones`` by UTC offset; ``("", "")`` when none is a known zone."""
    known = sorted({z for z in zones if z and _offset(z) is not None}, key=lambda z: (_offset(z), z))
    if not known:
        return "", ""
    return known[-1], known[0]


@lru_cache(maxsize=512)
def _span_of_zones(zones: tuple[str, ...]) -> tuple[str, str]:
    return span_of(zone for zone in zones if zone != phone_timezone.UNKNOWN_TIMEZONE)


def zone_span(*, phone: str | None, wa_id: str | None, time_zone: str | None) -> tuple[str, str]:
    """(earliest, latest) for a contact with these identifiers (see the module docstring).

    A wa_id alone is read in each of its forms until one has zones: Meta's form of a Brazilian
    mobile without its ninth digit (or a Mexican one with the 1) is not a valid number, and has
    none of its own.
    """
    if time_zone:
        return span_of([time_zone])
    numbers = [phone] if phone else equivalent_numbers(wa_id)
    for number in numbers:
        try:
            span = _span_of_zones(time_zones_for_phone(number))
        except phonenumbers.NumberParseException:  # nothing phonenumbers can read: nothing known
            continue
        if span != ("", ""):
            return span
    return "", ""


def number_span(number: phonenumbers.PhoneNumber, e164: str, kind: int) -> tuple[str, str]:
    """``zone_span`` of a valid number just parsed, whose type (``number_type``) is known.

    phonenumbers' ``time_zones_for_number`` looks the type up again, which costs as much as the
    validity check the parse made: an import reads a hundred thousand numbers. With the type
    given, the zones are a dictionary look-up: the number's longest listed prefix for a fixed
    line (or a mobile where mobiles are local), else its calling code's. Both are kept per
    prefix, as the prefixes listed are few.
    """
    code = number.country_code
    if not is_number_type_geographical(kind, code):
        return _country_span(code)
    return _prefix_span(e164[1 : 1 + _longest_prefix(code)])


@lru_cache(maxsize=8192)
def _prefix_span(digits: str) -> tuple[str, str]:
    """The span of the longest listed prefix of ``digits`` (a number's first digits)."""
    for size in range(len(digits), 0, -1):
        zones = TIMEZONE_DATA.get(digits[:size])
        if zones is not None:
            return _span_of_zones(zones)
    return "", ""


@lru_cache(maxsize=512)
def _longest_prefix(country_code: int) -> int:
    """The longest prefix listed for numbers of this calling code (most list the code alone)."""
    code = str(country_code)
    return max((len(key) for key in TIMEZONE_DATA if key.startswith(code)), default=TIMEZONE_LONGEST_PREFIX)


@lru_cache(maxsize=512)
def _country_span(country_code: int) -> tuple[str, str]:
    code = str(country_code)
    for size in range(TIMEZONE_LONGEST_PREFIX + 1, 1, -1):  # as phonenumbers looks a code up
        zones = TIMEZONE_DATA.get(code[:size])
        if zones is not None:
            return _span_of_zones(zones)
    return "", ""


def refresh_zone_spans(contact_ids: Iterable[int]) -> int:
    """Recompute the stored span of these contacts; returns how many changed.

    For writers that change identifiers with ``UPDATE`` or raw SQL (imports, merges, WhatsApp's
    answers). Reads the three inputs in one query and writes only rows whose span moved.
    """
    from contacts.models import Contact

    ids = list(contact_ids)
    changed = []
    for start in range(0, len(ids), 2000):
        rows = Contact.objects.filter(pk__in=ids[start : start + 2000]).only(
            "pk", "phone", "wa_id", "time_zone", "zone_earliest", "zone_latest"
        )
        for contact in rows:
            span = zone_span(phone=contact.phone, wa_id=contact.wa_id, time_zone=contact.time_zone)
            if span != (contact.zone_earliest, contact.zone_latest):
                contact.zone_earliest, contact.zone_latest = span
                changed.append(contact)
    Contact.objects.bulk_update(changed, ["zone_earliest", "zone_latest"], batch_size=1000)
    return len(changed)
