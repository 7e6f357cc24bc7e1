"""Reading Meta's webhook envelope defensively: every field may be missing or of the wrong type.

Meta documents the shapes (its webhook reference, linked from docs/webhooks.md), but a signed
body is stored whatever it holds, so processing reads it with these small readers instead of
trusting it: a wrong type reads as empty and the item is skipped, never an exception that would
fail the whole event. Numbers JSON can write but Python or the database cannot hold (``1e400``,
``NaN``, an integer of 5,000 digits) are read as the text they were written as: kept as given,
never raising.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Meta's timestamps are unix seconds; anything outside this range is not a real message time.
_EARLIEST = 946684800  # 2000-01-01
_LATEST = 4102444800  # 2100-01-01
_RISKY_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])")


@dataclass(frozen=True)
class Change:
    """One ``entry[].changes[]`` item: the field it reports on and its value."""

    field: str
    value: dict[str, Any]
    entry_id: str
    entry_time: dt.datetime | None
    index: int = 0  # its place among all the body's changes: part of a signal's identity


def read_json(body: bytes) -> Any:
    """The body as JSON, numbers out of Python's or the database's reach kept as their text.

    ``json.loads`` reads ``1e400`` as infinity (which ``int()`` refuses and PostgreSQL's jsonb
    cannot store), accepts ``NaN``/``Infinity`` and refuses integers longer than 4,300 digits;
    each would fail the whole event. Raises ``ValueError`` for a body that is not JSON at all.
    """
    return json.loads(body, parse_float=_float_or_text, parse_int=_int_or_text, parse_constant=str)


def _float_or_text(literal: str) -> float | str:
    number = float(literal)
    return number if math.isfinite(number) else literal


def _int_or_text(literal: str) -> int | str:
    try:
        return int(literal)
    except ValueError:  # longer than Python converts (sys.get_int_max_str_digits)
        return literal


def changes_of(payload: Any) -> Iterator[Change]:
    """Every change of every entry, numbered in order; anything that is not an object is skipped."""
    if not isinstance(payload, dict):
        return
    index = 0
    for entry in as_list(payload.get("entry")):
        if not isinstance(entry, dict):
            continue
        entry_time = unix_time(entry.get("time"))
        for change in as_list(entry.get("changes")):
            if not isinstance(change, dict):
                continue
            value = change.get("value")
            yield Change(
                field=text(change.get("field")),
                value=value if isinstance(value, dict) else {},
                entry_id=text(entry.get("id")),
                entry_time=entry_time,
                index=index,
            )
            index += 1


def storable(value: Any) -> Any:
    """``value`` with strings PostgreSQL can store: no U+0000, no lone surrogate halves.

    JSON may carry both escaped (``\\u0000``, a lone ``\\ud83c``); the raw body keeps them, what we
    store from it drops the NUL and replaces the half with U+FFFD.
    """
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def needs_cleaning(body: bytes) -> bool:
    """Whether the raw JSON escapes a NUL or a surrogate (checked on bytes: it is rare and cheap)."""
    return _RISKY_ESCAPE.search(body) is not None


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def text(value: Any, limit: int | None = None) -> str:
    """A string field as text ("" when missing or not a scalar), cut to ``limit`` characters."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return ""
    result = str(value)
    return result[:limit] if limit is not None else result


def unix_time(value: Any) -> dt.datetime | None:
    """Meta's unix timestamp (string or number) as an aware datetime; None when absent or absurd."""
    try:
        seconds = int(str(value).strip()) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None
    if seconds is None or not _EARLIEST <= seconds <= _LATEST:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
