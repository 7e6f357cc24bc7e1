"""Every compliance export is logged: who, when, which report, the filters, the rows.

A streamed export's row count is known only when the stream ends, and a stream can end badly
(the client stops reading, the worker is killed). So one export writes up to two activity-log
entries, tied by an ``export_id``:

- ``compliance.export_started`` before the first byte, with the report, the filters, the output,
  whether it was masked and the rows the filters matched at that moment: this one exists
  whatever happens next;
- ``compliance.exported`` when the last row has been handed to the server, with the rows written,
  or ``compliance.export_aborted`` when the stream was closed early or failed, with the rows
  written so far and why.

A started export with neither of the others is one whose process died mid-stream. Auditors read
these in the activity log (filter by action ``compliance.*``, docs/compliance.md).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator

from compliance.streaming import ExportProgress
from contacts.services import log_activity
from core.actors import Actor

logger = logging.getLogger(__name__)

STARTED = "compliance.export_started"
FINISHED = "compliance.exported"
ABORTED = "compliance.export_aborted"
ACTIONS = (STARTED, FINISHED, ABORTED)


def json_safe(value) -> dict:
    """The filters as the log stores them: dates as ISO text, objects by their text."""
    return json.loads(
        json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    )


def export_audited(
    *,
    actor: Actor,
    report: str,
    filters: dict,
    output: str,
    masked: bool,
    matched_rows: int | None,
    chunks: Callable[[ExportProgress], Iterator[bytes]],
    extra: dict | None = None,
) -> Iterator[bytes]:
    """Log the export's start now and return its bytes; its end is logged when the stream ends.

    ``chunks`` is called with the ``ExportProgress`` it must update (``export_chunks`` does).
    ``extra`` (the ledger anchor the export is covered by, say) goes into every entry.
    """
    common = {
        "export_id": str(uuid.uuid4()),
        "report": report,
        "filters": json_safe(filters),
        "output": output,
        "masked": masked,
        **json_safe(extra or {}),
    }
    log_activity(actor=actor, action=STARTED, details={**common, "rows_matched": matched_rows})
    return _logged_stream(actor=actor, common=common, chunks=chunks)


def _logged_stream(*, actor: Actor, common: dict, chunks) -> Iterator[bytes]:
    progress = ExportProgress()
    try:
        yield from chunks(progress)
    except GeneratorExit:
        progress.error = "the download was closed before its end"
        raise
    except Exception as error:  # logged as an abort, then raised for the server to report
        progress.error = f"{type(error).__name__}: {error}"[:500]
        raise
    finally:
        if progress.finished:
            action, details = FINISHED, {**common, "rows": progress.rows}
        else:
            reason = progress.error or "the stream stopped before its end"
            action, details = ABORTED, {**common, "rows_written": progress.rows, "reason": reason}
        try:
            log_activity(actor=actor, action=action, details=details)
        except Exception:  # the export's own failure matters more; the start entry stands
            logger.exception("could not log the end of compliance export %s", common["export_id"])
