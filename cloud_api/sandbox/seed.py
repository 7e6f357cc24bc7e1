"""``--seed-file``: templates (with the status they should have) loaded when the sandbox starts.

The file is JSON: ``{"templates": [{"name", "language", "category", "components",
"parameter_format"?, "status"? (default APPROVED)}]}`` — the same shape the
``POST /_sandbox/templates`` control endpoint takes, so a demo seed and a test share one format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_seed_file(path: str | Path) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    templates = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(templates, list):
        raise ValueError(f"{path}: expected an object with a 'templates' list")
    return templates
