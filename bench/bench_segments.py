"""A segment count over a million contacts on PostgreSQL: ``segment_count`` vs the same count by hand.

The segment has three rules — tag ``vip``, marketing consent opted in, custom field ``orders``
greater than 3 — over 1,000,000 contacts with a realistic spread: languages and countries, a few
tags (vip on ~10%), custom fields on ~80% (``orders`` a number 0–11), current consent for ~60%
(five in six of them opted in). Ours is ``contacts.segments.services.segment_count`` end to end
(compiling the rules, reading the custom fields' types, the count); the hand query is the same
count as someone would write it in SQL. Both run in the same process on the same data,
interleaved, and the median of each is compared (goal: ours ≤ 1.2 × the hand query).

Needs PostgreSQL: ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/whatsapp_bench_segments``), created, migrated and filled with
``INSERT … SELECT generate_series`` if it does not hold the bench's data yet, and kept for the next
run (filling takes a few minutes). ``--explain`` prints both plans.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 1_000_000
RUNS = 12
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_segments"
RULES = {
    "op": "all",
    "rules": [
        {"kind": "tag", "tag": "vip"},
        {"kind": "consent", "purpose": "marketing", "status": "opted_in"},
        {"kind": "attribute", "key": "orders", "operator": "gt", "value": 3},
    ],
}
# The same count written by hand, twice: with joins (the tag and consent rows are unique per
# contact, so each contact counts once) and with EXISTS (as the compiler writes it). Ours is
# compared with the faster of the two.
HAND_SQL = {
    "joins": """
        SELECT count(*)
        FROM contacts_contact c
        JOIN contacts_contact_tags ct ON ct.contact_id = c.id
        JOIN contacts_tag t ON t.id = ct.tag_id AND lower(t.name) = 'vip'
        JOIN contacts_currentconsent cc
          ON cc.contact_id = c.id AND cc.purpose = 'marketing' AND cc.status = 'opted_in'
        WHERE c.merged_into_id IS NULL
          AND (c.attributes ->> 'orders')::numeric > 3
    """,
    "exists": """
        SELECT count(*)
        FROM contacts_contact c
        WHERE c.merged_into_id IS NULL
          AND (c.attributes ->> 'orders')::numeric > 3
          AND EXISTS (SELECT 1 FROM contacts_contact_tags ct JOIN contacts_tag t ON t.id = ct.tag_id
                      WHERE ct.contact_id = c.id AND lower(t.name) = 'vip')
          AND EXISTS (SELECT 1 FROM contacts_currentconsent cc WHERE cc.contact_id = c.id
                      AND cc.purpose = 'marketing' AND cc.status = 'opted_in')
    """,
}


def main() -> dict:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", *sys.argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    if "--explain" in sys.argv:
        print(result.stdout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fresh_database(url: str) -> None:
    """Create the database, or drop and create it when it holds a partial fill from an earlier run."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists:
        with psycopg.connect(url, autocommit=True) as conn:
            migrated = conn.execute("SELECT to_regclass('contacts_segment') IS NOT NULL").fetchone()[0]
            filled = (
                migrated and conn.execute("SELECT 1 FROM contacts_segment WHERE name = 'bench'").fetchone()
            )
        if filled:
            return
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if exists:
            conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _fill(connection) -> None:
    """A million contacts with tags, custom fields and consent, spread by hashes of their ids."""

    def r(column: str, salt: int, n: int) -> str:
        """A stable pseudo-random number in [0, n) per row (and per salt)."""
        return f"mod(abs(hashint8(({column} + {salt})::bigint)), {n})"

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone,
                attributes, whatsapp_profile_name, created_at, updated_at)
            SELECT '+49151' || lpad(g::text, 8, '0'), 'First' || g, 'Last' || g,
                (ARRAY['de', 'de', 'de', 'en', 'en', 'es', 'fr', 'pt_BR'])[1 + {r("g", 1, 8)}],
                (ARRAY['DE', 'DE', 'AT', 'GB', 'ES', 'FR', 'BR', 'CH'])[1 + {r("g", 2, 8)}],
                '',
                CASE WHEN {r("g", 3, 5)} = 0 THEN '{{}}'::jsonb ELSE jsonb_build_object(
                    'orders', {r("g", 4, 12)},
                    'tier', (ARRAY['bronze', 'silver', 'gold'])[1 + {r("g", 5, 3)}],
                    'customer_no', 'C' || g) END,
                '', now() - ({r("g", 6, 1000)}) * interval '1 day', now()
            FROM generate_series(1, %s) AS g
            """,
            [CONTACTS],
        )
        cursor.execute(
            f"""
            INSERT INTO contacts_contact_tags (contact_id, tag_id)
            SELECT c.id, t.id FROM contacts_contact c JOIN contacts_tag t ON
                (t.name = 'vip' AND {r("c.id", 11, 10)} = 0)
                OR (t.name = 'newsletter' AND {r("c.id", 12, 10)} < 4)
                OR (t.name = 'lapsed' AND {r("c.id", 13, 100)} < 15)
            """
        )
        cursor.execute(
            f"""
            INSERT INTO contacts_consentevent (contact_id, purpose, action, source, wording_text, evidence,
                occurred_at, recorded_at, signal_key, carried_source, actor_kind, actor_ref, actor_label)
            SELECT c.id, 'marketing',
                CASE WHEN {r("c.id", 21, 6)} = 0 THEN 'opt_out' ELSE 'opt_in' END,
                'web_form', 'Yes, send me offers on WhatsApp.', '{{}}'::jsonb,
                now() - interval '30 days', now() - interval '30 days', '', '', 'system', '', 'bench'
            FROM contacts_contact c WHERE {r("c.id", 20, 10)} < 6
            """
        )
        cursor.execute(
            """
            INSERT INTO contacts_currentconsent (contact_id, purpose, status, event_id, since, updated_at)
            SELECT contact_id, purpose, CASE action WHEN 'opt_in' THEN 'opted_in' ELSE 'opted_out' END,
                id, effective_at, now()
            FROM contacts_consentevent
            """
        )


def _child() -> dict:
    _fresh_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from contacts.models import AttributeDefinition, Segment, Tag
    from contacts.segments.services import segment_count, segment_create, segment_members
    from core.actors import Actor

    call_command("migrate", verbosity=0)
    if not Segment.objects.filter(name="bench").exists():
        with transaction.atomic():
            for name in ("vip", "newsletter", "lapsed"):
                Tag.objects.create(name=name)
            AttributeDefinition.objects.create(key="orders", type="number")
            AttributeDefinition.objects.create(key="tier", type="text")
            _fill(connection)
            segment_create(name="bench", rules=RULES, actor=Actor.system("bench"))
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    segment = Segment.objects.get(name="bench")

    def hand(form: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(HAND_SQL[form])
            return cursor.fetchone()[0]

    if "--explain" in sys.argv:
        ours_sql, params = segment_members(segment).order_by().query.sql_with_params()
        plans = [("ours", f"SELECT count(*) FROM ({ours_sql}) s", params)]
        plans += [(f"hand, {form}", sql, []) for form, sql in HAND_SQL.items()]
        for label, sql, args in plans:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args)
                print(f"--- {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))

    expected = segment_count(segment)
    assert all(hand(form) == expected for form in HAND_SQL), "the segment and the hand queries disagree"
    samples: dict[str, list[float]] = {"ours": [], **{form: [] for form in HAND_SQL}}
    names = list(samples)
    for run in range(RUNS):
        # Interleaved, so drift on a busy machine hits all alike, and in turn first: whichever
        # query runs right after another one over the same pages is measured a little faster.
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            if name == "ours":
                segment_count(segment)
            else:
                hand(name)
            samples[name].append((time.perf_counter() - started) * 1000)
    median = {name: statistics.median(values) for name, values in samples.items()}
    best_hand = min(median[form] for form in HAND_SQL)
    return {
        "contacts": CONTACTS,
        "members": expected,
        "segment_count (median ms)": round(median["ours"], 1),
        **{f"by hand with {form} (median ms)": round(median[form], 1) for form in HAND_SQL},
        "ours / faster hand query (goal <= 1.2)": round(median["ours"] / best_hand, 2),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
