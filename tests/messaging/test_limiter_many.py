"""Slots for a whole sub-batch at once (reserve_many, reserve_for): one atomic statement per key,
and across every worker no two slots closer than 1/rate."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from messaging.models import RateLimiterSlot
from messaging.sending import limiter

ROOT = Path(__file__).resolve().parents[2]
EPSILON = 1e-6  # Redis keeps the next slot to the microsecond

# Long intervals, as in test_limiter.py: no assertion depends on how fast this process runs.
STEP = 10.0


def key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


def next_free(name: str) -> float:
    """The key's next free slot on the limiter's clock (a reservation of zero length)."""
    return limiter._advance(name, 0.0)[0]


def assert_a_sub_batch_is_consecutive_slots_and_the_next_one_follows() -> None:
    name = key()
    first, now = limiter._reserve_slots(5, key=name, rate=1 / STEP)
    assert 0 <= now - first[0] < 1  # an idle key's first slot is now
    assert [b - a for a, b in itertools.pairwise(first)] == pytest.approx([STEP] * 4, abs=EPSILON)
    second, _ = limiter._reserve_slots(3, key=name, rate=1 / STEP)
    assert second[0] == pytest.approx(first[-1] + STEP, abs=EPSILON)
    assert next_free(name) == pytest.approx(second[-1] + STEP, abs=EPSILON)

    # The public form: local time.time() instants, the same spacing, never before the local clock.
    before = time.time()
    local = limiter.reserve_many(4, key=name, rate=1 / STEP)
    assert [b - a for a, b in itertools.pairwise(local)] == pytest.approx([STEP] * 3, abs=EPSILON)
    assert local[0] >= before + 7 * STEP  # eight slots were reserved before it
    assert limiter.reserve_many(0, key=name, rate=1 / STEP) == []
    with pytest.raises(ValueError, match="n must be 0 or more"):
        limiter.reserve_many(-1, key=name, rate=1.0)


def assert_slow_down_pushes_sub_batches_back() -> None:
    name = key()
    first, _ = limiter._reserve_slots(3, key=name, rate=1 / STEP)
    limiter.slow_down(10 * STEP, key=name)
    limiter.slow_down(10 * STEP, key=name)  # a burst pauses once
    pushed, now = limiter._reserve_slots(2, key=name, rate=1 / STEP)
    assert first[0] + 10 * STEP - EPSILON <= pushed[0] <= now + 10 * STEP + EPSILON


def stored_next(name: str) -> float:
    """The key's stored next free slot, as written (not compared with now)."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        return float(redis.Redis.from_url(settings.REDIS_URL).get(f"whatsapp:limiter:{name}"))
    return RateLimiterSlot.objects.get(key=name).next_at


def assert_reserve_for_keeps_both_rates(settings) -> None:
    # Milliseconds here, as reserve_for sleeps until the global slots are due; assertions are on the
    # limiter's own numbers, never on how long anything took.
    rate, n = 1000.0, 3
    settings.WHATSAPP_PHONE_NUMBER_ID = uuid.uuid4().hex[:12]  # a fresh global key
    settings.WHATSAPP_MESSAGES_PER_SECOND = rate
    campaign_id = uuid.uuid4().int % 10**9
    campaign_key = f"campaign:{campaign_id}"

    # Without a cap: the global slots alone.
    plain, _ = limiter._slots_for(2, campaign_id=None, campaign_rate=None)
    assert plain[1] - plain[0] == pytest.approx(1 / rate, abs=EPSILON)

    # A cap four times slower than the global rate: the campaign's slots are 4 ms apart; the global
    # block is placed so that every global slot is at or after its campaign slot, and taken only
    # once it is due (nothing booked ahead of "now" for others to wait behind).
    cap = rate / 4
    slots, now = limiter._slots_for(n, campaign_id=campaign_id, campaign_rate=cap)
    first = stored_next(campaign_key) - n / cap
    campaign = [first + i / cap for i in range(n)]
    lowest = campaign[-1] - (n - 1) / rate
    assert [b - a for a, b in itertools.pairwise(slots)] == pytest.approx([1 / rate] * 2, abs=EPSILON)
    assert all(slot >= c - EPSILON for slot, c in zip(slots, campaign, strict=True))
    assert now >= lowest - EPSILON  # taken when due
    assert lowest - EPSILON <= slots[0] <= max(lowest, now) + EPSILON  # and no later than needed
    assert stored_next(limiter.limiter_key()) == pytest.approx(slots[-1] + 1 / rate, abs=EPSILON)

    # A cap faster than the global rate: the global slots decide, none before the campaign's first.
    faster, _ = limiter._slots_for(n, campaign_id=campaign_id, campaign_rate=4 * rate)
    assert [b - a for a, b in itertools.pairwise(faster)] == pytest.approx([1 / rate] * 2, abs=EPSILON)
    assert faster[0] >= stored_next(campaign_key) - n / (4 * rate) - EPSILON
    assert faster[0] >= slots[-1] + 1 / rate - EPSILON

    before = time.time()
    local = limiter.reserve_for(n, campaign_id=campaign_id, campaign_rate=cap)
    assert len(local) == n and local[0] >= before
    with pytest.raises(ValueError, match="campaign_rate must be positive"):
        limiter.reserve_for(1, campaign_id=campaign_id, campaign_rate=0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sub_batch_is_consecutive_slots_in_the_database(settings):
    settings.REDIS_URL = ""
    assert_a_sub_batch_is_consecutive_slots_and_the_next_one_follows()
    assert_slow_down_pushes_sub_batches_back()
    assert_reserve_for_keeps_both_rates(settings)


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
    except Exception:
        return None
    return url


@pytest.fixture
def redis_url(settings) -> str:
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis server reachable (set TEST_REDIS_URL)")
    settings.REDIS_URL = url
    return url


def test_a_sub_batch_is_consecutive_slots_in_redis(settings, redis_url):
    assert_a_sub_batch_is_consecutive_slots_and_the_next_one_follows()
    assert_slow_down_pushes_sub_batches_back()
    assert_reserve_for_keeps_both_rates(settings)


# --- Two worker processes reserving at once ---------------------------------------------------

WORKER = r"""
import json, random, sys, time
import django
django.setup()
from messaging.models import RateLimiterSlot
from messaging.sending import limiter

key, rate, rounds, start_at = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(sys.argv[5])
slots = []
time.sleep(max(0.0, start_at - time.time()))
for _ in range(rounds):
    reserved, _ = limiter._reserve_slots(rng.randint(1, 9), key=key, rate=rate)
    slots.extend(reserved)
print(json.dumps(slots))
"""


def run_two_workers(env: dict[str, str], name: str, rate: float, rounds: int = 60) -> list[list[float]]:
    start_at = time.time() + 2.0  # both processes are set up by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, name, str(rate), str(rounds), str(start_at), str(seed)],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT), **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(2)
    ]
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def assert_no_two_slots_closer_than_the_interval(results: list[list[float]], rate: float) -> None:
    union = sorted(itertools.chain.from_iterable(results))
    assert len(union) == sum(len(r) for r in results)
    gaps = [b - a for a, b in itertools.pairwise(union)]
    # So no one-second window holds more than `rate` slots (with float rounding at its edges).
    assert min(gaps) >= 1 / rate - EPSILON, f"two slots {min(gaps):.9f}s apart at {rate}/s"


# A global key at a high rate (the slots lie within a second or two, nobody sleeps) and a
# campaign's own key at its cap: reserve_many works the same for both.
KEYS = [pytest.param("messages", 1000.0, id="global"), pytest.param("campaign", 250.0, id="campaign-cap")]


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(("kind", "rate"), KEYS)
def test_two_processes_reserving_sub_batches_on_postgresql(kind, rate):
    name = f"{kind}:{uuid.uuid4().hex[:12]}"
    results = run_two_workers({"DATABASE_URL": database_url(), "REDIS_URL": ""}, name, rate)
    assert_no_two_slots_closer_than_the_interval(results, rate)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "rate"), KEYS)
def test_two_processes_reserving_sub_batches_on_redis(redis_url, kind, rate):
    name = f"{kind}:{uuid.uuid4().hex[:12]}"
    # Redis answers in microseconds: more rounds, so that the two workers' reservations overlap in time.
    results = run_two_workers({"REDIS_URL": redis_url}, name, rate, rounds=300)
    assert_no_two_slots_closer_than_the_interval(results, rate)
