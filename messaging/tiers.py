"""Meta's messaging tiers: the names, the limit each stands for, and reading a reported value.

One vocabulary for the setting (``WHATSAPP_MESSAGING_LIMIT``), the ``business_capability_update``
webhook and the budget (docs/meta-facts.md 3.3).
"""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

# Meta's tier names (its messaging-limits page, docs/webhooks.md) and the limit each stands for;
# None is unlimited.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1000,
    "TIER_2K": 2000,
    "TIER_10K": 10000,
    "TIER_100K": 100000,
    "TIER_UNLIMITED": None,
    "UNLIMITED": None,
}
_TIER_NAME = re.compile(r"^TIER_(\d+)(K?)$")


def parse_tier(raw) -> tuple[str, int | None] | None:
    """("TIER_2K", 2000) from "TIER_2K", 2000, "2000" or "UNLIMITED"; None when unreadable.

    Meta documents the tier names for the phone-number field and a number for the portfolio
    field; neither shape is pinned down for every version, so both are read.
    """
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            return None  # NaN and infinities are no limit (read_json keeps them as text anyway)
        if raw < 0:
            return "TIER_UNLIMITED", None  # a negative limit is read as "no limit"
        return _tier_for_number(int(raw))
    name = str(raw).strip().upper()
    if name.lstrip("-").isascii() and name.lstrip("-").isdigit():  # not "²": int() refuses it
        try:
            return parse_tier(int(name))
        except ValueError:  # more digits than Python converts: no real limit
            return None
    if name in TIER_LIMITS:
        return name, TIER_LIMITS[name]
    match = _TIER_NAME.match(name)
    if match:
        return name, int(match.group(1)) * (1000 if match.group(2) else 1)
    return None


def tier_limit(value: str) -> int | None:
    """The setting's tier name (``TIER_250``, ``TIER_2K``, ``TIER_UNLIMITED``) or number → the limit.

    None is unlimited; anything else stops start-up's first budget check with the variable named.
    """
    parsed = parse_tier((value or "").strip())
    if parsed is None:
        raise ImproperlyConfigured(
            f"WHATSAPP_MESSAGING_LIMIT: unknown WhatsApp messaging limit {value!r}; "
            "use e.g. TIER_250 or TIER_2K."
        )
    return parsed[1]


def _tier_for_number(limit: int) -> tuple[str, int | None]:
    for name, known in TIER_LIMITS.items():
        if known == limit:
            return name, limit
    return f"TIER_{limit}", limit
