"""A contact import of 100,000 rows with a consent column, end to end, against a bare script.

Ours: the real code path of the worker, minus the queue, in one process: ``import_upload`` (the
bytes kept in the database), ``import_set_mapping``, the staging task (``tasks.import_stage``: parse
every row, COPY into the staging table, then validate in SQL), ``import_confirm`` and the apply
task (``tasks.import_apply``: contacts, consent events and current consent, set-based, in chunks of
``CONTACT_IMPORT_CHUNK_ROWS``). Each task is called again when it hands on, as the queue would.

The bare script: the same file read with ``csv`` and ``phonenumbers`` (parse, validate, E.164,
duplicates dropped), the valid rows COPYed into ``contacts_contact`` with their country and zone
span (the zones of the number's longest listed prefix, found from the type the validity check
gives, as ours does) and, for the rows that opt in, ``contacts_consentevent``, then current consent
with one INSERT … SELECT. No preview, no matching, no rules: the floor an import cannot go below.

Both run in their own process against a fresh copy of a migrated database
(``whatsapp_bench_import_*`` on ``BENCH_PG``, default the local PostgreSQL; dropped afterwards).
Peak memory is the growth of the process's maximum resident set during the import (``ru_maxrss``),
at 10,000 and at 100,000 rows, split into the upload (which holds the file's bytes) and what
follows: flat means the rows are never all held in memory at once. The goal (issue 9): ours at
most 2 × the bare script, memory flat.

CPU seconds are reported beside the times, for Python and for the PostgreSQL backend serving it
(read from ``/proc/<pid>/schedstat``: only when the server runs on this machine). They are what
a busy machine changes least: the bare script parses in Python while PostgreSQL stores the rows
it has sent, so on an idle two-core machine its time is about its Python time, and a machine
busy with other work takes that overlap away from it more than from ours. Compare the ratio of
one run, on an idle machine; the CPU figures say where the time goes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
SMALL = ROWS // 10
TEMPLATE = "whatsapp_bench_import_template"
FIRST = ["Anna", "Jonas", "Maria", "José", "Lucía", "João", "Emily", "Müller", "Zoë", "Ahmed", "Li", "Sven"]
LAST = ["Schmidt", "Müller", "García", "Silva", "Hernández", "Smith", "Rossi", "Nowak", "Öztürk", "Dubois"]


def main() -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",  # the development settings; the query log is switched off in the child
        "REDIS_URL": "",
        "PYTHONPATH": str(ROOT),
    }
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        large, small = Path(tmp) / "large.csv", Path(tmp) / "small.csv"
        _write_csv(large, ROWS)
        _write_csv(small, SMALL)
        _create(TEMPLATE)
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity=0"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": f"{SERVER}/{TEMPLATE}"},
            capture_output=True,
            text=True,
        )
        if migrated.returncode != 0:
            return {"error": (migrated.stderr.strip().splitlines() or ["migrate failed"])[-1]}
        try:
            # Interleaved, best of two: on a busy machine drift hits both alike.
            runs = [_run(kind, large, env) for kind in ("bare", "ours", "ours", "bare")]
            ours_small = _run("ours", small, env)
            bare_small = _run("bare", small, env)
        finally:
            _drop(TEMPLATE)
    for run in (*runs, ours_small, bare_small):
        if "error" in run:
            return run
    bare = min(runs[0], runs[3], key=lambda run: run["seconds"])
    ours = min(runs[1], runs[2], key=lambda run: run["seconds"])
    return {
        "rows": ROWS,
        "ours: seconds (best of 2)": ours["seconds"],
        "bare script: seconds (best of 2)": bare["seconds"],
        "ours / bare (goal ≤ 2)": round(ours["seconds"] / bare["seconds"], 2),
        "ours: upload, stage, validate, apply (s)": ", ".join(
            str(ours[phase]) for phase in ("upload", "stage", "validate", "apply")
        ),
        "ours: contacts created, events recorded": f"{ours['created']}, {ours['events']}",
        "bare: contacts, events": f"{bare['created']}, {bare['events']}",
        f"ours: peak memory growth at {SMALL:,} / {ROWS:,} rows (MB)": f"{ours_small['mb']} / {ours['mb']}",
        "ours: of which upload / then stage to apply (MB)": (
            f"{ours_small['mb_upload']} / {ours_small['mb_after_upload']} at {SMALL:,}, "
            f"{ours['mb_upload']} / {ours['mb_after_upload']} at {ROWS:,}"
        ),
        f"bare: peak memory growth at {SMALL:,} / {ROWS:,} rows (MB)": f"{bare_small['mb']} / {bare['mb']}",
        "ours: CPU s, Python / database": f"{ours['cpu']} / {ours['db_cpu']}",
        "bare: CPU s, Python / database": f"{bare['cpu']} / {bare['db_cpu']}",
    }


def _write_csv(path: Path, rows: int) -> None:
    """Customers in five countries, as shops export them: national and international forms, a
    consent column ("yes" for about 70 %), its date, some bad numbers and some duplicates."""
    rng = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Phone,First name,Last name,Marketing,Signup date\n")
        written: list[str] = []
        for n in range(rows):
            pick = rng.random()
            number = (n * 7919) % 10**7  # distinct within each country for n < 10**7
            if pick < 0.02 and written:
                phone = rng.choice(written)  # a duplicate
            elif pick < 0.05:
                phone = f"0151 {n:04d}"  # too short
            elif pick < 0.35:
                phone = f"0151 {number:08d}"  # German mobile, national form
            elif pick < 0.55:
                phone = f"+49 170 {number:07d}"
            elif pick < 0.70:
                phone = f"+55 11 9{number + 20000000:08d}"
            elif pick < 0.80:
                phone = f"+52 55 {number + 10000000:08d}"
            elif pick < 0.90:
                phone = f"+34 6{number:08d}"
            else:
                phone = f"+1 415 {2000000 + number % 8000000:07d}"
            written.append(phone)
            consent = "yes" if rng.random() < 0.7 else "no"
            date = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2024"
            out.write(f"{phone},{rng.choice(FIRST)},{rng.choice(LAST)},{consent},{date}\n")


def _run(kind: str, csv_path: Path, env: dict) -> dict:
    database = f"whatsapp_bench_import_{kind}"
    _drop(database)
    _create(database, template=TEMPLATE)
    try:
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), f"--{kind}", str(csv_path)],
            cwd=ROOT,
            env={**env, "DATABASE_URL": f"{SERVER}/{database}"},
            capture_output=True,
            text=True,
            timeout=1800,
        )
    finally:
        _drop(database)
    if result.returncode != 0:
        return {"error": f"{kind}: " + (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _create(database: str, template: str | None = None) -> None:
    _drop(database)
    _admin(f'CREATE DATABASE "{database}"' + (f' TEMPLATE "{template}"' if template else ""))


def _drop(database: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _db_cpu(pid: int | None) -> float | None:
    """Seconds the PostgreSQL backend ``pid`` has spent on a CPU, when it runs on this machine."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _spent(pid: int | None, since: float | None, same_backend: bool) -> float | None:
    now = _db_cpu(pid)
    return round(now - since, 2) if same_backend and now is not None and since is not None else None


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _ours(csv_path: str) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    settings.DEBUG = False  # as a worker runs: no query log (it would cost time and memory here)
    from django.db import connection

    def backend() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    from contacts.imports import tasks
    from contacts.imports.applying import import_confirm
    from contacts.imports.services import import_set_mapping, import_upload
    from contacts.models import ContactImport, ImportStatus, Purpose
    from contacts.services import consent_wording_create
    from core.actors import Actor

    user = get_user_model().objects.create(username="bench", is_staff=True, is_superuser=True)
    actor = Actor.for_user(user)
    wording = consent_wording_create(
        purpose=Purpose.MARKETING, language="en", text="Yes, send me offers from Demo Shop.", actor=actor
    )
    validating = tasks.validation.validate_import
    timings = {"validate": 0.0}

    def timed_validation(**kwargs):
        started = time.perf_counter()
        validating(**kwargs)
        timings["validate"] += time.perf_counter() - started

    tasks.validation.validate_import = timed_validation

    def run(task, import_id: int, until: str) -> None:
        while ContactImport.objects.get(pk=import_id).status != until:
            task(import_id)

    pid = backend()
    db_before, cpu_before = _db_cpu(pid), time.process_time()
    before = _peak_mb()
    started = time.perf_counter()
    data = Path(csv_path).read_bytes()
    contact_import = import_upload(file_name="customers.csv", data=data, kind="contacts", actor=actor)
    del data
    uploaded = time.perf_counter()
    after_upload = _peak_mb()
    mapping = {
        "columns": [
            {"column": 0, "field": "phone"},
            {"column": 1, "field": "first_name"},
            {"column": 2, "field": "last_name"},
        ],
        "consent": [{"column": 3, "purpose": Purpose.MARKETING, "wording": wording.pk}],
        "consent_date_column": 4,
        "consent_date": None,
        "consent_source": "Signup form at the shop counter",
        "region": "DE",
    }
    import_set_mapping(contact_import=contact_import, mapping=mapping, actor=actor)
    run(tasks.import_stage, contact_import.pk, ImportStatus.PREVIEW)
    staged = time.perf_counter()
    import_confirm(contact_import=contact_import, actor=actor, user=user)
    run(tasks.import_apply, contact_import.pk, ImportStatus.APPLIED)
    applied = time.perf_counter()
    cpu = round(time.process_time() - cpu_before, 2)
    db_cpu = _spent(pid, db_before, backend() == pid)  # one connection throughout (CONN_MAX_AGE)
    contact_import.refresh_from_db()
    return {
        "seconds": round(applied - started, 2),
        "upload": round(uploaded - started, 2),
        "stage": round(staged - uploaded - timings["validate"], 2),
        "validate": round(timings["validate"], 2),
        "apply": round(applied - staged, 2),
        "created": contact_import.counts["contacts_created"],
        "events": contact_import.counts["events_recorded"],
        "mb": round(_peak_mb() - before, 1),
        "mb_upload": round(after_upload - before, 1),
        "mb_after_upload": round(_peak_mb() - after_upload, 1),
        "cpu": cpu,
        "db_cpu": db_cpu,
    }


def _bare(csv_path: str) -> dict:
    import csv
    import hashlib
    import io
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import phonenumbers
    import psycopg
    from phonenumbers import timezone as phone_timezone
    from phonenumbers.phonenumberutil import is_number_type_geographical
    from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

    reference = datetime(2025, 1, 15, 12, tzinfo=UTC)
    spans: dict[tuple[str, ...], tuple[str, str]] = {}

    def span(number, e164: str, kind) -> tuple[str, str]:
        digits = (
            e164[1:] if is_number_type_geographical(kind, number.country_code) else str(number.country_code)
        )
        zones = next(
            (
                TIMEZONE_DATA[digits[:n]]
                for n in range(TIMEZONE_LONGEST_PREFIX, 0, -1)
                if digits[:n] in TIMEZONE_DATA
            ),
            (),
        )
        if zones not in spans:
            known = sorted(
                (reference.astimezone(ZoneInfo(z)).utcoffset(), z)
                for z in zones
                if z != phone_timezone.UNKNOWN_TIMEZONE
            )
            spans[zones] = (known[-1][1], known[0][1]) if known else ("", "")
        return spans[zones]

    before = _peak_mb()
    cpu_before = time.process_time()
    started = time.perf_counter()
    data = Path(csv_path).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    next(reader)
    now = datetime.now(UTC)
    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)) as conn:
        pid = conn.info.backend_pid
        db_before = _db_cpu(pid)
        seen: set[str] = set()
        opted_in: list[tuple[str, datetime, int]] = []
        with conn.cursor() as cursor:
            copy_sql = (
                "COPY contacts_contact (phone, first_name, last_name, language, country, time_zone, "
                "zone_earliest, zone_latest, attributes, whatsapp_profile_name, created_at, updated_at) "
                "FROM STDIN"
            )
            with cursor.copy(copy_sql) as copy:
                for line, (phone, first, last, consent, date) in enumerate(reader, start=2):
                    try:
                        number = phonenumbers.parse(phone, "DE")
                    except phonenumbers.NumberParseException:
                        continue
                    kind = phonenumbers.number_type(number)  # the validity check: UNKNOWN if not valid
                    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
                        continue
                    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                    if e164 in seen:
                        continue
                    seen.add(e164)
                    country = phonenumbers.region_code_for_country_code(number.country_code)
                    earliest, latest = span(number, e164, kind)
                    copy.write_row([e164, first, last, "", country, "", earliest, latest, "{}", "", now, now])
                    if consent == "yes":
                        opted_in.append((e164, datetime.strptime(date, "%d.%m.%Y").replace(tzinfo=UTC), line))
            ids = dict(cursor.execute("SELECT phone, id FROM contacts_contact").fetchall())
            copy_sql = (
                "COPY contacts_consentevent (contact_id, purpose, action, source, wording_text, evidence, "
                "occurred_at, recorded_at, signal_key, carried_source, actor_kind, actor_ref, actor_label) "
                "FROM STDIN"
            )
            with cursor.copy(copy_sql) as copy:
                for e164, occurred_at, line in opted_in:
                    evidence = json.dumps({"file_sha256": sha256, "line": line, "source": "Signup form"})
                    copy.write_row(
                        [ids[e164], "marketing", "opt_in", "import", "Yes, send me offers.", evidence,
                         occurred_at, now, "", "", "system", "", "bare"]
                    )  # fmt: skip
            cursor.execute(
                "INSERT INTO contacts_currentconsent (contact_id, purpose, status, event_id, since, "
                "updated_at) SELECT contact_id, purpose, 'opted_in', id, effective_at, now() "
                "FROM contacts_consentevent"
            )
        conn.commit()
        db_cpu = _spent(pid, db_before, True)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "created": len(seen),
        "events": len(opted_in),
        "mb": round(_peak_mb() - before, 1),
        "cpu": round(time.process_time() - cpu_before, 2),
        "db_cpu": db_cpu,
    }


if __name__ == "__main__":
    if "--ours" in sys.argv:
        print(json.dumps(_ours(sys.argv[2])))
    elif "--bare" in sys.argv:
        print(json.dumps(_bare(sys.argv[2])))
    else:
        print(main())
