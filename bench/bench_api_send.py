"""The send API: ``POST /api/v1/messages/`` requests per second through gunicorn on PostgreSQL,
against ``send_message`` called in-process for the same bodies, in the same run (issue 13's goal:
at least 0.5 of it).

The world of ``bench_dispatch`` (the demo templates, contacts) in a database of its own
(``whatsapp_bench_api`` on ``BENCH_PG``); the contacts are opted in to service messages and every
request queues the demo's ``order_update`` (a UTILITY template: document header, two body
parameters, a URL button) to one of them. No dispatcher runs: both sides measure queueing, the
part a caller waits for.

- **The API**: gunicorn (``config.wsgi``, ``GUNICORN_WORKERS`` sync workers, the production server's
  shape) behind 127.0.0.1; ``CLIENTS`` threads, each with a keep-alive session, POST the bodies with
  an API key (bearer), an ``Idempotency-Key`` each (as a careful client sends them), the throttle
  lifted. A request counts when it is answered 202.
- **In-process**: the same bodies' ``send_message`` calls, one after the other in one process
  (what the API does for each request, without HTTP, authentication, throttling, idempotency and
  serialisation), with the same idempotency keys' form.

Both sides run twice, interleaved; best of each. Both processes run with ``DEBUG`` on (as every
bench here), which costs both sides alike (Django notes each query).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dispatch as world  # the sibling bench: its database world and environment

DATABASE = "whatsapp_bench_api"
CONTACTS = 2000
REQUESTS = 2000
ROUNDS = 2
CLIENTS = 8
GUNICORN_WORKERS = 4
PARAMETERS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-9271"],
    "buttons": {"0": "ORD-9271"},
}


def main() -> dict:
    load = os.getloadavg()
    world.MESSAGES, world.DATABASE = CONTACTS, DATABASE
    _run(["--migrate"])
    measured = json.loads(_run(["--child"]).strip().splitlines()[-1])
    return {"machine": f"{os.cpu_count()} cores, load {load[0]:.2f} (1 min) before", **measured}


def _run(arguments: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *arguments],
        cwd=world.ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{arguments[0]} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return result.stdout


def _env() -> dict[str, str]:
    return {
        **world._env("http://127.0.0.1:9"),  # nothing is sent: no sandbox needed
        "DATABASE_URL": f"{world.SERVER}/{DATABASE}",
        "API_THROTTLE_RATE": "1000000/s",
        "LOG_LEVEL": "WARNING",
    }


# --- In the child process (Django set up) ----------------------------------------------------


def _child() -> dict:
    import django

    django.setup()
    from django.utils import timezone

    from api.models import ApiKey
    from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
    from contacts.services import record_consent
    from core.actors import Actor

    actor = Actor.system("bench")
    contact_ids = list(Contact.objects.order_by("id").values_list("id", flat=True)[:CONTACTS])
    for contact in Contact.objects.filter(pk__in=contact_ids):
        record_consent(
            contact=contact,
            purpose=Purpose.SERVICE,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.WEB_FORM,
            actor=actor,
            occurred_at=timezone.now(),
            wording_text="Yes, send me order updates on WhatsApp.",
        )
    raw, prefix, digest = ApiKey.generate()
    key = ApiKey.objects.create(name="bench", prefix=prefix, key_hash=digest, scopes=["messages:send"])
    bodies = [_body(contact_ids[n % len(contact_ids)]) for n in range(REQUESTS)]

    port = _free_port()
    web = _start_web(port)
    try:
        _wait_until_up(port)
        api, direct = [], []
        for _ in range(ROUNDS):
            api.append(_through_the_api(port, raw, bodies))
            direct.append(_in_process(key, bodies))
    finally:
        web.terminate()
        web.wait(timeout=10)
    best_api, best_direct = max(api), max(direct)
    return {
        "POST /api/v1/messages/ through gunicorn (requests/s)": round(best_api),
        "send_message in-process (calls/s)": round(best_direct),
        "API / in-process (goal ≥ 0.5)": round(best_api / best_direct, 2),
        "rounds (API)": [round(rate) for rate in api],
        "rounds (in-process)": [round(rate) for rate in direct],
        "gunicorn": f"{GUNICORN_WORKERS} sync workers, {CLIENTS} client threads",
    }


def _body(contact_id: int) -> dict:
    return {
        "contact": contact_id,
        "template": {"name": "order_update", "language": "en", "parameters": PARAMETERS},
    }


def _through_the_api(port: int, raw_key: str, bodies: list[dict]) -> float:
    import threading

    import requests

    local = threading.local()
    url = f"http://127.0.0.1:{port}/api/v1/messages/"

    def post(body: dict) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {raw_key}", "Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )
        return response.status_code

    post(bodies[0])  # warm every path once
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        codes = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    refused = [code for code in codes if code != 202]
    if refused:
        raise RuntimeError(f"{len(refused)} of {len(codes)} requests were not accepted, e.g. {refused[0]}")
    return len(codes) / elapsed


def _in_process(key, bodies: list[dict]) -> float:
    from contacts.models import Contact
    from messaging.sending.service import send_message
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.get(name="order_update")
    # The API reads the contact and the template per request; so does this side.
    started = time.perf_counter()
    for body in bodies:
        send_message(
            contact=Contact.objects.get(pk=body["contact"]),
            actor=key.actor,
            template=MessageTemplate.objects.get(pk=template.pk),
            parameters=body["template"]["parameters"],
            idempotency_key=f"api:{key.pk}:{uuid.uuid4()}",
        )
    return len(bodies) / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_web(port: int) -> subprocess.Popen:
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
            "--log-level",
            "warning",
        ],
        cwd=world.ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_up(port: int) -> None:
    import requests

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).ok:
                return
        except requests.RequestException:  # not listening yet, or still loading Django
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


if __name__ == "__main__":
    if "--migrate" in sys.argv:
        world.DATABASE, world.MESSAGES = DATABASE, CONTACTS
        world._run_child("migrate", "")
    elif "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(json.dumps(main(), indent=2))
