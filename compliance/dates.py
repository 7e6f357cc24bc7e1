"""The dates the compliance reports accept: 1900-01-01 to 9998-12-31.

Python's ``datetime`` ends at year 1 and year 9999, and a report turns a day into an instant by
adding a day (an inclusive end) or converting the shop's time zone to UTC: at the calendar's edges
that overflowed into a 500. No consent event or message is dated outside this range, so refusing
such a date with a message loses no question a regulator can ask.
"""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError

EARLIEST = date(1900, 1, 1)
LATEST = date(9998, 12, 31)
OUT_OF_RANGE = f"Dates must fall between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}."


def in_range(value: date | datetime | None) -> bool:
    if value is None:
        return True
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


def validate_in_range(value: date | datetime | None) -> None:
    """A form field's validator: the date (or the instant's day) within ``EARLIEST``–``LATEST``."""
    if not in_range(value):
        raise ValidationError(f"{OUT_OF_RANGE} “{value:%Y-%m-%d}” is not.", code="date_out_of_range")
