"""The back-dated opt-out report's one statement on a large ledger, against the first formulation.

Why the statement starts from the back-dated opt-outs: the first formulation joined every message
to the opt-outs of "its contact or a row merged into it" with an OR in the join condition, which
no hash or merge join can use. Measured in one run, interleaved, on the same data, both giving the
same rows:

- **ours**: ``compliance.backdated.backdated_rows()`` — back-dated opt-outs first (few), paired
  with their person, then joined to that person's messages on equality;
- **OR join**: the first formulation (kept here only as the baseline), every message against the
  opt-outs of the same person through ``contact_id = m.contact_id OR contact_id IN (merged rows)``.

Then, on the same data, the proof of consent for the period holding every message (CSV, unmasked,
``compliance.campaign_proof.proof_export``) against a bare ``COPY`` of the messages' own columns,
interleaved, in rows per second.

Data: 200,000 contacts, each opted in with one message accepted; 10 % opted out later in the
ordinary way; 2 % have a STOP dated before their message and recorded after it (half of those
opted in again before the message, which takes over); 1 % have a merged row whose late STOP
counts. Needs PostgreSQL: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
whatsapp_bench_backdated``, created and migrated if missing); the rows are inserted with
``INSERT … SELECT generate_series`` and kept for the next run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 200_000
ROUNDS = 3
# The OR join is stopped at this many seconds (a time of LIMIT_SECONDS means "at least").
LIMIT_SECONDS = int(os.environ.get("BENCH_OR_JOIN_LIMIT", "120"))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_backdated"


def main() -> dict:
    return run_child(__file__, DEFAULT_URL, timeout=3000)


SEED = """
INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone, attributes,
    whatsapp_profile_name, zone_earliest, zone_latest, created_at, updated_at)
SELECT '+49151' || lpad(g::text, 8, '0'), 'First', 'Last', 'de', 'DE', '', '{}'::jsonb, '', '', '',
    now(), now()
FROM generate_series(1, %(n)s) AS g;

-- one in a hundred: a merged row beside the contact (no phone; a wa_id keeps the identifier constraint)
INSERT INTO contacts_contact (wa_id, first_name, last_name, language, country, time_zone, attributes,
    whatsapp_profile_name, zone_earliest, zone_latest, created_at, updated_at, merged_into_id, merged_at)
SELECT '99' || c.id, '', '', '', '', '', '{}'::jsonb, '', '', '', now(), now(), c.id, now()
FROM contacts_contact c WHERE c.merged_into_id IS NULL AND c.wa_id IS NULL AND c.id %% 100 = 7;

CREATE TEMP TABLE base AS
SELECT id, timestamptz '2026-01-01' + (id %% 86400) * interval '1 second' AS t
FROM contacts_contact WHERE merged_into_id IS NULL;

-- everyone: an opt-in at t
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_in', 'web_form', 'Yes please', '{"ip": "203.0.113.1"}',
    t, t, id, '', '' FROM base;

-- one in fifty: a STOP at t + 5 min, recorded at t + 1 day (back-dated); half opt in again at t + 6 min
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_out', 'staff', '', '{"form": "paper"}',
    t + interval '5 minutes', t + interval '1 day', id, '', '' FROM base WHERE id %% 50 = 3;
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_in', 'web_form', 'Yes again', '{}',
    t + interval '6 minutes', t + interval '6 minutes', id, '', '' FROM base WHERE id %% 100 = 3;

-- one in ten: an ordinary STOP two days later
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_out', 'keyword', '', '{}',
    t + interval '2 days', t + interval '2 days', id, '', '' FROM base WHERE id %% 10 = 1;

-- the merged rows: a STOP at t + 5 min of the survivor, recorded a day later
INSERT INTO contacts_consentevent (actor_kind, actor_ref, actor_label, purpose, action, source, wording_text,
    evidence, occurred_at, recorded_at, contact_id, signal_key, carried_source)
SELECT 'system', '', 'bench', 'marketing', 'opt_out', 'keyword', '', '{}',
    b.t + interval '5 minutes', b.t + interval '1 day', m.id, '', ''
FROM contacts_contact m JOIN base b ON b.id = m.merged_into_id;

-- everyone: one marketing message accepted at t + 10 min
INSERT INTO messaging_outboundmessage (public_id, actor_kind, actor_ref, actor_label, contact_id, kind,
    purpose, is_reply, parameters, content, rendered_text, is_test, status, hold_reason, attempt_count,
    error_class,
    error_text, needs_review, created_at, accepted_at, updated_at)
SELECT gen_random_uuid(), 'system', '', 'bench', id, 'template', 'marketing', false, '{}', '{}', 'Sale',
    false, 'delivered', '', 1, '', '', false, t, t + interval '10 minutes', now()
FROM base;
ANALYZE;
"""

OR_JOIN = """
SELECT m.id, o.id
FROM messaging_outboundmessage m
JOIN contacts_consentevent o
  ON o.action = 'opt_out' AND o.purpose = m.purpose
 AND (o.contact_id = m.contact_id
      OR o.contact_id IN (SELECT merged.id FROM contacts_contact merged
                          WHERE merged.merged_into_id = m.contact_id))
 AND o.occurred_at < COALESCE(m.accepted_at, m.sent_at) AND COALESCE(m.accepted_at, m.sent_at) < o.recorded_at
WHERE m.purpose <> '' AND NOT m.is_reply AND NOT m.is_test
  AND NOT EXISTS (
    SELECT 1 FROM contacts_consentevent i
    WHERE i.action = 'opt_in' AND i.purpose = m.purpose
      AND (i.contact_id = m.contact_id
           OR i.contact_id IN (SELECT merged.id FROM contacts_contact merged
                               WHERE merged.merged_into_id = m.contact_id))
      AND i.effective_at >= o.effective_at + interval '1 second'
      AND i.effective_at <= COALESCE(m.accepted_at, m.sent_at)
  )
"""


def _child() -> dict:
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import OperationalError, connection

    from compliance.backdated import backdated_rows
    from contacts.models import Contact

    call_command("migrate", verbosity=0)
    if not Contact.objects.exists():
        with connection.cursor() as cursor:
            for statement in SEED.split(";\n"):
                if statement.strip():
                    cursor.execute(statement, {"n": CONTACTS})

    def ours() -> int:
        return len(list(backdated_rows()))

    def or_join() -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = '{LIMIT_SECONDS}s'")
            try:
                cursor.execute(OR_JOIN)
                return len(cursor.fetchall())
            except OperationalError:  # cancelled at the limit: its time reads as the limit
                return -1
            finally:
                cursor.execute("SET statement_timeout = 0")

    timings: dict[str, list[float]] = {"ours": [], "or_join": []}
    counts = {}
    for _ in range(ROUNDS):
        for name, run in (("ours", ours), ("or_join", or_join)):
            started = time.perf_counter()
            counts[name] = run()
            timings[name].append(time.perf_counter() - started)
    best = {name: min(values) for name, values in timings.items()}
    proof = _proof_rates(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_outboundmessage")
        messages = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM contacts_consentevent")
        events = cursor.fetchone()[0]
    return {
        "messages": messages,
        "ledger events": events,
        "rows (ours / OR join)": f"{counts['ours']} / {counts['or_join']}",
        "ours, best of 3 (s)": round(best["ours"], 3),
        "OR join, best of 3 (s)": round(best["or_join"], 3),
        "OR join / ours": round(best["or_join"] / best["ours"], 1),
        **proof,
    }


def _proof_rates(connection) -> dict:
    """The proof of consent for the period holding every message (all 200,000 are non-campaign
    sends of 2026-01-01), streamed as CSV, against a bare COPY of the messages' own columns."""
    from datetime import UTC, datetime

    from compliance.campaign_proof import period_scope, proof_export
    from core.actors import Actor

    scope = period_scope(since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 1, 2, tzinfo=UTC))
    bare_sql = (
        "COPY (SELECT public_id, contact_id, purpose, status, created_at, accepted_at, authorising_event_id "
        "FROM messaging_outboundmessage WHERE campaign_id IS NULL AND NOT is_test "
        "AND created_at >= '2026-01-01' AND created_at < '2026-01-02' ORDER BY id) "
        "TO STDOUT WITH (FORMAT csv)"
    )

    def ours() -> int:
        export = proof_export(scope=scope, actor=Actor.system("bench"), mask=False)
        return sum(chunk.count(b"\n") for chunk in export.chunks) - 1

    def bare() -> int:
        connection.ensure_connection()
        lines = 0
        with connection.connection.cursor() as cursor, cursor.copy(bare_sql) as copy:
            for data in copy:
                lines += bytes(data).count(b"\n")
        return lines

    timings: dict[str, list[float]] = {"ours": [], "bare": []}
    rows = {}
    for _ in range(ROUNDS):
        for name, run in (("ours", ours), ("bare", bare)):
            started = time.perf_counter()
            rows[name] = run()
            timings[name].append(time.perf_counter() - started)
    rate = {name: rows[name] / min(values) for name, values in timings.items()}
    return {
        "proof rows (ours / bare COPY)": f"{rows['ours']} / {rows['bare']}",
        "proof rows/s, ours": round(rate["ours"]),
        "rows/s, bare COPY of the messages' columns": round(rate["bare"]),
        "proof / bare COPY": round(rate["ours"] / rate["bare"], 2),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
