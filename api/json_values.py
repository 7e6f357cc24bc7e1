"""Free-form JSON a client stores (consent evidence, template parameters): only what the database keeps.

PostgreSQL's ``jsonb`` refuses U+0000 and Python's encoder cannot write a lone surrogate
(``"\\ud800"``), and ``1e999`` parses to infinity, which JSON cannot hold: each answered 500.
So did evidence nested some hundreds deep, which the ledger's recursive hashing cannot walk; no
real record needs more than ``MAX_DEPTH`` levels. ``json_value_problem`` finds the first such
value and says where, for a 400 naming the path.
"""

from __future__ import annotations

import math

from rest_framework import serializers

MAX_DEPTH = 32


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (U+0000)"
    if any("\ud800" <= char <= "\udfff" for char in text):
        return "contains a lone surrogate (not valid Unicode)"
    return None


def json_value_problem(value, path: str) -> str | None:
    """``"<path>: <what>"`` for the first value that cannot be stored, else None. Iterative, so
    depth cannot exhaust the stack."""
    pending = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"{where}: nested deeper than {MAX_DEPTH} levels."
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return f"{where}: the text {problem}."
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{where}: the number is not finite (JSON holds no infinity or NaN)."
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_text = str(key)
                problem = _text_problem(key_text)
                if problem:
                    return f"{where}: a key {problem}."
                pending.append((child, f"{where}.{key_text}", depth + 1))
        elif isinstance(item, list):
            pending.extend(
                (child, f"{where}.{index}", depth + 1) for index, child in reversed(list(enumerate(item)))
            )
    return None


def check_json_value(value, path: str):
    """``value`` itself, or a ValidationError naming the path of what the database cannot keep."""
    problem = json_value_problem(value, path)
    if problem:
        raise serializers.ValidationError(problem)
    return value
