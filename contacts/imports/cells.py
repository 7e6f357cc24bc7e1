"""What a cell of an import says: yes/no words, dates, numbers, language and time-zone codes.

Each reader returns the value or raises ``CellError`` with the sentence that ends "…is not a
…" for the row's reason; staging names the column and the value in front of it. The accepted
forms are listed in docs/imports.md ("What cells may hold").
"""

from __future__ import annotations

import math
import re
import zoneinfo
from datetime import date, datetime, time
from functools import cache, lru_cache

from django.utils import timezone

from contacts.languages import META_LANGUAGES

# docs/imports.md: the words an opt-in cell may hold (English, German, Spanish, Portuguese, French).
YES_WORDS = frozenset(
    {"yes", "y", "true", "1", "x", "ja", "j", "si", "sí", "sim", "oui", "opt-in", "opt in", "opted in"}
)
NO_WORDS = frozenset({"", "no", "n", "false", "0", "nein", "non", "não", "nao"})

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})([./])(\d{1,2})\2(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


class CellError(ValueError):
    """A cell that does not hold what its column says; ``code`` is the row's refusal code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def yes_or_no(text: str) -> bool:
    """True for an opt-in word, False for blank or a no word; CellError for anything else."""
    word = text.strip().lower()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    raise CellError(
        "unknown_value",
        "is neither yes nor no: write yes, ja, sí, sim, oui, x or 1 for an opt-in, and leave the "
        "cell blank or write no for none",
    )


def parse_moment(text: str, *, zone: str | None = None) -> tuple[datetime, bool]:
    """(aware datetime, whether a time of day was given) from a date cell; CellError if it is none.

    Accepted: 2025-03-01, 2025-03-01 14:30[:00], 2025-03-01T14:30:00+01:00, 01.03.2025 and
    01/03/2025 (day first, as in Europe and Latin America), each with an optional HH:MM[:SS].
    A time without a zone is in ``zone`` (default: the current time zone, settings.TIME_ZONE); a
    date alone is the start of that day there.
    """
    return _moment(text.strip(), zone or timezone.get_current_timezone_name())


@lru_cache(maxsize=4096)
def _moment(value: str, zone: str) -> tuple[datetime, bool]:
    """``parse_moment`` for one text in one zone: a file repeats its dates, so each is read once."""
    day_part, _, time_part = value.replace("T", " ", 1).partition(" ")
    if match := _ISO_DATE.fullmatch(day_part):
        year, month, day = match.groups()
    elif match := _DAY_FIRST.fullmatch(day_part):
        day, _, month, year = match.groups()
    else:
        raise CellError(
            "bad_date", "is not a date: write it as 2025-03-01, 01.03.2025 or 01/03/2025 (day first)"
        )
    try:
        day_value = date(int(year), int(month), int(day))
    except ValueError as exc:
        raise CellError(
            "bad_date",
            "is not a date of the calendar (dates with / or . are read day first: 01/03/2025 is "
            "1 March 2025)",
        ) from exc
    time_part = time_part.strip()
    where = zoneinfo.ZoneInfo(zone)
    if not time_part:
        return timezone.make_aware(datetime.combine(day_value, time()), where), False
    return _with_time(day_value, time_part, value, where), True


def _with_time(day_value: date, time_part: str, whole: str, where: zoneinfo.ZoneInfo) -> datetime:
    if _TIME.fullmatch(time_part) is None:
        # A zone or offset: let the ISO reader have the whole value.
        try:
            moment = datetime.fromisoformat(whole.replace(" ", "T", 1))
        except ValueError:
            moment = None
        if moment is None or moment.date() != day_value:
            raise CellError("bad_date", "has a time that cannot be read: write it as 14:30 or 14:30:00")
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment, where)
    hours, minutes, seconds, fraction = _TIME.fullmatch(time_part).groups()
    try:
        clock = time(int(hours), int(minutes), int(seconds or 0), int((fraction or "0").ljust(6, "0")))
    except ValueError as exc:
        raise CellError("bad_date", "has a time of day that does not exist") from exc
    return timezone.make_aware(datetime.combine(day_value, clock), where)


def parse_number(text: str) -> int | float:
    """A number cell: 42, -3, 12.5 or 12,5 (one decimal separator, no thousands separator)."""
    value = text.strip()
    if _NUMBER.fullmatch(value) is None:
        raise CellError(
            "unknown_value", "is not a number (write 1234.5 or 1234,5, without thousands separators)"
        )
    number = float(value.replace(",", "."))
    if not math.isfinite(number):  # 1e999
        raise CellError("unknown_value", "is too large a number")
    if re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    return number


def parse_boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    raise CellError("unknown_value", "is neither yes nor no (write yes, no, true, false, 1 or 0)")


def language_code(text: str) -> str:
    """Meta's code for a language cell: case and - or _ as written (pt-br, PT_BR → pt_BR).

    A regional code Meta does not list falls back to its language (de-DE → de) when Meta lists that.
    """
    codes = _language_codes()
    key = text.strip().replace("-", "_").lower()
    if key in codes:
        return codes[key]
    base = key.split("_", 1)[0]
    if base != key and base in codes:
        return codes[base]
    raise CellError(
        "unknown_language",
        "is not a language code WhatsApp templates use, such as de, en_US or pt_BR",
    )


def time_zone_name(text: str) -> str:
    """The IANA name of a time-zone cell, whatever its case (europe/berlin → Europe/Berlin)."""
    zone = _time_zones().get(text.strip().lower())
    if zone is None:
        raise CellError("bad_time_zone", "is not a time zone name such as Europe/Berlin")
    return zone


@cache
def _language_codes() -> dict[str, str]:
    return {code.lower(): code for code in META_LANGUAGES}


@cache
def _time_zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}
