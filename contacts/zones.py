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
through :func:`zone_span`, set-based writers through :func:`refresh_zone_spans`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def zone_span(*, phone: str | None, wa_id: str | None, time_zone: str | None) -> tuple[str, str]:
    """(earliest, latest) for a contact with these identifiers (see the module docstring)."""
    if time_zone:
        return span_of([time_zone])
    number = phone or (equivalent_numbers(wa_id)[0] if equivalent_numbers(wa_id) else "")
    if not number:
        return "", ""
    try:
        return span_of(time_zones_for_phone(number))
    except Exception:  # a wa_id phonenumbers cannot parse: nothing is known
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
