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
    return AuditedStream(actor=actor, common=common, chunks=chunks)


class AuditedStream:
    """The export's bytes, logging its end exactly once however the stream ends.

    A class and not a generator: a generator's ``close()`` before its first ``next()`` never runs
    its body, so a HEAD request or a client gone before the first byte would leave only
    ``export_started`` (read as "the process died"). Django calls ``close()`` on a streamed
    response's content whatever happened, so ``close()`` logs the abort even if iteration never
    started, and closes the inner stream (its server-side cursor or COPY) if it had.
    """

    def __init__(self, *, actor: Actor, common: dict, chunks: Callable[[ExportProgress], Iterator[bytes]]):
        self._actor = actor
        self._common = common
        self._chunks = chunks
        self._progress = ExportProgress()
        self._stream: Iterator[bytes] | None = None
        self._ended = False

    def __iter__(self) -> AuditedStream:
        return self

    def __next__(self) -> bytes:
        if self._ended:
            raise StopIteration
        if self._stream is None:
            self._stream = iter(self._chunks(self._progress))
        try:
            return next(self._stream)
        except StopIteration:
            self._end("the stream stopped before its end")
            raise
        except Exception as error:  # logged as an abort, then raised for the server to report
            self._end(f"{type(error).__name__}: {error}"[:500])
            raise

    def close(self) -> None:
        if self._ended:
            return
        if self._stream is None:
            self._end("the download was closed before its first byte")
            return
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            self._end("the download was closed before its end")

    def _end(self, reason: str) -> None:
        """Log ``exported`` if every row was written, else ``export_aborted`` with ``reason``."""
        self._ended = True
        progress = self._progress
        if progress.finished:
            action, details = FINISHED, {**self._common, "rows": progress.rows}
        else:
            action = ABORTED
            details = {**self._common, "rows_written": progress.rows, "reason": reason}
        try:
            log_activity(actor=self._actor, action=action, details=details)
        except Exception:  # the export's own failure matters more; the start entry stands
            logger.exception("could not log the end of compliance export %s", self._common["export_id"])
