"""The global send rate (WHATSAPP_MESSAGES_PER_SECOND), shared by every worker on every host.

A slot reservation, not a token bucket: one atomic statement moves the key's next free slot to
``max(next_at, now) + 1/rate`` and returns the slot it reserved; the caller sleeps until then and
sends. Consecutive sends are therefore never closer than ``1/rate`` apart at the source, whatever
the number of workers, and an idle limiter does not save up a burst.

Where the slot lives:

- Redis (``REDIS_URL`` set): a Lua script, atomic in Redis, on Redis's clock.
- PostgreSQL: one ``UPDATE … RETURNING`` of the ``RateLimiterSlot`` row on the database's clock
  (``clock_timestamp()``), so hosts whose clocks disagree still agree on the slots.
- SQLite (the embedded demo, one machine): the same ``UPDATE … RETURNING``; the write lock
  serialises it, and the clock is the machine's.

The reservation runs in autocommit (outside any transaction): the row lock is held for one
statement only.

A batch sender takes the slots of a whole sub-batch at once (:func:`reserve_many`): the same
statement moves the next free slot by ``n/rate`` and the sub-batch's slots are ``start + i/rate``.
Whoever reserves next starts after them, so across all workers no two slots are closer than
``1/rate`` and no one-second window holds more than ``rate`` slots. A campaign's own cap is a second
key (``campaign:<id>``); :func:`reserve_for` takes from both.

Slots are kept on the limiter's clock (the database's or Redis's) and handed out as local
``time.time()`` instants: the offset of each slot from the limiter's "now" (read in the same
statement) is added to the local time read once the statement returned. The local instant is
therefore never earlier than the limiter's; the spacing of one sub-batch is exact, and between two
sub-batches of different workers it can differ from the limiter's by the difference of their
statements' round trips (a millisecond or two).
"""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.db import connection

from messaging.models import RateLimiterSlot

# Meta's 130429 says we are over the throughput limit: everyone pauses this long.
THROUGHPUT_PENALTY_SECONDS = 1.0


def limiter_key() -> str:
    """One limiter per business phone number, as Meta's throughput is per number."""
    return f"messages:{settings.WHATSAPP_PHONE_NUMBER_ID}"


def reserve(*, key: str | None = None, rate: float | None = None) -> float:
    """Reserve the next send slot; return how many seconds to wait for it (0 when it is now)."""
    key = key or limiter_key()
    rate = rate or settings.WHATSAPP_MESSAGES_PER_SECOND
    slot, now = _advance(key, 1.0 / rate)
    return max(0.0, slot - now)


def reserve_many(n: int, *, key: str | None = None, rate: float | None = None) -> list[float]:
    """Reserve ``n`` consecutive slots in one atomic statement; their local ``time.time()`` instants.

    The slots are ``1/rate`` apart; the first is now when the limiter is idle. The caller sends
    request ``i`` no earlier than slot ``i`` (``send_many(..., not_before=slots)``).
    """
    slots, now = _reserve_slots(
        n, key=key or limiter_key(), rate=rate or settings.WHATSAPP_MESSAGES_PER_SECOND
    )
    return _as_local(slots, now)


def reserve_for(n: int, *, campaign_id: int | None = None, campaign_rate: float | None = None) -> list[float]:
    """Slots for ``n`` sends that respect the global rate and, when given, the campaign's own cap.

    Without a cap this is :func:`reserve_many`. With one, the campaign's slots (key
    ``campaign:<id>``, ``1/campaign_rate`` apart) are reserved first and the global ones after, in a
    block placed no earlier than needed for every global slot to be at or after the campaign slot of
    the same send: each send leaves at the later of its pair, which is always its global slot. So a
    send never leaves at an instant the global limiter did not give to it (leaving after one's global
    slot, at the campaign's, would take a place another worker holds in the global rate).

    When that block would start in the future (the campaign's cap, not the global rate, is what the
    sub-batch waits for), this call first sleeps until then: booking global time ahead would keep
    everyone else — replies, other campaigns — out of it until the campaign's sends leave. The wait
    is one the sub-batch's requests would wait anyway. Within a sub-batch the sends leave at the
    global rate towards the end of their campaign slots, so the cap holds over each sub-batch's span;
    for a cap that also holds in every second, keep a capped campaign's sub-batch at most its cap.
    """
    slots, now = _slots_for(n, campaign_id=campaign_id, campaign_rate=campaign_rate)
    return _as_local(slots, now)


def _slots_for(n: int, *, campaign_id: int | None, campaign_rate: float | None) -> tuple[list[float], float]:
    """:func:`reserve_for` on the limiter's clock: the slots and the limiter's "now"."""
    rate = settings.WHATSAPP_MESSAGES_PER_SECOND
    if campaign_id is None or campaign_rate is None:
        return _reserve_slots(n, key=limiter_key(), rate=rate)
    if campaign_rate <= 0:
        raise ValueError(f"campaign_rate must be positive, got {campaign_rate}")
    campaign, campaign_now = _reserve_slots(n, key=f"campaign:{campaign_id}", rate=campaign_rate)
    if not campaign:
        return [], 0.0
    # The earliest global start G with G + i/rate >= campaign[i] for every i.
    lowest = max(slot - i / rate for i, slot in enumerate(campaign))
    if lowest > campaign_now:
        time.sleep(lowest - campaign_now)
    return _reserve_slots(n, key=limiter_key(), rate=rate, not_before=lowest)


def _reserve_slots(n: int, *, key: str, rate: float, not_before: float = 0.0) -> tuple[list[float], float]:
    """``n`` slots ``1/rate`` apart, none before ``not_before``, on the limiter's clock; and its "now"."""
    if n < 0:
        raise ValueError(f"cannot reserve {n} slots; n must be 0 or more")
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if n == 0:
        return [], 0.0
    start, now = _advance(key, n / rate, not_before=not_before)
    return [start + i / rate for i in range(n)], now


def _as_local(slots: list[float], now: float) -> list[float]:
    """The limiter's instants as local ``time.time()`` ones, read after the reservation (never earlier)."""
    local_now = time.time()
    return [local_now + (slot - now) for slot in slots]


def slow_down(seconds: float = THROUGHPUT_PENALTY_SECONDS, *, key: str | None = None) -> None:
    """No slot before ``seconds`` from now (Meta answered 130429: over the throughput limit).

    A floor, not a step: the 130429s of one burst come together (a sub-batch's answers), and each
    of them moving the next slot on by the penalty would pause every worker for as many
    penalties as there were answers."""
    _advance(key or limiter_key(), 0.0, after=seconds)


def _advance(key: str, step: float, *, not_before: float = 0.0, after: float = 0.0) -> tuple[float, float]:
    """Atomically ``next_at = max(next_at, now + after, not_before) + step``; returns (reserved slot,
    now) in one clock (the limiter's: ``not_before`` is on it too)."""
    if settings.REDIS_URL:
        return _advance_redis(key, step, not_before, after)
    return _advance_database(key, step, not_before, after)


# --- Database ---------------------------------------------------------------------------------


def _advance_database(key: str, step: float, not_before: float, after: float) -> tuple[float, float]:
    table = connection.ops.quote_name(RateLimiterSlot._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} SET next_at = "
            f"GREATEST(next_at, EXTRACT(EPOCH FROM clock_timestamp()) + %s, %s) + %s "
            f"WHERE key = %s RETURNING next_at - %s, EXTRACT(EPOCH FROM clock_timestamp())"
        )
        params: list = [after, not_before, step, key, step]
    else:
        now = time.time()
        sql = (
            f"UPDATE {table} SET next_at = MAX(next_at, %s, %s) + %s "
            f"WHERE key = %s RETURNING next_at - %s, %s"
        )
        params = [now + after, not_before, step, key, step, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            # First use of this key: create the row (a concurrent creator wins harmlessly), then retry.
            RateLimiterSlot.objects.get_or_create(key=key)
            cursor.execute(sql, params)
            row = cursor.fetchone()
    return float(row[0]), float(row[1])


# --- Redis ------------------------------------------------------------------------------------

_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(nxt, now + tonumber(ARGV[3]), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], string.format('%.6f', slot + tonumber(ARGV[1])), 'EX', 3600)
return {string.format('%.6f', slot), string.format('%.6f', now)}
"""


@functools.lru_cache(maxsize=4)
def _redis_script(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client.register_script(_LUA)


def _advance_redis(key: str, step: float, not_before: float, after: float) -> tuple[float, float]:
    script = _redis_script(settings.REDIS_URL)
    slot, now = script(keys=[f"whatsapp:limiter:{key}"], args=[repr(step), repr(not_before), repr(after)])
    return float(slot), float(now)
