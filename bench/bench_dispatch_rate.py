"""Rate accuracy: 80 messages per second configured, two dispatcher processes, a minute of sending.

The same world as ``bench_dispatch`` (its sandbox process with webhooks off, its database of
opted-in contacts, a sending campaign of the demo's ``spring_promotion`` materialised untimed), but
``WHATSAPP_MESSAGES_PER_SECOND`` at 80 and 4,800 messages: two processes run the dispatcher task's
loop until nothing is due. The rate is measured **at the receiving end**, from the sandbox's
``accepted_at`` of each message: every full 10-second window's rate against 80 (goal: within 2 %,
never above by more than that), and the most messages in any one-second window. The whole first
and last seconds are left out (the workers start and stop there).
"""

from __future__ import annotations

import bisect
import os
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dispatch as world  # the sibling bench: its sandbox, database and campaign

RATE = 80
SECONDS = 60
WORKERS = 2


def main() -> dict:
    messages = RATE * SECONDS
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-rate-") as tmp:
        seed = Path(tmp) / "seed.json"
        os.environ["BENCH_DISPATCH_MESSAGES"] = str(messages)
        world.MESSAGES = messages
        world.LIFTED_RATE = RATE  # the configured rate for every child below
        world._child("seed", str(seed))
        sandbox, url = world._start_sandbox(seed)
        try:
            world._child("migrate", url)
            sent = world._child(f"engine, {WORKERS} dispatchers", url)
            received = requests.get(f"{url}/_sandbox/messages", timeout=30).json()["data"]
            accepted = sorted(m["accepted_at"] for m in received)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    return {
        "machine": f"{os.cpu_count()} cores, load {load[0]:.2f} (1 min)",
        "configured (messages/s)": RATE,
        "dispatchers": WORKERS,
        "messages accepted": len(accepted),
        "end to end (messages/s)": round(sent["per_second"], 2),
        **windows(accepted),
    }


def windows(times: list[float]) -> dict:
    """Each full 10-second window's rate (the first and last second left out), and the busiest second."""
    start, end = times[0] + 1.0, times[-1] - 1.0
    rates = []
    at = start
    while at + 10.0 <= end:
        rates.append((bisect.bisect_left(times, at + 10.0) - bisect.bisect_left(times, at)) / 10.0)
        at += 10.0
    busiest = max(bisect.bisect_left(times, t0 + 1.0) - i for i, t0 in enumerate(times))
    worst = max(abs(r - RATE) / RATE for r in rates) if rates else float("nan")
    return {
        "10-second windows (messages/s)": ", ".join(f"{r:.1f}" for r in rates),
        "worst 10-second window off by (goal ≤ 2 %)": f"{100 * worst:.2f} %",
        "most in any one second": busiest,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
