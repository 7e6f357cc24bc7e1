"""Per-key throttling: a fixed-window counter in the database, shared by every web process.

DRF's ``SimpleRateThrottle`` keeps a list of timestamps in the cache and writes it back after
reading it, so two calls at once both read N and both write N+1: under concurrency a few calls
too many get through, and with the database cache (``BaseCache.incr`` is a get and a set too)
even ``cache.incr`` has that race. Here one statement counts the call and answers the new count
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so concurrent calls are counted one by one
on PostgreSQL and SQLite alike, whichever cache is configured; never in process memory.

A fixed window lets a key make up to twice its rate across a window boundary; that is the price
of one statement per call. The statement runs in autocommit (the API does not wrap requests in a
transaction), so its row lock is held for that statement only and calls with one key never wait
for each other. When a key's new window opens, its older windows are deleted.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from api.authentication import ApiClient
from api.models import RateWindow

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_COUNT = (
    f"INSERT INTO {RateWindow._meta.db_table} (key_id, window_start, calls) VALUES (%s, %s, 1) "
    f"ON CONFLICT (key_id, window_start) DO UPDATE SET calls = {RateWindow._meta.db_table}.calls + 1 "
    "RETURNING calls"
)


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate spelling ("600/min", "20/s", "10000/day") as (calls, seconds)."""
    calls, _, period = rate.partition("/")
    return int(calls), _PERIODS[period.strip()[0]]


def count_call(key_id: int, window: int) -> int:
    """Count one call of key ``key_id`` in ``window``; the calls counted there so far, this one included."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [key_id, window])
        calls = cursor.fetchone()[0]
    if calls == 1:  # a new window: the key's older ones are done with
        RateWindow.objects.filter(key_id=key_id, window_start__lt=window).delete()
    return calls


class KeyRateThrottle(BaseThrottle):
    """At most ``API_THROTTLE_RATE`` calls per key per window; 429 with ``Retry-After`` beyond."""

    def __init__(self):
        self.retry_after: float | None = None

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.user, ApiClient):
            return True  # refused by authentication anyway
        limit, period = parse_rate(settings.API_THROTTLE_RATE)
        now = time.time()
        window = int(now // period) * period
        if count_call(request.user.key.pk, window) <= limit:
            return True
        self.retry_after = window + period - now
        return False

    def wait(self) -> float | None:
        return self.retry_after
