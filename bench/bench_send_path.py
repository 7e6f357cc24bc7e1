"""What issue 8's consent checks cost the send path: this tree against the tree before them.

The checks added to every business-initiated send — consent read with its proof (the event
itself, joined), asked again under the contact's lock after the rate limiter's slot, merged-away
and US-marketing checks — run once per message. This benchmark sends the same queued utility
messages through the real task (``dispatch.send_queued``: claim, send-time rules, limiter, attempt,
answer) on PostgreSQL, with the in-memory backend so the database work is what is measured, in
this tree and in a git worktree of ``BENCH_BASE`` (default: the commit before issue 8), one after
the other in the same run. It reports messages per second and queries per message of both.

Databases: ``whatsapp_bench_send_<tree>`` on the local PostgreSQL (``BENCH_PG`` to change the
server), created afresh each run. Binds to nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = os.environ.get("BENCH_BASE", "5f98eb5")
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
MESSAGES = int(os.environ.get("BENCH_SEND_MESSAGES", "1500"))
ROUNDS = 2


def main() -> dict:
    results: dict = {"messages per run": MESSAGES, "base": BASE}
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(base_tree), BASE],
            check=True,
            capture_output=True,
        )
        try:
            runs: dict[str, list[dict]] = {"now": [], "base": []}
            for _ in range(ROUNDS):  # interleaved, so drift on a busy machine hits both alike
                for label, tree in (("now", ROOT), ("base", base_tree)):
                    runs[label].append(_run(label, tree))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], capture_output=True
            )
    for label, samples in runs.items():
        if any("error" in s for s in samples):
            return {label: next(s["error"] for s in samples if "error" in s)}
        results[f"{label}: messages/s (best of {ROUNDS})"] = max(s["per_second"] for s in samples)
        results[f"{label}: queries per message"] = samples[0]["queries_per_message"]
    results["now / base (messages/s)"] = round(
        results[f"now: messages/s (best of {ROUNDS})"] / results[f"base: messages/s (best of {ROUNDS})"], 2
    )
    return results


def _run(label: str, tree: Path) -> dict:
    database = f"whatsapp_bench_send_{label}"
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{database}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "WHATSAPP_BACKEND": "memory",
        "WHATSAPP_API_BASE_URL": "http://127.0.0.1:8001",
        "WHATSAPP_MESSAGES_PER_SECOND": "100000",
        "MARKETING_SENDING_HOURS": "",
        "WHATSAPP_MESSAGING_LIMIT": "TIER_UNLIMITED",
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), database],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _child(tree: str, database: str) -> dict:
    import time

    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    sys.path.insert(0, tree)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from contacts.models import ConsentAction, ConsentSource, Contact, Purpose
    from contacts.services import record_consent
    from core.actors import Actor
    from messaging.sending.dispatch import send_queued
    from messaging.sending.service import send_message
    from templates_app.demo import seed_templates

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    actor = Actor.system("bench")
    order_update = {t.name: t for t in seed_templates(actor=actor)}["order_update"]
    parameters = {
        "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
        "body": ["Pablo", "ORD-9271"],
        "buttons": {"0": "ORD-9271"},
    }
    Contact.objects.bulk_create(
        Contact(phone=f"+49151{n:08d}", first_name=f"P{n}", time_zone="Europe/Berlin")
        for n in range(MESSAGES)
    )
    ids = []
    for contact in Contact.objects.order_by("id"):
        record_consent(
            contact=contact,
            purpose=Purpose.SERVICE,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.WEB_FORM,
            actor=actor,
            occurred_at=timezone.now(),
            wording_text="Yes, send me order updates on WhatsApp.",
        )
        ids.append(
            send_message(contact=contact, actor=actor, template=order_update, parameters=parameters).pk
        )
    connection.queries_log.clear()  # DEBUG logs every query; a full log would hide these
    with CaptureQueriesContext(connection) as queries:
        first = send_queued(ids[0])
    assert first.startswith("accepted"), f"the first message was not sent: {first}"
    started = time.perf_counter()
    answers = [send_queued(message_id) for message_id in ids[1:]]
    elapsed = time.perf_counter() - started
    refused = [a for a in answers if not a.startswith("accepted")]
    assert not refused, f"{len(refused)} messages were not sent, e.g. {refused[0]}"
    return {
        "per_second": round((len(ids) - 1) / elapsed, 1),
        "queries_per_message": len(queries.captured_queries),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        print(main())
