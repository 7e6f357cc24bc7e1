"""Single sends: ``send_message`` calls per second, and how long a transactional send takes to go
while a campaign is sending.

The world of ``bench_dispatch`` (its sandbox process with webhooks off, its database of contacts
opted in to marketing, the demo templates) in a database of its own (``whatsapp_bench_single_sends``
on ``BENCH_PG``, so it never drops the one another bench is using); the contacts are opted in to
service messages too.

- **Queueing**: ``send_message`` of the demo's ``order_update`` to 2,000 contacts, one call each
  (consent read with its proof, the template's parameters checked, the row written, the dispatcher
  woken after the commit — no task per message), against the bare ``OutboundMessage.objects.create``
  of the same rows. Goal (issue 11): ≥ 400 calls per second.
- **Latency**: a campaign of the demo's ``spring_promotion`` to every contact sends at 80 messages
  per second through one dispatcher process; meanwhile a transactional ``order_update`` is queued
  every half second; each one's latency is from ``send_message`` returning to its acceptance by
  the sandbox (``accepted_at``). p50 and p99.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dispatch as world  # the sibling bench: its sandbox, database and campaign

DATABASE = "whatsapp_bench_single_sends"
CONTACTS = 4000
QUEUED = 2000
RATE = 80
SAMPLES = 40


def main() -> dict:
    load = os.getloadavg()
    os.environ["BENCH_DISPATCH_MESSAGES"] = str(CONTACTS)
    world.MESSAGES = CONTACTS
    world.LIFTED_RATE = RATE
    world.DATABASE = DATABASE  # the children's DATABASE_URL (world._env)
    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp:
        seed = Path(tmp) / "seed.json"
        world._child("seed", str(seed))
        sandbox, url = world._start_sandbox(seed)
        try:
            _migrate(url)
            result = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", url],
                cwd=world.ROOT,
                env=world._env(url),
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if result.returncode != 0:
                raise RuntimeError((result.stderr.strip().splitlines() or ["?"])[-1])
            measured = json.loads(result.stdout.strip().splitlines()[-1])
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    return {"machine": f"{os.cpu_count()} cores, load {load[0]:.2f} (1 min)", **measured}


def _migrate(url: str) -> None:
    """``bench_dispatch``'s fresh database and world, in this bench's database (its own child would
    drop and recreate ``bench_dispatch``'s)."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--migrate", url],
        cwd=world.ROOT,
        env=world._env(url),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")


def _child() -> dict:
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
    from contacts.services import record_consent
    from core.actors import Actor
    from messaging.models import MessageKind, MessageStatus, OutboundMessage
    from messaging.sending.service import send_message
    from templates_app.models import MessageTemplate

    actor = Actor.system("bench")
    order_update = MessageTemplate.objects.get(name="order_update")
    parameters = {
        "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
        "body": ["Pablo", "ORD-9271"],
        "buttons": {"0": "ORD-9271"},
    }
    contacts = list(Contact.objects.order_by("id"))
    for contact in contacts:
        record_consent(
            contact=contact,
            purpose=Purpose.SERVICE,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.WEB_FORM,
            actor=actor,
            occurred_at=timezone.now(),
            wording_text="Yes, send me order updates on WhatsApp.",
        )

    # Queueing: ours, then the bare insert of the same rows (rolled back).
    started = time.perf_counter()
    for contact in contacts[:QUEUED]:
        send_message(contact=contact, actor=actor, template=order_update, parameters=parameters)
    ours = QUEUED / (time.perf_counter() - started)
    version = order_update.approved_version
    with transaction.atomic():
        started = time.perf_counter()
        for contact in contacts[QUEUED : 2 * QUEUED]:
            message = OutboundMessage(
                contact=contact,
                kind=MessageKind.TEMPLATE,
                purpose=Purpose.SERVICE,
                template_version=version,
                parameters=parameters,
                next_attempt_at=timezone.now(),
            )
            message.set_actor(actor)
            message.save()
        bare = QUEUED / (time.perf_counter() - started)
        transaction.set_rollback(True)
    OutboundMessage.objects.filter(status=MessageStatus.QUEUED).delete()  # not sent: latency next

    latencies = sorted(_latencies(order_update, parameters, actor))
    if len(latencies) < SAMPLES:
        raise RuntimeError(f"only {len(latencies)} of {SAMPLES} transactional sends were accepted")
    return {
        "send_message (calls/s; goal ≥ 400)": round(ours),
        "bare OutboundMessage insert (rows/s)": round(bare),
        "send_message / bare insert": round(ours / bare, 2),
        "latency while a campaign sends at 80/s, p50 (s)": round(latencies[len(latencies) // 2], 3),
        "latency, p99 (s)": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        "latency samples": len(latencies),
    }


def _latencies(order_update, parameters, actor) -> list[float]:
    """Queue a transactional send every half second while a campaign sends; each one's time to accepted."""
    from contacts.models import Contact
    from messaging.models import MessageStatus, OutboundMessage
    from messaging.sending.service import send_message

    world._engine(1)(CONTACTS)  # a sending campaign to every contact, materialised (its runner unused)
    campaign_worker = subprocess.Popen(
        [sys.executable, "-c", world.WORKER, "0", str(time.time())],
        cwd=world.ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
    )
    time.sleep(3.0)  # the campaign is sending
    people = list(Contact.objects.order_by("-id")[:SAMPLES])
    queued = []
    for contact in people:
        message = send_message(contact=contact, actor=actor, template=order_update, parameters=parameters)
        queued.append((message.pk, time.time()))
        time.sleep(0.5)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = OutboundMessage.objects.filter(pk__in=[pk for pk, _ in queued], status=MessageStatus.ACCEPTED)
        if done.count() == len(queued):
            break
        time.sleep(0.5)
    accepted = dict(
        OutboundMessage.objects.filter(pk__in=[pk for pk, _ in queued]).values_list("pk", "accepted_at")
    )
    campaign_worker.kill()
    campaign_worker.wait()
    return [accepted[pk].timestamp() - at for pk, at in queued if accepted.get(pk)]


if __name__ == "__main__":
    if "--migrate" in sys.argv:
        world.DATABASE, world.MESSAGES = DATABASE, CONTACTS
        world._run_child("migrate", sys.argv[2])
    elif "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(json.dumps(main(), indent=2))
