"""Whole system: a campaign at 80 messages per second with the sandbox's webhooks on, as a timeline.

Does the webhook path keep up while a campaign sends? Every part runs as it does in production,
each in its own process on 127.0.0.1 against one PostgreSQL database (``whatsapp_bench_whole_system``
on ``BENCH_PG``, created, migrated and left for inspection; the next run drops it):

- the **sandbox** (``manage.py whatsapp_sandbox``) with its default lifecycle (``sent`` after 0.2 s,
  ``delivered`` after 1 s, ``read`` after 3 s for 80 % of the messages), a few text replies, and its
  signed status webhooks posted to
- the **web server** (gunicorn, ``config.wsgi``): the product's webhook view stores each body and
  wakes the processor;
- the **workers** (``manage.py qcluster``, ``Q_WORKERS`` of them, default settings otherwise): the
  campaign starter, the dispatcher(s) at ``WHATSAPP_MESSAGES_PER_SECOND`` = 80, and the webhook
  processor that applies the stored events.

The campaign is ``bench_dispatch``'s (the demo's ``spring_promotion`` to 4,800 contacts opted in to
marketing: a minute at 80/s), written, submitted and approved through the workflow's services once
the cluster runs tasks; the approval wakes the starter, as in production. It is sent three times,
one campaign after the other to the same contacts (``PHASES``, each with a fresh cluster): with the
sandbox's webhooks off (the send rate's baseline, in the same run), then on, with the product's
default of one dispatcher (``Q_WORKERS`` 2), then with two dispatchers (``Q_WORKERS`` 3), as the
rate bench runs them. From each approval on, this process samples the database every second (one
statement): messages accepted, delivered and read, webhook events stored and processed, their
difference (the **backlog**), the statuses applied and the inbound messages; and asks the sandbox
how many webhooks it has yet to post (those scheduled for later included: a read comes 3 s after
the send).

"Keeps up": the backlog does not grow while the campaign sends (the mean backlog of the last 20
seconds of sending is not above the highest of the first 20), it is back to 0 within
``DRAIN_GOAL`` seconds after the sandbox posted its last webhook, and no event failed. The
timelines are drawn as server-free SVG (``docs/img/whole-system-timeline*.svg``, by
``timeline_svg`` below).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dispatch as world  # the sibling bench: its contacts, template and campaign bindings

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "whatsapp_bench_whole_system"
RATE = 80
SECONDS = 60
MESSAGES = RATE * SECONDS
# Of the people who read it; text only: STOP or the opt-out button would trip the circuit breaker.
REPLY_SHARE = 0.05
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4
DRAIN_GOAL = 5.0  # seconds from the sandbox's last webhook to an empty backlog
WINDOW = 20.0  # seconds at the start and the end of sending whose backlogs are compared
TIMEOUT = 240.0  # the whole timeline, from approval to drained


@dataclass(frozen=True)
class Phase:
    name: str
    webhooks: bool
    q_workers: int
    dispatchers: int
    svg: str = ""  # the timeline's file name in docs/img, if it is drawn


# One campaign each, in this order, to the same contacts (no frequency cap), each with a fresh cluster.
PHASES = (
    Phase("webhooks off, 1 dispatcher", webhooks=False, q_workers=2, dispatchers=1),  # the baseline
    Phase(
        "webhooks on, 1 dispatcher",
        webhooks=True,
        q_workers=2,
        dispatchers=1,
        svg="whole-system-timeline.svg",
    ),
    Phase(
        "webhooks on, 2 dispatchers",
        webhooks=True,
        q_workers=3,
        dispatchers=2,
        svg="whole-system-timeline-2-dispatchers.svg",
    ),
)
if os.environ.get("BENCH_WHOLE_SYSTEM_PHASES"):  # e.g. "on, 1" while looking at one phase
    _wanted = os.environ["BENCH_WHOLE_SYSTEM_PHASES"].split(";")
    PHASES = tuple(phase for phase in PHASES if any(w.strip() in phase.name for w in _wanted))


def main() -> dict:
    load = os.getloadavg()
    results: dict = {"machine": f"{os.cpu_count()} cores, load {load[0]:.2f} (1 min) before"}
    with tempfile.TemporaryDirectory(prefix="bench-whole-system-") as tmp:
        seed = Path(tmp) / "seed.json"
        port = _free_port()
        webhook_url = f"http://127.0.0.1:{port}/webhooks/whatsapp/"
        _child("prepare", str(seed))
        processes: list[subprocess.Popen] = []
        try:
            sandbox, sandbox_url = _start_sandbox(seed, webhook_url)
            processes.append(sandbox)
            processes.append(_start_web(port, sandbox_url))
            _wait_for(f"http://127.0.0.1:{port}/healthz")
            for phase in PHASES:
                requests.post(
                    f"{sandbox_url}/_sandbox/config",
                    json={"webhook_url": webhook_url if phase.webhooks else ""},
                    timeout=10,
                ).raise_for_status()
                cluster = _start_cluster(sandbox_url, phase)
                processes.append(cluster)
                try:
                    started = _child("approve", sandbox_url, phase)
                    samples = _sample(started["campaign"], started["approved_at"], sandbox_url)
                finally:
                    _stop(cluster)
                    processes.remove(cluster)
                result = analyse(samples, phase)
                results.update(
                    {f"{phase.name}: {key}": value for key, value in result.items() if key[0] != "_"}
                )
                results[f"{phase.name}: accepted per second"] = result["_rate"]
                if phase.svg:
                    path = ROOT / "docs" / "img" / phase.svg
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(timeline_svg(samples, result, phase))
                    results[f"{phase.name}: timeline"] = str(path.relative_to(ROOT))
            webhooks = requests.get(f"{sandbox_url}/_sandbox/webhooks", timeout=30).json()
            refused = sum(1 for a in webhooks["attempts"] if a.get("status") != 200)
        finally:
            for process in reversed(processes):
                _stop(process)
    off, on = (results.get(f"webhooks {state}, 1 dispatcher: accepted per second") for state in ("off", "on"))
    if off and on:
        results["accepted per second, webhooks on / off (1 dispatcher)"] = round(on / off, 2)
    results["webhook POSTs not answered 200 (sandbox's last 1,000)"] = refused
    results["load after (1 min)"] = round(os.getloadavg()[0], 2)
    return results


# --- The processes ------------------------------------------------------------------------------


def _env(sandbox_url: str = "http://127.0.0.1:9", phase: Phase = PHASES[0]) -> dict[str, str]:
    return {
        **world._env(sandbox_url),
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "WHATSAPP_MESSAGES_PER_SECOND": str(RATE),
        "Q_WORKERS": str(phase.q_workers),
        "WHATSAPP_DISPATCHERS": str(phase.dispatchers),
        "LOG_LEVEL": "WARNING",
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_sandbox(seed: Path, webhook_url: str) -> tuple[subprocess.Popen, str]:
    """The sandbox with its default delays and read share, webhooks on, a few text replies."""
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "whatsapp_sandbox",
            "--port=0",
            f"--seed-file={seed}",
            "--seed=1",
            f"--webhook-url={webhook_url}",
            f"--reply-share={REPLY_SHARE}",
            "--reply-mix=text=1",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        _stop(process)
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    return process, match.group(1)


def _start_web(port: int, sandbox_url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_env(sandbox_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _start_cluster(sandbox_url: str, phase: Phase) -> subprocess.Popen:
    """``manage.py qcluster`` in a session of its own, so that stopping it reaches its workers."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=_env(sandbox_url, phase),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    """Terminate a process this bench started (and, for the cluster, its own session's workers)."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid) == process.pid
    kill = (lambda sig: os.killpg(process.pid, sig)) if group else process.send_signal
    kill(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill(signal.SIGKILL)
        process.wait(timeout=10)
    if group:  # the cluster's children may outlive its parent by a moment
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _child(step: str, arg: str, phase: Phase = PHASES[0]) -> dict:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", step, arg, phase.name],
        cwd=ROOT,
        env=_env(arg if arg.startswith("http") else "http://127.0.0.1:9", phase),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{step} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The timeline ---------------------------------------------------------------------------------

SAMPLE = r"""
SELECT
  count(*) FILTER (WHERE m.accepted_at IS NOT NULL),
  count(*) FILTER (WHERE m.delivered_at IS NOT NULL),
  count(*) FILTER (WHERE m.read_at IS NOT NULL),
  count(*) FILTER (WHERE m.status = 'sending' OR m.status = 'queued' AND m.next_attempt_at <= now()),
  (SELECT count(*) FROM messaging_webhookevent),
  (SELECT count(*) FROM messaging_webhookevent WHERE outcome <> 'pending'),
  (SELECT count(*) FROM messaging_webhookevent WHERE outcome = 'failed'),
  (SELECT count(*) FROM messaging_messagestatusevent),
  (SELECT count(*) FROM messaging_inboundmessage),
  (SELECT status FROM messaging_campaign WHERE id = %(campaign)s),
  (SELECT string_agg(left(regexp_replace(query, '\s+', ' ', 'g'), 70), ' | ')
     FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')
FROM messaging_outboundmessage m
WHERE m.campaign_id = %(campaign)s
"""
FIELDS = (
    "accepted",
    "delivered",
    "read",
    "unsent",
    "events",
    "processed",
    "failed",
    "statuses",
    "inbound",
    "campaign",
    "lock_waits",  # the statements waiting for a lock at that instant, if any
)


def _sample(campaign: int, approved_at: float, sandbox_url: str) -> list[dict]:
    """One row a second from the approval until the campaign has nothing left to send now and
    everything drained."""
    import psycopg

    samples: list[dict] = []
    quiet = 0
    with psycopg.connect(f"{SERVER}/{DATABASE}", autocommit=True) as conn:
        tick = approved_at
        while True:
            tick += 1.0
            time.sleep(max(0.0, tick - time.time()))
            row = conn.execute(SAMPLE, {"campaign": campaign}).fetchone()
            sample = dict(zip(FIELDS, row, strict=True))
            sample["t"] = round(time.time() - approved_at, 2)
            sample["backlog"] = sample["events"] - sample["processed"]
            sample["at_sandbox"] = requests.get(f"{sandbox_url}/_sandbox/health", timeout=10).json()[
                "pending_webhooks"
            ]
            samples.append(sample)
            # Done when nothing is due or sending: a message Meta refused for the person's marketing
            # limit (131049) is deferred a day, which keeps the campaign sending.
            done = not sample["unsent"] and not sample["at_sandbox"] and not sample["backlog"]
            quiet = quiet + 1 if done else 0
            if quiet >= 3 or sample["t"] > TIMEOUT:
                return samples


def analyse(samples: list[dict], phase: Phase) -> dict:
    """Rates over the sending phase; with webhooks on, the backlog's start, end, trend, maximum and
    drain, and the verdict. Counters over every campaign (events, statuses) are this phase's own:
    the previous phase drained before this one's approval."""
    base = samples[0]
    first = next(s for s in samples if s["accepted"])
    last = next(s for s in samples if s["accepted"] == samples[-1]["accepted"])
    sending = [s for s in samples if first["t"] <= s["t"] <= last["t"]]
    span = max(last["t"] - first["t"], 1.0)
    start = [s["backlog"] for s in sending if s["t"] <= first["t"] + WINDOW]
    end = [s["backlog"] for s in sending if s["t"] >= last["t"] - WINDOW]
    posted = next((s for s in samples if s["t"] > last["t"] and not s["at_sandbox"]), None)
    drained = posted and next((s for s in samples if s["t"] >= posted["t"] and not s["backlog"]), None)
    drain = round(drained["t"] - posted["t"], 1) if drained else None
    # A backlog sampled once a second jumps with each batch's commit: the end's mean, not its
    # single highest sample, is compared with the start's highest.
    flat = sum(end) / len(end) <= max(start)
    final = samples[-1]
    keeps_up = flat and drain is not None and drain <= DRAIN_GOAL and not final["failed"]
    sent = {
        "messages accepted": final["accepted"],
        "approval → first accepted (s)": first["t"],
        "_rate": round((last["accepted"] - first["accepted"]) / span, 1),
        "_first": first["t"],
        "_last": last["t"],
        "_keeps_up": "yes ✓" if keeps_up else "NO ✗",
    }
    if not phase.webhooks:
        return sent

    waits = [query for s in sending if s["lock_waits"] for query in s["lock_waits"].split(" | ")]

    def grown(key: str, sample: dict = final) -> int:
        return sample[key] - base[key]

    return {
        **sent,
        "webhook events stored per second while sending": round((last["events"] - first["events"]) / span, 1),
        "statuses applied per second while sending": round((last["statuses"] - first["statuses"]) / span, 1),
        "delivered / read in our database at the end": f"{final['delivered']} / {final['read']}",
        "webhook events stored / processed / failed": (
            f"{grown('events')} / {grown('processed')} / {grown('failed')}"
        ),
        "statuses applied / inbound messages stored": f"{grown('statuses')} / {grown('inbound')}",
        f"backlog, max of the first {WINDOW:.0f} s of sending (events)": max(start),
        f"backlog, mean / max of the last {WINDOW:.0f} s of sending (events)": (
            f"{sum(end) / len(end):.0f} / {max(end)}"
        ),
        "backlog trend while sending (events per second)": round(_slope(sending), 2),
        "backlog, max overall (events)": max(s["backlog"] for s in samples),
        "backlog, final (events)": final["backlog"],
        f"drained after the sandbox's last webhook (s; goal ≤ {DRAIN_GOAL:.0f})": drain,
        "samples with a statement waiting for a lock": f"{len(waits)} of {len(sending)}",
        "statements seen waiting (most often first)": " || ".join(
            f"{n}× {query}" for query, n in Counter(waits).most_common(3)
        ),
        "keeps up": sent["_keeps_up"],
    }


def _slope(samples: list[dict]) -> float:
    """The backlog's least-squares trend over ``samples``: events gained per second."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(s["t"] for s in samples) / n
    mean_b = sum(s["backlog"] for s in samples) / n
    spread = sum((s["t"] - mean_t) ** 2 for s in samples)
    return sum((s["t"] - mean_t) * (s["backlog"] - mean_b) for s in samples) / spread


def timeline_svg(samples: list[dict], result: dict, phase: Phase) -> str:
    """Three panels over time since the approval: messages (cumulative), webhook events per second
    (stored, processed), and the backlog (stored − processed; the sandbox's unposted webhooks)."""
    width, left, right, panel, gap, top = 820, 64, 170, 150, 46, 40
    plot = width - left - right
    end_t = max(s["t"] for s in samples)
    times = [s["t"] for s in samples]

    def per_second(key: str) -> list[float]:
        values = [samples[0][key] / max(samples[0]["t"], 1.0)]
        for a, b in itertools.pairwise(samples):
            values.append((b[key] - a[key]) / max(b["t"] - a["t"], 0.1))
        return values

    panels = [
        (
            "Campaign messages (cumulative)",
            [
                ("accepted", [s["accepted"] for s in samples], "#1f77b4"),
                ("delivered", [s["delivered"] for s in samples], "#2ca02c"),
                ("read", [s["read"] for s in samples], "#9467bd"),
            ],
        ),
        (
            "Webhook events per second",
            [
                ("stored", per_second("events"), "#ff7f0e"),
                ("processed", per_second("processed"), "#17becf"),
            ],
        ),
        (
            "Backlog (events)",
            [
                ("stored − processed", [s["backlog"] for s in samples], "#d62728"),
                ("sandbox: not yet posted", [s["at_sandbox"] for s in samples], "#7f7f7f"),
            ],
        ),
    ]
    height = top + len(panels) * (panel + gap) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="11">',
        f"<title>Whole system: {result['messages accepted']} messages at {RATE}/s, {phase.name}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(phase.name)}: '
        f"{result['_rate']} messages/s accepted of {RATE}/s configured — webhooks keep up: "
        f"{escape(result['_keeps_up'])}</text>",
    ]
    x = lambda t: left + plot * t / end_t  # noqa: E731
    for index, (title, series) in enumerate(panels):
        y0 = top + index * (panel + gap)
        high = max(1.0, *(max(values) for _, values, _ in series))
        high = _nice(high)
        y = lambda v, y0=y0, high=high: y0 + panel - panel * v / high  # noqa: E731
        out.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{escape(title)}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot}" height="{panel}" fill="none" stroke="#bbb"/>')
        for fraction in (0.0, 0.5, 1.0):
            value = high * fraction
            out.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
        for edge in (result["_first"], result["_last"]):  # the sending phase
            out.append(
                f'<line x1="{x(edge):.1f}" y1="{y0}" x2="{x(edge):.1f}" y2="{y0 + panel}" '
                'stroke="#999" stroke-dasharray="3,3"/>'
            )
        for n, (name, values, colour) in enumerate(series):
            points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
            out.append(
                f'<line x1="{left + plot + 12}" y1="{y0 + 14 + 16 * n}" x2="{left + plot + 28}" '
                f'y2="{y0 + 14 + 16 * n}" stroke="{colour}" stroke-width="3"/>'
            )
            out.append(f'<text x="{left + plot + 32}" y="{y0 + 18 + 16 * n}">{escape(name)}</text>')
        ticks = range(0, int(end_t) + 1, 10)
        for t in ticks:
            out.append(
                f'<text x="{x(t):.1f}" y="{y0 + panel + 13}" text-anchor="middle" fill="#555">{t}</text>'
            )
    out.append(
        f'<text x="{left + plot / 2}" y="{height - 4}" text-anchor="middle" fill="#555">seconds since '
        "the approval (dashed: first and last message accepted)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at or above ``value``."""
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


# --- In the child processes (Django set up against the bench database) ---------------------------


def _prepare(seed: str) -> dict:
    """Untimed: a fresh database with the demo templates, MESSAGES opted-in contacts, an Editor and
    an Approver; the sandbox's seed file with the same templates."""
    import psycopg
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from templates_app.demo import DEMO_TEMPLATES, write_sandbox_seed

    names = [spec["fields"]["name"] for spec in DEMO_TEMPLATES]
    write_sandbox_seed(Path(seed), [world._template_version(name).template for name in names])
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    call_command("migrate", verbosity=0)
    world._world(MESSAGES)  # also creates the cache table
    for username, role in (("erin_editor", "Editor"), ("alex_approver", "Approver")):
        user = get_user_model().objects.create(username=username, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    return {}


def _approve(name: str) -> dict:
    """Once the cluster runs tasks: the campaign written by the Editor, submitted, approved by the
    Approver. The approval's commit wakes the campaign starter in the cluster, as in production."""
    from django.contrib.auth import get_user_model
    from django_q.tasks import async_task, result

    from contacts.models import Segment
    from contacts.segments.services import segment_create
    from core.actors import Actor
    from messaging.campaigns.workflow import campaign_approve, campaign_create, campaign_submit
    from templates_app.models import MessageTemplate

    users = get_user_model().objects
    editor = Actor.for_user(users.get(username="erin_editor"))
    approver = Actor.for_user(users.get(username="alex_approver"))
    if result(async_task("time.time", save=True), wait=60_000) is None:
        raise RuntimeError("the cluster ran no task within a minute")
    segment = Segment.objects.filter(name="Germany").first() or segment_create(
        name="Germany", rules={"op": "all", "rules": [{"kind": "country", "in": ["DE"]}]}, actor=editor
    )
    campaign = campaign_create(
        actor=editor,
        name=f"Whole system, {name}",
        template=MessageTemplate.objects.get(name=world.TEMPLATE),
        segment=segment,
        bindings=world.PROMOTION_BINDINGS,
        header_media_source="link",
        header_media_link="https://shop.example/spring.png",
    )
    campaign_submit(campaign=campaign, actor=editor)
    campaign_approve(campaign=campaign, actor=approver)
    return {"campaign": campaign.pk, "approved_at": time.time()}


if __name__ == "__main__":
    if "--child" in sys.argv:
        import django

        django.setup()
        step, arg, phase_name = sys.argv[2], sys.argv[3], sys.argv[4]
        print(json.dumps(_prepare(arg) if step == "prepare" else _approve(phase_name)))
    else:
        print(json.dumps(main(), indent=2))
