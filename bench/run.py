"""Run every ``bench/bench_*.py`` module's ``main()`` and print what each returns.

``make bench`` calls this. Each benchmark compares our code with a bare baseline in the same run
(the ratio is the result on a noisy 2-core machine), binds only to 127.0.0.1, and stops by itself.
``bench/run.py sandbox`` runs only the modules whose name contains "sandbox".
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main(selected: list[str]) -> int:
    modules = sorted(path.stem for path in (ROOT / "bench").glob("bench_*.py"))
    if selected:
        modules = [name for name in modules if any(word in name for word in selected)]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · Python {platform.python_version()}"
    )
    for name in modules:
        print(f"\n## {name}")
        started = time.monotonic()
        results = importlib.import_module(f"bench.{name}").main()
        for key, value in results.items():
            print(f"{key:>48}: {value}")
        print(f"{'(took)':>48}: {time.monotonic() - started:.1f}s")
        print(json.dumps({"benchmark": name, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
