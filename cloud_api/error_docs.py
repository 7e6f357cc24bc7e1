"""Renders ``docs/whatsapp-errors.md`` from the code table, so the page can never drift from the code.

Regenerate after changing the table: ``.venv/bin/python -m cloud_api.error_docs``
(a test fails while the file and the table differ).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cloud_api.errors import (
    CLASS_ACTIONS,
    DEFAULT_CLASS_FOR_UNKNOWN_CODE,
    DEFAULT_CLASS_REASON,
    ERROR_CODES,
    ErrorClass,
)

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "whatsapp-errors.md"


def render_markdown() -> str:
    lines = [
        "# WhatsApp Cloud API errors and what we do about them",
        "",
        "<!-- Generated from cloud_api/errors.py by "
        "`.venv/bin/python -m cloud_api.error_docs`; do not edit by hand. -->",
        "",
        "Errors are classified by Meta's `code` (never by the HTTP status or the title), with the same",
        "table for the HTTP answer of a request and for the `errors[]` of a `failed` status webhook",
        "(`cloud_api.errors.classify`). Meanings are Meta's; classes are ours (docs/sending.md).",
        "",
        "## Classes",
        "",
        "| class | what the sender does |",
        "|---|---|",
    ]
    lines += [f"| `{error_class}` | {CLASS_ACTIONS[error_class]} |" for error_class in ErrorClass]
    lines += [
        "",
        "## Codes",
        "",
        "| code | class | Meta's meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {row.label} | `{row.error_class}` | {row.meaning} |" for row in ERROR_CODES]
    lines += [
        "",
        f"## Codes not in the table: `{DEFAULT_CLASS_FOR_UNKNOWN_CODE}`",
        "",
        DEFAULT_CLASS_REASON,
        "",
        "## Outcomes that are not Meta errors",
        "",
        "| outcome | when | safe to resend? |",
        "|---|---|---|",
        "| `NotSent` | connection refused, no route, connect timeout | yes: the request never left |",
        "| `OutcomeUnknown` | read timeout, connection dropped after connecting, unreadable 2xx, "
        "504 from a gateway without a Graph error | "
        "no: wait for a webhook with its `biz_opaque_callback_data`, then staff decide |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    DOC_PATH.write_text(render_markdown(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")


if __name__ == "__main__":
    main()
