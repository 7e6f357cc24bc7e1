"""The webhook's capacity through gunicorn on PostgreSQL, against a trivial view in the same server.

1. An asyncio load client (aiohttp, on 127.0.0.1) posts signed status webhooks for a fixed time to
   (a) a trivial view that only answers 200, (b) the webhook (store the raw body, enqueue its
   processing after commit: the product's path), one status per POST and 50 per POST, and
   (c) a bench-only variant that processes inline before answering — the alternative design.
   Goal: the webhook accepts at least half the trivial view's requests per second.
2. The events stored in (b) are then processed by two worker processes (as ``Q_WORKERS=2`` would)
   calling the product's task function: statuses applied per second. Goal: at least 240/s, and how
   far batching takes it toward 3,000.

Everything runs against a bench database (created, migrated and dropped here) with messages
and attempts whose wamids the statuses name, so processing does its real work. The trivial view
and the inline variant exist only in this module, which gunicorn loads as its URL conf
(``make_app()``); the product has no trivial view.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432/"
BENCH_DB = "whatsapp_bench_webhook"
SECRET = "bench-app-secret"
DURATION = 3.0  # seconds measured per target, after a warm-up
WARM_UP = 0.5
CONCURRENCY = 32
# The webhook waits on the disk (its durable commit): threads let many commits wait together, and
# PostgreSQL flushes them in one go (group commit). The trivial view gets the same server.
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 8
SYNC_WORKERS = 8
PROCESSING_WORKERS = 2  # Q_WORKERS' default
PROCESSING_SECONDS = 8.0  # bound on the processing phase
BATCH = 50
MESSAGES = 50_000  # outbound messages whose wamids the statuses name
TRIVIAL = "/bench/trivial/"
INLINE = "/bench/inline/"
STORE_ONLY = "/bench/store-only/"
WEBHOOK = "/webhooks/whatsapp/"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": PG + BENCH_DB,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "k" * 60,
        "CONSENT_CHAIN_KEY": "bench-" + "c" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Plain HTTP on 127.0.0.1: TLS ends in front of gunicorn, as in production.
        "SECURE_SSL_REDIRECT": "false",
        "WHATSAPP_API_BASE_URL": "http://127.0.0.1:9",
        "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
        "WHATSAPP_APP_ID": "1000000000000001",
        "WHATSAPP_ACCESS_TOKEN": "bench-token",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify",
    }


# --- Inside gunicorn: the URL conf with the trivial view -----------------------------------------


def make_app():
    """gunicorn 'bench.bench_webhook:make_app()': the product's WSGI app with this module as URL conf."""
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = "bench.bench_webhook"
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def __getattr__(name: str):
    # The URL conf is built lazily: bench/run.py imports this module before Django is set up.
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.http import HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def trivial(request):
        return HttpResponse("OK")

    @csrf_exempt
    def inline(request):
        from cloud_api.signatures import app_secrets, verify_signature
        from messaging.models import WebhookEvent
        from messaging.webhooks.processing import process_webhook_event

        body = request.read()
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not verify_signature(body, signature, app_secrets()):
            return HttpResponse(status=403)
        event = WebhookEvent.objects.create(body=body, signature=signature)
        process_webhook_event(event_id=event.pk)
        return HttpResponse("OK")

    @csrf_exempt
    def store_only(request):
        from cloud_api.signatures import app_secrets, verify_signature
        from messaging.models import WebhookEvent

        body = request.read()
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not verify_signature(body, signature, app_secrets()):
            return HttpResponse(status=403)
        WebhookEvent.objects.create(body=body, signature=signature)
        return HttpResponse("OK")

    return [
        path("bench/trivial/", trivial),
        path("bench/store-only/", store_only),
        path("bench/inline/", inline),
        path("webhooks/whatsapp/", include("messaging.webhooks.urls")),
    ]


# --- The bench database ---------------------------------------------------------------------------


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG + "postgres", "-q", "-c", sql], check=True, capture_output=True, text=True, timeout=60
    )


def _prepare_database() -> None:
    _psql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    _psql(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=_env(), check=True, timeout=300
    )
    # The shared cache lives in the database unless REDIS_URL is set (as `make run` prepares it).
    subprocess.run(
        [sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=_env(), check=True, timeout=60
    )
    subprocess.run(
        [sys.executable, "-c", "import bench.bench_webhook as b; b.seed_messages()"],
        cwd=ROOT,
        env=_env(),
        check=True,
        timeout=300,
    )


def seed_messages() -> None:
    """MESSAGES accepted messages with one attempt each; wamid ``wamid.bench.<n>``."""
    import django

    django.setup()
    from contacts.models import Contact
    from messaging.models import OutboundMessage, SendAttempt

    contact = Contact.objects.create(phone="+4915100000001", wa_id="4915100000001")
    messages = OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                contact=contact, kind="text", status="accepted", actor_kind="system", actor_label="bench"
            )
            for _ in range(MESSAGES)
        ],
        batch_size=2000,
    )
    SendAttempt.objects.bulk_create(
        [
            SendAttempt(message=m, number=1, outcome="accepted", wamid=f"wamid.bench.{n}")
            for n, m in enumerate(messages)
        ],
        batch_size=2000,
    )


def _status_body(numbers: list[int], state: str) -> bytes:
    import json

    statuses = [
        {
            "id": f"wamid.bench.{n}",
            "status": state,
            "timestamp": str(1_750_000_000 + n),
            "recipient_id": "4915100000001",
            "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
        }
        for n in numbers
    ]
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"}}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"field": "messages", "value": {**value, "statuses": statuses}}],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _signed_bodies(per_post: int, count: int, state: str) -> list[tuple[bytes, str]]:
    sys.path.insert(0, str(ROOT))
    from cloud_api.signatures import signature_header

    bodies = []
    for i in range(count):
        numbers = [(i * per_post + j) % MESSAGES for j in range(per_post)]
        body = _status_body(numbers, state)
        bodies.append((body, signature_header(body, SECRET)))
    return bodies


# --- Load -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _gunicorn(*, threads: int = GUNICORN_THREADS, workers: int = GUNICORN_WORKERS) -> Iterator[str]:
    """gunicorn on a free port: gthread workers, or plain sync workers with ``threads=1``."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.bench_webhook:make_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + TRIVIAL, data=b"{}", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


async def _load(url: str, bodies: list[tuple[bytes, str]]) -> float:
    """Requests per second answered 200 during DURATION seconds (each body posted at most once)."""
    import aiohttp

    counted = 0
    failures: list[int] = []
    measuring = False
    next_body = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        stop_at = time.monotonic() + WARM_UP + DURATION

        async def worker() -> None:
            nonlocal counted, next_body
            while time.monotonic() < stop_at and next_body < len(bodies):
                body, signature = bodies[next_body]
                next_body += 1
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if measuring:
                        if response.status == 200:
                            counted += 1
                        else:
                            failures.append(response.status)

        async def measure() -> None:
            nonlocal measuring
            await asyncio.sleep(WARM_UP)
            measuring = True

        await asyncio.gather(measure(), *(worker() for _ in range(CONCURRENCY)))
    if failures:
        raise RuntimeError(f"{len(failures)} requests were not answered 200: {sorted(set(failures))}")
    if next_body >= len(bodies):
        raise RuntimeError("ran out of bodies: raise the body count")
    return counted / DURATION


# --- Processing -----------------------------------------------------------------------------------


def process_share(worker: int, workers: int, first_id: int, last_id: int, seconds: float) -> None:
    """One worker process: the pending events in [first_id, last_id] whose id % workers == worker."""
    import django

    django.setup()
    from messaging.models import WebhookEvent
    from messaging.webhooks.tasks import process_webhook

    stop_at = time.monotonic() + seconds
    ids = (
        WebhookEvent.objects.filter(outcome="pending", pk__gte=first_id, pk__lte=last_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for event_id in list(ids):
        if event_id % workers != worker:
            continue
        if time.monotonic() > stop_at:
            break
        process_webhook(event_id)


def _sql(query: str) -> int:
    out = subprocess.run(
        ["psql", PG + BENCH_DB, "-tAq", "-c", query], check=True, capture_output=True, text=True, timeout=60
    )
    return int(out.stdout.strip() or 0)


def _processing_rate(env: dict[str, str], first_id: int, last_id: int) -> tuple[float, float]:
    """(statuses/s, events/s) that PROCESSING_WORKERS processes apply from the stored events."""
    statuses_before = _sql("SELECT count(*) FROM messaging_messagestatusevent")
    events_before = _sql("SELECT count(*) FROM messaging_webhookevent WHERE outcome = 'processed'")
    started = time.monotonic()
    command = "import bench.bench_webhook as b; b.process_share({n}, {w}, {a}, {z}, {s})"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                command.format(n=n, w=PROCESSING_WORKERS, a=first_id, z=last_id, s=PROCESSING_SECONDS),
            ],
            cwd=ROOT,
            env=env,
        )
        for n in range(PROCESSING_WORKERS)
    ]
    for process in workers:
        process.wait(timeout=PROCESSING_SECONDS + 60)
    elapsed = time.monotonic() - started
    statuses = _sql("SELECT count(*) FROM messaging_messagestatusevent") - statuses_before
    events = _sql("SELECT count(*) FROM messaging_webhookevent WHERE outcome = 'processed'") - events_before
    failed = _sql("SELECT count(*) FROM messaging_webhookevent WHERE outcome = 'failed'")
    if failed:
        raise RuntimeError(f"{failed} webhook events failed while processing")
    return statuses / elapsed, events / elapsed


def _last_event_id() -> int:
    return _sql("SELECT coalesce(max(id), 0) FROM messaging_webhookevent")


def main() -> dict[str, str]:
    env = _env()
    _prepare_database()
    single = _signed_bodies(1, 40_000, "sent")
    batched = _signed_bodies(BATCH, 8_000, "delivered")
    inline_bodies = _signed_bodies(1, 20_000, "read")
    results: dict[str, str] = {}
    try:
        with _gunicorn() as url:
            trivial = asyncio.run(_load(url + TRIVIAL, single))
            accept_single = asyncio.run(_load(url + WEBHOOK, single))
            last_single = _last_event_id()
            stored_single = _sql("SELECT count(*) FROM messaging_webhookevent")
            single_statuses, single_events = _processing_rate(env, 1, last_single)
            accept_batched = asyncio.run(_load(url + WEBHOOK, batched))
            batched_statuses, batched_events = _processing_rate(env, last_single + 1, _last_event_id())
            inline = asyncio.run(_load(url + INLINE, inline_bodies))
            store_only = asyncio.run(_load(url + STORE_ONLY, single))
            # A second round, in the other order, so drift on a busy machine (and a growing table)
            # weighs on every target alike: each figure below is the mean of its two runs.
            store_only = (store_only + asyncio.run(_load(url + STORE_ONLY, single))) / 2
            accept_single = (accept_single + asyncio.run(_load(url + WEBHOOK, single))) / 2
            trivial = (trivial + asyncio.run(_load(url + TRIVIAL, single))) / 2
        # The same comparison with plain sync workers (8 processes, no threads): threads speed the
        # trivial view up far more than the webhook, which waits on PostgreSQL, so the ratio
        # depends on the server's configuration; both are reported.
        with _gunicorn(threads=1, workers=SYNC_WORKERS) as url:
            sync_trivial = sync_webhook = 0.0
            for _ in range(2):
                sync_trivial += asyncio.run(_load(url + TRIVIAL, single)) / 2
                sync_webhook += asyncio.run(_load(url + WEBHOOK, single)) / 2
    finally:
        _psql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    results["trivial view (requests/s)"] = f"{trivial:,.0f}"
    results["webhook, 1 status/POST, queued (POSTs/s)"] = (
        f"{accept_single:,.0f} ({accept_single / trivial:.0%} of trivial; {stored_single:,} stored)"
    )
    results[f"webhook, {BATCH} statuses/POST, queued (POSTs/s)"] = (
        f"{accept_batched:,.0f} ({accept_batched / trivial:.0%} of trivial; "
        f"{accept_batched * BATCH:,.0f} statuses/s)"
    )
    results["store only, no enqueue (bench-only view, POSTs/s)"] = (
        f"{store_only:,.0f} ({store_only / trivial:.0%} of trivial)"
    )
    results["webhook, 1 status/POST, processed inline (POSTs/s)"] = (
        f"{inline:,.0f} ({inline / trivial:.0%} of trivial)"
    )
    results[f"processing, 1 status/event, {PROCESSING_WORKERS} workers (statuses/s)"] = (
        f"{single_statuses:,.0f} ({single_events:,.0f} events/s)"
    )
    results[f"processing, {BATCH} statuses/event, {PROCESSING_WORKERS} workers (statuses/s)"] = (
        f"{batched_statuses:,.0f} ({batched_events:,.0f} events/s; {batched_statuses / 3000:.0%} of 3,000)"
    )
    results[f"sync workers ({SYNC_WORKERS}): trivial / webhook 1 status/POST (requests/s)"] = (
        f"{sync_trivial:,.0f} / {sync_webhook:,.0f} ({sync_webhook / sync_trivial:.0%} of trivial)"
    )
    results["accepting >= 0.5 of trivial (queued, 1/POST): gthread / sync workers"] = (
        f"{'yes' if accept_single >= 0.5 * trivial else 'NO'} / "
        f"{'yes' if sync_webhook >= 0.5 * sync_trivial else 'NO'}"
    )
    results["processing >= 240 statuses/s"] = "yes" if min(single_statuses, batched_statuses) >= 240 else "NO"
    return results


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:>60}: {value}")
