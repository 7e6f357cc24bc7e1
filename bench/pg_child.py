"""What the benchmarks that build a large PostgreSQL world share (not a benchmark itself).

Such a benchmark's ``main()`` runs its own file again as a child process (``--child``) against a
database of its own, which the child creates if it is missing and keeps, so a second run reuses
the world the first built. ``BENCH_DATABASE_URL`` points every one of them elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_child(script: str, default_url: str, *, timeout: int) -> dict:
    """Run ``script --child`` with ``DATABASE_URL`` set; the JSON its last output line holds, or
    ``{"error": …}`` with the last line it wrote to stderr."""
    url = os.environ.get("BENCH_DATABASE_URL", default_url)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, script, "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def ensure_database(url: str) -> None:
    """Create the database ``url`` names unless it exists."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
