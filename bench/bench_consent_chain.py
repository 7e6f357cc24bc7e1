"""What the consent ledger's HMAC chain costs its writers (issue 12; docs/consent-chain.md).

In one process on PostgreSQL, with and without the chain side by side. The sides alternate in
small blocks (``BLOCKS`` of each), so the load other work puts on a busy machine falls on both
alike; each side's rate is its events over the sum of its blocks' times. Measured:

- ``record_consent``: fresh contacts, an opt-in then an opt-out each (so every second event
  continues a chain), with the chain and with ``link_event`` replaced by a no-op; each event
  committed on its own, as in production, and again with each block in one transaction (no
  commit per event, which waits for the disk: the chain's share of the remaining work);
- the set-based writer (the bulk opt-out, whose event insert and link insert are the import's):
  one opt-out of ``BENCH_CHAIN_BULK`` contacts per block, with ``link_events`` or a counter;
- an import's apply step (the worker's task): ``BENCH_CHAIN_IMPORT_ROWS`` new numbers that all
  opt in, staged beforehand, with the import's ``link_events`` or a counter;
- the time spent inside the chain's own functions on the chained side, as a share of the writer's
  time: the same cost measured without a second side.

Then ``verify_ledger``'s rate and its slowest chunk over one more chained import. Goal: the chain
costs at most 15 % of ``record_consent``'s rate. Database ``whatsapp_bench_chain`` on the local
PostgreSQL (``BENCH_PG`` to change the server), created afresh each run. Binds to nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "whatsapp_bench_chain"
CONTACTS = int(os.environ.get("BENCH_CHAIN_CONTACTS", "25"))  # per record_consent block
BULK = int(os.environ.get("BENCH_CHAIN_BULK", "2000"))
IMPORT_ROWS = int(os.environ.get("BENCH_CHAIN_IMPORT_ROWS", "2000"))
BLOCKS = int(os.environ.get("BENCH_CHAIN_BLOCKS", "10"))


def main() -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _child() -> dict:
    import time

    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from contacts import bulk, ledger_verify, services
    from contacts.imports import applying, tasks
    from contacts.imports.services import import_set_mapping, import_upload
    from contacts.models import ConsentAction, ConsentSource, Contact, ContactImport, ImportStatus, Purpose
    from core.actors import Actor

    call_command("migrate", verbosity=0)
    settings.DEBUG = False  # no query log: it would cost both sides, the chain's extra queries more
    actor = Actor.system("bench")
    numbers = iter(range(10**8))
    import_batches = iter(range(10**7 // IMPORT_ROWS))
    user = get_user_model().objects.create(username="bench", is_staff=True, is_superuser=True)
    staff = Actor.for_user(user)
    wording = services.consent_wording_create(
        purpose=Purpose.MARKETING, language="en", text="Yes, send me offers.", actor=staff
    )
    mapping = {
        "columns": [{"column": 0, "field": "phone"}],
        "consent": [{"column": 1, "purpose": Purpose.MARKETING, "wording": wording.pk}],
        "consent_date_column": None,
        "consent_date": "2025-03-01",
        "consent_source": "bench",
        "region": "DE",
    }

    def fresh_contacts(count: int) -> list[Contact]:
        return Contact.objects.bulk_create(
            Contact(phone=f"+49151{next(numbers):08d}", time_zone="Europe/Berlin") for _ in range(count)
        )

    def record_block(one_transaction: bool) -> tuple[int, float]:
        contacts = fresh_contacts(CONTACTS)
        started = time.perf_counter()
        with transaction.atomic() if one_transaction else contextlib.nullcontext():
            for contact in contacts:
                for action, source in (
                    (ConsentAction.OPT_IN, ConsentSource.WEB_FORM),
                    (ConsentAction.OPT_OUT, "staff"),
                ):
                    services.record_consent(
                        contact=contact,
                        purpose=Purpose.MARKETING,
                        action=action,
                        source=source,
                        actor=actor,
                        occurred_at=timezone.now(),
                        wording_text="Yes, send me offers." if action == ConsentAction.OPT_IN else "",
                        evidence={"ip": "203.0.113.7", "form": "newsletter"},
                    )
        return 2 * CONTACTS, time.perf_counter() - started

    def bulk_block() -> tuple[int, float]:
        contacts = fresh_contacts(BULK)
        started = time.perf_counter()
        outcome = bulk.contacts_record_opt_out(
            contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]),
            purposes=[Purpose.MARKETING],
            reason="bench",
            actor=actor,
        )
        assert outcome.changed == BULK
        return BULK, time.perf_counter() - started

    def import_block() -> tuple[int, float]:
        first = next(import_batches) * IMPORT_ROWS
        data = "phone,marketing\n" + "".join(f"+49 170 {first + n:07d},yes\n" for n in range(IMPORT_ROWS))
        contact_import = import_upload(
            file_name="bench.csv", data=data.encode(), kind="contacts", actor=staff
        )
        import_set_mapping(contact_import=contact_import, mapping=mapping, actor=staff)
        while ContactImport.objects.get(pk=contact_import.pk).status != ImportStatus.PREVIEW:
            tasks.import_stage(contact_import.pk)
        applying.import_confirm(contact_import=contact_import, actor=staff, user=user)
        started = time.perf_counter()
        while ContactImport.objects.get(pk=contact_import.pk).status != ImportStatus.APPLIED:
            tasks.import_apply(contact_import.pk)
        seconds = time.perf_counter() - started
        contact_import.refresh_from_db()
        assert contact_import.counts["events_recorded"] == IMPORT_ROWS, contact_import.counts
        return IMPORT_ROWS, seconds

    # The chain's own functions, timed on the chained side.
    inside = {"link": 0.0}

    def timed(function):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                inside["link"] += time.perf_counter() - started

        return run

    originals = (services.link_event, bulk.link_events, applying.link_events)
    sides = {
        "chain": tuple(timed(function) for function in originals),
        "bare": (lambda event: None, len, len),
    }
    writers = {
        "record": lambda: record_block(False),
        "record, one transaction per block": lambda: record_block(True),
        "bulk opt-out": bulk_block,
        "import apply": import_block,
    }
    totals = {(writer, side): [0, 0.0] for writer in writers for side in sides}
    link_share = {}
    record_block(False)  # warm-up: connection, caches
    for writer, block in writers.items():
        inside["link"] = 0.0
        for n in range(BLOCKS):
            order = ("chain", "bare") if n % 2 == 0 else ("bare", "chain")
            for side in order:
                services.link_event, bulk.link_events, applying.link_events = sides[side]
                events, seconds = block()
                totals[writer, side][0] += events
                totals[writer, side][1] += seconds
        link_share[writer] = inside["link"] / totals[writer, "chain"][1]
    services.link_event, bulk.link_events, applying.link_events = originals

    # Verification, timed over one more chained import (the bare side's events have no link and
    # would stop it at the first of them).
    after = Contact.objects.order_by("-pk").values_list("pk", flat=True).first()
    import_block()
    chunk_seconds, verified = [], 0
    while True:
        started = time.perf_counter()
        result = ledger_verify.verify_chunk(after_contact_id=after)
        chunk_seconds.append(time.perf_counter() - started)
        assert result.failure is None, result.failure
        verified += result.events
        if result.last_contact_id is None:
            break
        after = result.last_contact_id

    results: dict = {"blocks per side": BLOCKS, "record_consent contacts per block": CONTACTS}
    for writer in writers:
        (chain_events, chain_seconds), (bare_events, bare_seconds) = (
            totals[writer, "chain"],
            totals[writer, "bare"],
        )
        chain_rate, bare_rate = chain_events / chain_seconds, bare_events / bare_seconds
        results[f"{writer}: events/s with chain / without"] = f"{chain_rate:,.0f} / {bare_rate:,.0f}"
        results[f"{writer}: chain / bare"] = round(chain_rate / bare_rate, 3)
        results[f"{writer}: share of the chained side's time in the chain's functions"] = round(
            link_share[writer], 3
        )
    chunk = ledger_verify.VERIFY_CHUNK_CONTACTS
    results[f"verify_ledger: events/s ({verified:,} events, {chunk:,} contacts a chunk)"] = round(
        verified / sum(chunk_seconds)
    )
    results["verify_ledger: slowest chunk (s)"] = round(max(chunk_seconds), 2)
    return results


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    print(json.dumps(_child()))
