"""The global send rate: slot reservations in the database or Redis, shared by every worker process."""

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

from messaging.sending import limiter
from tests.sandbox import APP_ID, PHONE_NUMBER_ID, TOKEN, VERSION, WABA_ID, control

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


# The intervals below are long (10 s) so that no assertion depends on how quickly this process makes
# its calls: on a busy machine a stall of tens of milliseconds between two reservations is common,
# and with intervals of 0.1 s it made the waits miss their expected values. Slots and "now" are
# read on the limiter's own clock.
STEP = 10.0


def assert_slots_are_one_interval_apart_and_idle_time_is_not_saved_up() -> None:
    name = key()
    slots = [limiter._advance(name, STEP) for _ in range(5)]
    first, now = slots[0]
    assert 0 <= now - first < 1  # a fresh key's first slot is now (read just before "now")
    for (before, _), (after, _) in itertools.pairwise(slots):
        assert after - before == pytest.approx(STEP, abs=1e-5)
    # The sixth slot is five intervals after the first: the wait is that, less the time spent so far.
    assert 4 * STEP < limiter.reserve(key=name, rate=1 / STEP) <= 5 * STEP

    # Once every slot is past, the next one is now, not a back-dated slot, and the one after it is a
    # full interval later.
    idle = key()
    stale, _ = limiter._advance(idle, 0.001)
    time.sleep(0.01)  # now well past the key's next slot (stale + 0.001)
    slot, now = limiter._advance(idle, STEP)
    assert slot >= stale + 0.01
    assert 0 <= now - slot < 1
    assert STEP - 1 < limiter.reserve(key=idle, rate=1 / STEP) <= STEP


def assert_slow_down_pushes_every_later_slot_back() -> None:
    """No slot inside the pause; a burst of 130429s (several slow_downs at once) pauses once."""
    name = key()
    first, _ = limiter._advance(name, STEP)
    limiter.slow_down(10 * STEP, key=name)
    limiter.slow_down(10 * STEP, key=name)
    pushed, now = limiter._advance(name, STEP)
    assert first + 10 * STEP - 1e-5 <= pushed <= now + 10 * STEP + 1e-5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_slots_are_one_interval_apart_and_idle_time_is_not_saved_up(settings):
    settings.REDIS_URL = ""
    assert_slots_are_one_interval_apart_and_idle_time_is_not_saved_up()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_slow_down_pushes_every_later_slot_back(settings):
    settings.REDIS_URL = ""
    assert_slow_down_pushes_every_later_slot_back()


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
    except Exception:
        return None
    return url


def test_the_redis_script_reserves_the_same_way(settings):
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis server reachable (set TEST_REDIS_URL)")
    settings.REDIS_URL = url
    assert_slots_are_one_interval_apart_and_idle_time_is_not_saved_up()
    assert_slow_down_pushes_every_later_slot_back()


# --- Two worker processes against PostgreSQL and the sandbox -----------------------------------

WORKER = r"""
import os, sys, time
import django
django.setup()
from cloud_api.client import CloudApiClient, CloudApiConfig
from cloud_api.payloads import text_message
from messaging.sending import limiter

key, to = sys.argv[1], sys.argv[5]
rate, count, start_at = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
client = CloudApiClient(CloudApiConfig.from_settings())
time.sleep(max(0.0, start_at - time.time()))
for i in range(count):
    time.sleep(limiter.reserve(key=key, rate=rate))
    outcome = client.send(text_message(to, f"{os.getpid()}-{i}", biz_opaque_callback_data=f"{os.getpid()}"))
    assert type(outcome).__name__ == "Accepted", outcome
"""


def worker_env(sandbox_url: str, **extra: str) -> dict[str, str]:
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@{settings_dict['HOST']}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "DEBUG": "true",
        "WHATSAPP_BACKEND": "cloud",
        "WHATSAPP_API_BASE_URL": sandbox_url,
        "WHATSAPP_API_VERSION": VERSION,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_BUSINESS_ACCOUNT_ID": WABA_ID,
        "WHATSAPP_APP_ID": APP_ID,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_worker_processes_share_one_rate(app_sandbox):
    rate, per_worker = 25, 40
    to = "+4915100001111"
    control(app_sandbox, "window", {"wa_id": to.lstrip("+"), "open": True})
    env = worker_env(app_sandbox.url)
    start_at = time.time() + 3.0  # both processes are set up by then
    name = key()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, name, str(rate), str(per_worker), str(start_at), to],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr

    messages = control(app_sandbox, "messages")["data"]
    assert len(messages) == 2 * per_worker
    assert len({m["biz_opaque_callback_data"] for m in messages}) == 2, "both workers sent"
    times = sorted(m["accepted_at"] for m in messages)
    span = times[-1] - times[0]
    # Slots are 1/rate apart: n messages need (n - 1)/rate seconds, measured where they arrive.
    assert span >= (len(times) - 1) / rate * 0.98
    measured = (len(times) - 1) / span
    assert measured <= rate * 1.02, f"measured {measured:.2f}/s against {rate}/s"
    # No one-second window holds more than the rate (two extra for arrival jitter at the edges).
    assert max_in_window(times, 1.0) <= rate + 2
    print(
        json.dumps(
            {"rate": rate, "measured": round(measured, 3), "max_per_second": max_in_window(times, 1.0)}
        )
    )
