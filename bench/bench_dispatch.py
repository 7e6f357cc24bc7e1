"""Dispatch: messages per second to the sandbox (webhooks off, no rate cap), bare client paths first.

Every side sends the same 10,000 template messages, built like the dispatcher builds them
(``messaging.sending.dispatch.build_payload`` of an unsaved campaign message of the demo's
``spring_promotion`` template: image header, two body parameters, the opt-out quick reply, a
coupon code), to the same sandbox process:

- **requests pool**: ``CloudApiClient.send`` in a thread pool of 64 (the client before issue 11);
- **send_many**: ``CloudApiClient.send_many`` (aiohttp, ``WHATSAPP_SEND_CONCURRENCY`` in flight) in
  sub-batches of 1,000, no slots;
- **send_many + slots**: the same, each sub-batch taking its slots from ``limiter.reserve_many``
  (PostgreSQL, the rate lifted to 100,000/s) and no request leaving before its slot.

- **engine, N dispatchers**: the real thing, from "due" to "accepted": a sending campaign of the
  same template to 10,000 opted-in contacts, materialised (``campaign_materialise``) untimed, then
  N processes each running the dispatcher task's loop (``messaging.sending.batch.dispatch``: claim
  with the send-time rules, bind the campaign's parameters, build the payloads, pending attempts,
  ``reserve_for`` slots, ``send_many``, outcomes in bulk) until nothing is due; timed from the
  moment they all start to the last one's end. Every message must end ``accepted``.

- **engine, 1 dispatcher, a 3-card carousel** (issue 15): the same engine sending the demo's
  ``spring_collection`` carousel, each card's image link and link suffix bound and built card by
  card for every message; reported beside the standard template's engine as a ratio.

A side prepares its world untimed (the database is migrated and the contacts opted in by then) and
returns the timed part, which ``_run_child`` times in its own child process.
Each side also reports the client process's CPU per message (every thread of it): on a busy machine
the wall-clock rate moves with the neighbours, the CPU less.

Each side runs in a child process (its own Django settings pointing at the sandbox and at a fresh
database ``whatsapp_bench_dispatch`` on ``BENCH_PG``), twice, interleaved; the best run counts.
The sandbox is a separate process on 127.0.0.1, stopped at the end.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "whatsapp_bench_dispatch"
MESSAGES = int(os.environ.get("BENCH_DISPATCH_MESSAGES", "10000"))
WARM_UP = 200
THREADS = 64
SUB_BATCH = 1000
LIFTED_RATE = 100_000
ROUNDS = 2

TOKEN = "sandbox-access-token"
PHONE_NUMBER_ID = "106540352242922"
TEMPLATE = "spring_promotion"


def main() -> dict:
    load = os.getloadavg()
    results: dict = {"messages": MESSAGES, "machine": f"{os.cpu_count()} cores, load {load[0]:.2f} (1 min)"}
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        seed = Path(tmp) / "seed.json"
        _child("seed", str(seed))
        sandbox, url = _start_sandbox(seed)
        try:
            _child("migrate", url)
            runs: dict[str, list[dict]] = {name: [] for name in SIDES}
            for _ in range(ROUNDS):  # interleaved, so drift on a busy machine hits every side alike
                for name in SIDES:
                    runs[name].append(_child(name, url))
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
    best = {name: max(samples, key=lambda s: s["per_second"]) for name, samples in runs.items()}
    for name, sample in best.items():
        results[f"{name} (messages/s, best of {ROUNDS})"] = round(sample["per_second"])
        if sample["cpu_ms"] == sample["cpu_ms"]:  # not NaN: the engine's CPU is its workers'
            results[f"{name} (client CPU ms per message)"] = round(sample["cpu_ms"], 3)
    for baseline, short in (("requests pool, 64 threads", "requests pool"), (BARE_SEND_MANY, "send_many")):
        if baseline in best:
            for name in SIDES:
                if name != baseline and (short == "requests pool" or name.startswith("engine")):
                    ratio = best[name]["per_second"] / best[baseline]["per_second"]
                    results[f"{name} / {short}"] = round(ratio, 2)
    if CAROUSEL_SIDE in best and "engine, 1 dispatcher" in best:
        ratio = best[CAROUSEL_SIDE]["per_second"] / best["engine, 1 dispatcher"]["per_second"]
        results["carousel / the same engine's standard template"] = round(ratio, 2)
    results["load after (1 min)"] = round(os.getloadavg()[0], 2)
    return results


def _start_sandbox(seed: Path) -> tuple[subprocess.Popen, str]:
    """The sandbox as a process: no --webhook-url (webhooks off), no --max-mps (no 130429)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "whatsapp_sandbox", "--port=0", f"--seed-file={seed}", "--seed=1"],
        cwd=ROOT,
        env=_env("http://127.0.0.1:8001"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    return process, match.group(1)


def _env(sandbox_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "REDIS_URL": "",
        "DEBUG": "true",
        "WHATSAPP_BACKEND": "cloud",
        "WHATSAPP_API_BASE_URL": sandbox_url,
        "WHATSAPP_MESSAGES_PER_SECOND": str(LIFTED_RATE),
        "WHATSAPP_SEND_CONCURRENCY": str(THREADS),
        # The engine's rules with nothing to hold: any hour, no cap, no messaging limit.
        "MARKETING_SENDING_HOURS": "",
        "MARKETING_FREQUENCY_CAP": "0",
        "WHATSAPP_MESSAGING_LIMIT": "TIER_UNLIMITED",
    }


def _child(side: str, arg: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", side, arg],
        cwd=ROOT,
        env=_env(arg if arg.startswith("http") else "http://127.0.0.1:8001"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{side} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- In the child process (Django set up) ----------------------------------------------------


def _template_version(name: str = TEMPLATE):
    """A demo template (spring_promotion) as an unsaved approved version (no database needed)."""
    from templates_app.demo import DEMO_TEMPLATES
    from templates_app.drafts import Draft
    from templates_app.models import MessageTemplate, TemplateButton, TemplateCard, TemplateVersion

    spec = next(s for s in DEMO_TEMPLATES if s["fields"]["name"] == name)
    template = MessageTemplate(meta_template_id=spec["meta_template_id"], status="APPROVED", **spec["fields"])
    buttons = [TemplateButton(template=template, position=i, **b) for i, b in enumerate(spec["buttons"])]
    cards = [TemplateCard(template=template, position=i, **c) for i, c in enumerate(spec.get("cards", []))]
    draft = Draft.from_template(template, buttons, cards=cards)
    opt_out = draft.opt_out_button
    version = TemplateVersion(
        template=template,
        number=1,
        category=template.category,
        parameter_format=template.parameter_format,
        components=draft.components(),
        opt_out_button_index=opt_out.index if opt_out else None,
        opt_out_purpose=opt_out.purpose if opt_out else "",
    )
    template.approved_version = version
    return version


def _payloads(count: int) -> list[dict]:
    """What the dispatcher sends for ``count`` campaign messages to different people."""
    from contacts.models import Contact
    from messaging.models import MessageKind, OutboundMessage
    from messaging.sending.dispatch import build_payload

    version = _template_version()
    return [
        build_payload(
            OutboundMessage(
                kind=MessageKind.TEMPLATE,
                template_version=version,
                contact=Contact(phone=f"+49151{n:08d}"),
                parameters={
                    "header": {"type": "image", "link": "https://shop.example/spring.png"},
                    "body": [f"P{n}", "Sunday"],
                    "buttons": {"2": "SPRING20"},
                },
            )
        )
        for n in range(count)
    ]


def _client():
    from cloud_api.backends import get_backend

    return get_backend()


def _accepted(outcomes: list) -> None:
    from cloud_api.outcomes import Accepted

    refused = [o for o in outcomes if not isinstance(o, Accepted)]
    if refused:
        raise RuntimeError(f"{len(refused)} of {len(outcomes)} were not accepted, e.g. {refused[0]}")


def _bare(send: Callable[[list[dict]], list]) -> Callable[[int], Callable[[], int]]:
    """A bare side: the payloads built and a warm-up batch sent before the clock starts."""

    def prepare(count: int) -> Callable[[], int]:
        _accepted(send(_payloads(WARM_UP)))
        payloads = _payloads(count)

        def run() -> int:
            outcomes = send(payloads)
            _accepted(outcomes)
            return len(outcomes)

        return run

    return prepare


def requests_pool(payloads: list[dict]) -> list:
    from cloud_api.client import CloudApiClient, CloudApiConfig

    client = _requests_client(CloudApiClient, CloudApiConfig)
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(client.send, payloads))


@functools.cache
def _requests_client(client_class, config_class):
    """One client for the process (as get_backend's), its pool as large as the thread pool."""
    return client_class(config_class.from_settings(), pool_size=THREADS)


def send_many(payloads: list[dict]) -> list:
    client = _client()
    outcomes: list = []
    for start in range(0, len(payloads), SUB_BATCH):
        outcomes += client.send_many(payloads[start : start + SUB_BATCH])
    return outcomes


def send_many_with_slots(payloads: list[dict]) -> list:
    from messaging.sending import limiter

    client = _client()
    outcomes: list = []
    for start in range(0, len(payloads), SUB_BATCH):
        batch = payloads[start : start + SUB_BATCH]
        outcomes += client.send_many(batch, not_before=limiter.reserve_many(len(batch)))
    return outcomes


# --- The engine's side --------------------------------------------------------------------------

WORKER = r"""
import cProfile, os, sys, time
import django
django.setup()
from messaging.sending.batch import dispatch
slot, start_at = int(sys.argv[1]), float(sys.argv[2])
profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
time.sleep(max(0.0, start_at - time.time()))
if profile:
    profile.enable()
while "handed over" in dispatch(slot):  # as a fresh task would take over after the task's time
    pass
if profile:
    profile.disable()
    profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE"], f"dispatcher-{slot}-{os.getpid()}.prof"))
print(time.time())
"""
PROMOTION_BINDINGS = {
    "body": {
        "1": {"source": "field", "value": "first_name", "fallback": "", "format": ""},
        "2": {"source": "literal", "value": "Sunday", "fallback": "", "format": ""},
    },
    "buttons": {"2": {"source": "literal", "value": "SPRING20", "fallback": "", "format": ""}},
}


def _world(count: int) -> None:
    """Untimed, once: the demo templates and ``count`` German contacts opted in to marketing."""
    from django.core.management import call_command
    from django.utils import timezone

    from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
    from contacts.services import record_consent
    from contacts.zones import zone_span
    from core.actors import Actor
    from templates_app.demo import seed_templates

    call_command("createcachetable", verbosity=0)
    actor = Actor.system("bench")
    seed_templates(actor=actor)
    earliest, latest = zone_span(phone=None, wa_id=None, time_zone="Europe/Berlin")  # as save() stores it
    Contact.objects.bulk_create(
        Contact(
            phone=f"+49151{n:08d}",
            first_name=f"P{n}",
            country="DE",
            time_zone="Europe/Berlin",
            zone_earliest=earliest,
            zone_latest=latest,
        )
        for n in range(count)
    )
    for contact in Contact.objects.order_by("id"):
        record_consent(
            contact=contact,
            purpose=Purpose.MARKETING,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.WEB_FORM,
            actor=actor,
            occurred_at=timezone.now(),
            wording_text="Yes, send me offers on WhatsApp.",
        )


# The demo's carousel (issue 15): its body's {{1}} from the contact, and per card an image link and
# the Shop button's suffix — four values per card built card by card for every message.
CAROUSEL = "spring_collection"
CAROUSEL_BINDINGS = {
    "body": {"1": {"source": "field", "value": "first_name", "fallback": "", "format": ""}},
    "cards": {
        str(card): {
            "header": {"source": "literal", "value": f"https://shop.example/{slug}.png", "fallback": ""},
            "buttons": {"1": {"source": "literal", "value": slug, "fallback": ""}},
        }
        for card, slug in enumerate(("linen-shirt", "straw-hat", "canvas-sneakers"))
    },
}


def _engine(
    workers: int, template: str = TEMPLATE, bindings: dict = PROMOTION_BINDINGS
) -> Callable[[int], Callable[[], tuple[int, float]]]:
    def prepare(count: int) -> Callable[[], tuple[int, float]]:
        from django.db.models import Count
        from django.utils import timezone

        from contacts.models import Segment
        from contacts.segments.services import segment_create
        from core.actors import Actor
        from messaging.campaign_models import Campaign, CampaignStatus
        from messaging.campaigns.freezing import campaign_freeze
        from messaging.campaigns.materialise import campaign_materialise
        from messaging.models import MessageStatus, OutboundMessage
        from templates_app.models import MessageTemplate

        segment = Segment.objects.filter(name="Germany").first() or segment_create(
            name="Germany",
            rules={"op": "all", "rules": [{"kind": "country", "in": ["DE"]}]},
            actor=Actor.system("bench"),
        )
        campaign = Campaign.objects.create(
            name=f"bench {time.time()}",
            template=MessageTemplate.objects.get(name=template),
            segment=segment,
            purpose="marketing",
            bindings=bindings,
            header_media_source="link",
            header_media_link="https://shop.example/spring.png",
            status=CampaignStatus.SENDING,
        )
        frozen, version = campaign_freeze(campaign, now=timezone.now())
        Campaign.objects.filter(pk=campaign.pk).update(frozen=frozen, segment_version=version)
        queued = campaign_materialise(campaign=campaign).queued
        if queued != count:
            raise RuntimeError(f"{queued} messages materialised, not {count}")

        def run() -> tuple[int, float]:
            start_at = time.time() + 2.0  # every worker has set Django up by then
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(slot), str(start_at)],
                    cwd=ROOT,
                    env=os.environ.copy(),
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for slot in range(workers)
            ]
            ends = []
            for process in processes:
                out, _ = process.communicate(timeout=1200)
                if process.returncode != 0:
                    raise RuntimeError("a dispatcher failed")
                ends.append(float(out.strip().splitlines()[-1]))
            messages = OutboundMessage.objects.filter(campaign=campaign)
            accepted = messages.filter(status=MessageStatus.ACCEPTED).count()
            if accepted != count:
                states = dict(messages.values_list("status").annotate(n=Count("id")))
                raise RuntimeError(f"{accepted} of {count} accepted: {states}")
            return accepted, max(ends) - start_at

        return run

    return prepare


# The bare loop of the engine's client path: the goal is 0.5 × its rate.
BARE_SEND_MANY = "send_many, sub-batches of 1,000"
# Issue 15: the same engine sending the demo's three-card carousel, beside "engine, 1 dispatcher".
CAROUSEL_SIDE = "engine, 1 dispatcher, a 3-card carousel"

# A side prepares its world for ``count`` messages (untimed) and returns the timed part, which
# returns how many messages were accepted.
SIDES: dict[str, Callable[[int], Callable[[], int]]] = {
    "requests pool, 64 threads": _bare(requests_pool),
    BARE_SEND_MANY: _bare(send_many),
    "send_many + reserve_many slots (100,000/s)": _bare(send_many_with_slots),
    **{f"engine, {n} dispatcher{'s' if n > 1 else ''}": _engine(n) for n in (1, 2)},
    CAROUSEL_SIDE: _engine(1, CAROUSEL, CAROUSEL_BINDINGS),
}
if os.environ.get("BENCH_DISPATCH_SIDES"):  # e.g. "sub-batches|engine, 1" while working on one side
    _wanted = os.environ["BENCH_DISPATCH_SIDES"].split("|")
    SIDES = {name: side for name, side in SIDES.items() if any(w.strip() in name for w in _wanted)}


def _run_child(side: str, arg: str) -> dict:
    import django

    django.setup()
    if side == "seed":  # every demo template: the single-sends bench sends order_update too
        from templates_app.demo import DEMO_TEMPLATES, write_sandbox_seed

        names = [spec["fields"]["name"] for spec in DEMO_TEMPLATES]
        write_sandbox_seed(Path(arg), [_template_version(name).template for name in names])
        return {}
    if side == "migrate":
        import psycopg
        from django.core.management import call_command

        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        call_command("migrate", verbosity=0)
        _world(MESSAGES)
        return {}
    run = SIDES[side](MESSAGES)
    started, cpu = time.perf_counter(), time.process_time()
    done = run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if isinstance(done, tuple):  # the engine times its own worker processes (their CPU is theirs)
        accepted, elapsed = done
        return {"per_second": accepted / elapsed, "cpu_ms": float("nan")}
    return {"per_second": done / elapsed, "cpu_ms": 1000 * cpu / done}


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_run_child(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(main(), indent=2))
