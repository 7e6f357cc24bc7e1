"""Masking in the consent audit export on PostgreSQL: what reaching nested evidence costs.

The same 1,000,000 ledger events as ``bench_consent_export`` (its database and seed; evidence
with IP, user agent and page, flat as the web form writes it). Measured in one run, interleaved,
best of ``ROUNDS``: ``COPY (<the export's SELECT>) TO STDOUT``, bytes discarded, with the evidence
column

- **unmasked**: the column as stored;
- **masked, top level only**: the masking before nested evidence was reached (``jsonb_set`` over
  each personal key at the top level) — the baseline;
- **masked, any depth**: today's expression (flat evidence takes the ``jsonb_set`` path after a
  jsonpath test; anything else goes through ``compliance_masked_evidence``);
- **masked, every row walked**: the SQL function on every row, as if all evidence were nested —
  the worst case.

Needs PostgreSQL: ``BENCH_DATABASE_URL`` as ``bench_consent_export``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_consent_export import DEFAULT_URL, _seed
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 2


def main() -> dict:
    return run_child(__file__, DEFAULT_URL, timeout=3000)


def _child() -> dict:
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Func

    from compliance.consent_export import ConsentFilters, consent_columns, consent_events
    from compliance.masking import MASK, PERSONAL_EVIDENCE_KEYS, SQL_FUNCTION, MaskedEvidence
    from compliance.streaming import CSV, _copy_sql
    from contacts.models import ConsentEvent

    def top_level_only(self, compiler, connection, **extra):
        template = "%(expressions)s"
        for key in PERSONAL_EVIDENCE_KEYS:
            template = f"jsonb_set({template}, '{{{key}}}', '\"{MASK}\"', false)"
        return Func.as_sql(self, compiler, connection, template=template, **extra)

    def walk_only(self, compiler, connection, **extra):
        keys = ", ".join(f"'{key}'" for key in PERSONAL_EVIDENCE_KEYS)
        template = f"{SQL_FUNCTION}(%(expressions)s, ARRAY[{keys}]::text[], '\"{MASK}\"'::jsonb)"
        return Func.as_sql(self, compiler, connection, template=template, **extra)

    call_command("migrate", verbosity=0)
    _seed(connection)
    rows = consent_events(ConsentFilters())
    total = ConsentEvent.objects.count()
    any_depth = MaskedEvidence.as_postgresql

    def statement(mask: bool, implementation=None):
        MaskedEvidence.as_postgresql = implementation or any_depth
        try:
            return _copy_sql(rows, consent_columns(mask=mask), output=CSV, connection=connection)
        finally:
            MaskedEvidence.as_postgresql = any_depth

    statements = {
        "unmasked": statement(False),
        "top level only": statement(True, top_level_only),
        "any depth": statement(True),
        "every row walked": statement(True, walk_only),
    }

    def copy(sql, params) -> int:
        size = 0
        with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as stream:
            for data in stream:
                size += len(data)
        return size

    sizes = {}
    timings: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(ROUNDS):
        for name, (sql, params) in statements.items():
            started = time.perf_counter()
            sizes[name] = copy(sql, params)
            timings[name].append(time.perf_counter() - started)
    rate = {name: total / min(seconds) for name, seconds in timings.items()}
    base = rate["top level only"]
    return {
        "events": total,
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        **{f"COPY, evidence {name} (rows/s)": round(value) for name, value in rate.items()},
        "any depth / top level only": round(rate["any depth"] / base, 2),
        "every row walked / top level only": round(rate["every row walked"] / base, 2),
        "top level only / unmasked": round(base / rate["unmasked"], 2),
        "same bytes, any depth and top level (flat evidence)": sizes["any depth"] == sizes["top level only"],
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
