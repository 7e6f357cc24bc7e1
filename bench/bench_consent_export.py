"""The consent audit export of 1,000,000 ledger events on PostgreSQL, against PostgreSQL's own COPY.

Measured in one run, interleaved, on the same data:

- **ours**: the admin's download (Django's test client, no network) — the form, the COUNT shown
  before the download, the audit entries, and the streamed response read to its end;
- **bare COPY**: ``COPY (<the same SELECT>) TO STDOUT`` through psycopg, the bytes discarded —
  the ceiling; the goal is ours ≥ 0.5 × its rows/s;
- **COPY of the raw columns**: the same rows without formatting in the SQL (what the formula
  guard, the ISO instants and the masking cost inside PostgreSQL);
- **iterating**: the path other databases take (a cursor read in chunks into ``csv.writer``),
  on the same query, for scale.

Peak memory: Python's own allocations (tracemalloc) while the admin download of 10,000 rows and
of 1,000,000 rows is read to its end; flat means the same order, not ten times more per decade.
Needs PostgreSQL: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
whatsapp_bench_consent``, created and migrated if missing); the rows are inserted with one
``INSERT … SELECT generate_series`` and kept for the next run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = 100_000
EVENTS_PER_CONTACT = 10
EVENTS = CONTACTS * EVENTS_PER_CONTACT
SMALL = 10_000
ROUNDS = 2
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_consent"
URL = "/admin/compliance/consentauditexport/"
BASE = "2026-01-01T00:00:00Z"


def main() -> dict:
    return run_child(__file__, DEFAULT_URL, timeout=3000)


def _seed(connection) -> None:
    """100,000 contacts with ten events each: in and out, two purposes, evidence with IP and browser,
    one event a second from BASE (so the first 10,000 seconds hold 10,000 events)."""
    from contacts.models import ConsentEvent, Contact

    if Contact.objects.count() < CONTACTS:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone,
                    attributes, whatsapp_profile_name, created_at, updated_at)
                SELECT '+49151' || lpad(g::text, 8, '0'), 'First' || g, 'Last' || g, 'de', 'DE', '',
                    '{}'::jsonb, '', now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [CONTACTS],
            )
    if ConsentEvent.objects.count() < EVENTS:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts_contact)
                INSERT INTO contacts_consentevent (contact_id, purpose, action, source, wording_text,
                    evidence, occurred_at, recorded_at, signal_key, carried_source,
                    actor_kind, actor_label, actor_ref)
                SELECT c.id,
                    CASE WHEN g %% 2 = 0 THEN 'marketing' ELSE 'service' END,
                    CASE WHEN g %% 3 = 0 THEN 'opt_out' ELSE 'opt_in' END,
                    'web_form',
                    'Yes, send me WhatsApp offers from Demo Shop. Unsubscribe any time with STOP.',
                    jsonb_build_object('ip', '203.0.113.' || (g %% 250), 'user_agent',
                        'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', 'page', 'https://shop.example/join'),
                    %s::timestamptz + g * interval '1 second',
                    %s::timestamptz + g * interval '1 second' + interval '2 seconds',
                    '', '', 'system', 'bench', ''
                FROM generate_series(1, %s) AS g
                JOIN numbered c ON c.n = 1 + (g - 1) %% %s
                """,
                [BASE, BASE, EVENTS, CONTACTS],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE contacts_consentevent")


def _child() -> dict:
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from compliance.consent_export import ConsentFilters, consent_columns, consent_events
    from compliance.streaming import CSV, ExportProgress, _copy_sql, _iterated_chunks
    from contacts.models import ConsentEvent

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    _seed(connection)
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    rows = consent_events(ConsentFilters())
    columns = consent_columns(mask=False)
    statement, params = _copy_sql(rows, columns, output=CSV, connection=connection)
    raw_statement, raw_params = _raw_copy_sql(rows)
    total = ConsentEvent.objects.count()

    def ours() -> int:
        response = client.get(URL, {"download": "1"})
        size = 0
        for chunk in response.streaming_content:
            size += len(chunk)
        return size

    def bare(sql, sql_params) -> int:
        size = 0
        with connection.cursor() as cursor, cursor.cursor.copy(sql, sql_params) as copy:
            for data in copy:
                size += len(data)
        return size

    def iterating() -> int:
        return sum(
            len(chunk) for chunk in _iterated_chunks(rows, columns, output=CSV, progress=ExportProgress())
        )

    timings: dict[str, list[float]] = {"ours": [], "copy": [], "copy_raw": []}
    for _ in range(ROUNDS):
        for name, run in (
            ("ours", ours),
            ("copy", lambda: bare(statement, params)),
            ("copy_raw", lambda: bare(raw_statement, raw_params)),
        ):
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    started = time.perf_counter()
    iterating()
    iterate_seconds = time.perf_counter() - started
    rate = {name: total / min(seconds) for name, seconds in timings.items()}

    def peak(params: dict) -> int:
        tracemalloc.start()
        response = client.get(URL, {**params, "download": "1"})
        for _chunk in response.streaming_content:
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small_filter = {"date_field": "occurred", "date_from": BASE, "date_to": "2026-01-01T02:46:40Z"}
    small_rows = ConsentEvent.objects.filter(occurred_at__lte="2026-01-01T02:46:40Z").count()
    peak_small, peak_large = peak(small_filter), peak({})
    return {
        "events": total,
        "machine": f"{os.cpu_count()} cores",
        "ours: admin download (rows/s)": round(rate["ours"]),
        "bare COPY of the same query (rows/s)": round(rate["copy"]),
        "ours / bare COPY": round(rate["ours"] / rate["copy"], 2),
        "bare COPY of the raw columns (rows/s)": round(rate["copy_raw"]),
        "formatting in SQL: same query / raw": round(rate["copy"] / rate["copy_raw"], 2),
        "iterating into csv.writer (rows/s)": round(total / iterate_seconds),
        "iterating / bare COPY": round(total / iterate_seconds / rate["copy"], 2),
        f"peak Python memory, {small_rows:,} rows (KiB)": round(peak_small / 1024),
        f"peak Python memory, {total:,} rows (KiB)": round(peak_large / 1024),
    }


def _raw_copy_sql(rows) -> tuple[str, list]:
    from django.db import connection

    plain = rows.values_list(
        "id",
        "contact_id",
        "contact__phone",
        "contact__merged_into_id",
        "purpose",
        "action",
        "source",
        "carried_source",
        "occurred_at",
        "recorded_at",
        "effective_at",
        "wording_id",
        "wording__version",
        "wording__language",
        "wording__text",
        "wording_text",
        "evidence",
        "signal_key",
        "actor_kind",
        "actor_label",
    )
    sql, params = plain.query.get_compiler(connection=connection).as_sql()
    return f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", list(params)


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
