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


def acquire(*, key: str | None = None, rate: float | None = None) -> float:
    """Reserve a slot and sleep until it; returns the seconds waited."""
    wait = reserve(key=key, rate=rate)
    if wait > 0:
        time.sleep(wait)
    return wait


def slow_down(seconds: float = THROUGHPUT_PENALTY_SECONDS, *, key: str | None = None) -> None:
    """Push every later slot back by ``seconds`` (Meta answered 130429: over the throughput limit)."""
    _advance(key or limiter_key(), seconds)


def _advance(key: str, step: float) -> tuple[float, float]:
    """Atomically ``next_at = max(next_at, now) + step``; returns (reserved slot, now) in one clock."""
    if settings.REDIS_URL:
        return _advance_redis(key, step)
    return _advance_database(key, step)


# --- Database ---------------------------------------------------------------------------------


def _advance_database(key: str, step: float) -> tuple[float, float]:
    table = connection.ops.quote_name(RateLimiterSlot._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} SET next_at = GREATEST(next_at, EXTRACT(EPOCH FROM clock_timestamp())) + %s "
            f"WHERE key = %s RETURNING next_at - %s, EXTRACT(EPOCH FROM clock_timestamp())"
        )
        params: list = [step, key, step]
    else:
        now = time.time()
        sql = f"UPDATE {table} SET next_at = MAX(next_at, %s) + %s WHERE key = %s RETURNING next_at - %s, %s"
        params = [now, step, key, step, now]
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
local slot = math.max(nxt, now)
redis.call('SET', KEYS[1], string.format('%.6f', slot + tonumber(ARGV[1])), 'EX', 3600)
return {string.format('%.6f', slot), string.format('%.6f', now)}
"""


@functools.lru_cache(maxsize=4)
def _redis_script(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client.register_script(_LUA)


def _advance_redis(key: str, step: float) -> tuple[float, float]:
    script = _redis_script(settings.REDIS_URL)
    slot, now = script(keys=[f"whatsapp:limiter:{key}"], args=[repr(step)])
    return float(slot), float(now)
