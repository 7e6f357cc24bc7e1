"""Streaming a report's rows as CSV or JSON Lines, in constant memory, at any size.

A report is a queryset and its ``Column``s (a header name, an ORM expression, a kind). Masking
lives in the expressions (``compliance.masking``), so every output path applies it the same way.

On PostgreSQL the rows are PostgreSQL's own ``COPY (SELECT …) TO STDOUT`` output, passed through
as it arrives (psycopg's ``cursor.copy()``): the CSV cells are formatted in the SQL (instants in
UTC ISO 8601, JSON as text, text guarded against formula injection), so Python only joins bytes.
Iterating a cursor into ``csv.writer`` reaches about a seventh of COPY's rate (docs/benchmarks.md,
"Issue 12"). JSON Lines use the same COPY: each row is one ``json_build_object`` text, written
in CSV format with a quote and a delimiter byte that JSON text never contains raw (it escapes
every control character), so PostgreSQL writes the JSON exactly as built, one object per line.
Other databases (SQLite, the embedded demo) iterate a cursor in chunks and format in Python to
the same text.

API (the compliance reports share it):

- ``Column(name, expression, kind)`` — ``kind`` is ``TEXT``, ``NUMBER``, ``INSTANT`` or ``JSON``.
- ``export_chunks(queryset, columns, output=CSV|JSONL, bom=False, metadata=None, progress=None)``
  yields ``bytes``; ``progress`` (an ``ExportProgress``) has the rows written and whether the
  stream finished, for ``compliance.audit`` to log when it ends.
- ``streaming_response(chunks, output=…, filename=…, headers=…)`` wraps them for a view.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connections, router
from django.db.models import F, Func, QuerySet, TextField, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from contacts.exports import BOM, safe_cell

TEXT, NUMBER, INSTANT, JSON = "text", "number", "instant", "json"
CSV, JSONL = "csv", "jsonl"
OUTPUTS = (CSV, JSONL)
CONTENT_TYPES = {CSV: "text/csv; charset=utf-8", JSONL: "application/x-ndjson; charset=utf-8"}

# Bytes handed to the response at once: COPY delivers one row per read, and a write per row
# would cost more than the copying itself.
WRITE_BYTES = 256 * 1024
# Rows read per round trip on the iterating path.
CHUNK_ROWS = 2000
# JSON text never contains these bytes raw, so COPY's CSV format never quotes a JSON line.
_JSONL_QUOTE, _JSONL_DELIMITER = "\x01", "\x02"


@dataclass(frozen=True)
class Column:
    """One output column: its header, what the database computes for it, and how it is written."""

    name: str
    expression: Combinable | str
    kind: str = TEXT

    @property
    def resolved(self) -> Combinable:
        return F(self.expression) if isinstance(self.expression, str) else self.expression


@dataclass
class ExportProgress:
    """What a stream did, read by the audit log when the stream ends (or is abandoned)."""

    rows: int = 0
    finished: bool = False
    error: str = ""
    extra: dict = field(default_factory=dict)


class _InstantText(Func):
    """An instant as UTC ISO 8601 with microseconds, the text ``_instant`` writes in Python."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)


class _FormulaSafe(Func):
    """Text with an apostrophe first when a spreadsheet would read it as a formula (``safe_cell``).

    One reference to the expression, so its parameters are bound once.
    """

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = r"regexp_replace(%(expressions)s, '^([=+@\t\r-])', '''\1')"
        return self.as_sql(compiler, connection, template=template, **extra)


class _JSONText(Func):
    output_field = TextField()
    template = "(%(expressions)s)::text"


def _csv_cell(column: Column) -> Combinable:
    expression = column.resolved
    if column.kind == INSTANT:
        return _InstantText(expression)
    if column.kind == JSON:
        return _JSONText(expression)
    if column.kind == NUMBER:
        return Cast(expression, TextField())
    return _FormulaSafe(expression)


def _json_value(column: Column) -> Combinable:
    return _InstantText(column.resolved) if column.kind == INSTANT else column.resolved


class _JSONObject(Func):
    """``json_build_object`` over (name, value) pairs; the names are bound parameters."""

    function = "json_build_object"
    output_field = TextField()

    def __init__(self, columns: Sequence[Column]):
        pairs = []
        for column in columns:
            pairs += [Value(column.name), _json_value(column)]
        super().__init__(*pairs)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = self.as_sql(compiler, connection, **extra)
        return f"({sql})::text", params


def export_chunks(
    queryset: QuerySet,
    columns: Sequence[Column],
    *,
    output: str = CSV,
    bom: bool = False,
    metadata: dict | None = None,
    progress: ExportProgress | None = None,
) -> Iterator[bytes]:
    """The file's bytes, a few hundred kilobytes at a time, in the queryset's order.

    CSV: UTF-8, an optional byte order mark (Excel reads UTF-8 only with it), a header line, then
    one line per row; text cells that a spreadsheet would run as a formula start with an
    apostrophe. JSON Lines: ``metadata`` first as its own object (``{"metadata": …}``) when given,
    then one object per row; no formula guard (no spreadsheet reads it). An empty result is the
    header (or the metadata) alone. ``progress`` counts the rows as they pass and is marked
    finished only after the last one.
    """
    if output not in OUTPUTS:
        raise ValueError(f"Unknown output {output!r}; expected one of {', '.join(OUTPUTS)}.")
    progress = progress if progress is not None else ExportProgress()
    connection = connections[router.db_for_read(queryset.model)]
    if output == CSV:
        head = (BOM if bom else "") + csv_writer().writerow([c.name for c in columns])
    else:
        head = json.dumps({"metadata": metadata}, ensure_ascii=False, default=str) + "\n" if metadata else ""
    if head:
        yield head.encode()
    if connection.vendor == "postgresql":
        body = _copy_chunks(queryset, columns, output=output, connection=connection, progress=progress)
    else:
        body = _iterated_chunks(queryset, columns, output=output, progress=progress)
    yield from body
    progress.finished = True


def _copy_sql(queryset: QuerySet, columns: Sequence[Column], *, output: str, connection) -> tuple[str, list]:
    if output == CSV:
        cells = {f"c{i}": _csv_cell(column) for i, column in enumerate(columns)}
        options = "FORMAT csv"
    else:
        cells = {"line": _JSONObject(columns)}
        options = (
            f"FORMAT csv, QUOTE E'\\x{ord(_JSONL_QUOTE):02x}', DELIMITER E'\\x{ord(_JSONL_DELIMITER):02x}'"
        )
    select = queryset.values(**cells)
    sql, params = select.query.get_compiler(connection=connection).as_sql()
    return f"COPY ({sql}) TO STDOUT WITH ({options})", list(params)


def _copy_chunks(queryset, columns, *, output: str, connection, progress: ExportProgress) -> Iterator[bytes]:
    """COPY's output as it arrives, gathered into writes of about ``WRITE_BYTES``.

    The copy runs on its own cursor; a client that stops reading closes this generator, and
    leaving the ``with`` blocks ends the COPY before the connection is used again: psycopg asks
    the server to cancel it and reads out only what was already on its way, so an abandoned
    export of a million rows does not run to its end.

    A cancel that reaches the server before the COPY ends fails the statement. Outside a
    transaction (a streamed response is read after the view's own) that ends there; inside one
    (a task, a test) it would abort the whole transaction, so the COPY then runs under a savepoint
    that is rolled back, and the caller's transaction — the export's closing log entry first — goes on.
    """
    statement, params = _copy_sql(queryset, columns, output=output, connection=connection)
    connection.ensure_connection()
    savepoint = connection.savepoint() if connection.in_atomic_block else None
    pending = bytearray()
    rows = 0
    try:
        with connection.connection.cursor() as cursor:
            with cursor.copy(statement, params) as copy:
                for data in copy:
                    pending += data
                    rows += 1
                    if len(pending) >= WRITE_BYTES:
                        progress.rows = rows
                        yield bytes(pending)
                        pending.clear()
            progress.rows = cursor.rowcount if cursor.rowcount >= 0 else rows
    except BaseException:
        if savepoint is not None:
            connection.savepoint_rollback(savepoint)
        raise
    if savepoint is not None:
        connection.savepoint_commit(savepoint)
    if pending:
        yield bytes(pending)


def _iterated_chunks(queryset, columns, *, output: str, progress: ExportProgress) -> Iterator[bytes]:
    """The same text from a cursor read in chunks, formatted in Python (non-PostgreSQL databases)."""
    names = [f"c{i}" for i in range(len(columns))]
    values = queryset.values(**{name: column.resolved for name, column in zip(names, columns, strict=True)})
    rows = (tuple(row[name] for name in names) for row in values.iterator(chunk_size=CHUNK_ROWS))
    if output == CSV:
        yield from _csv(_counted(rows, progress), columns)
    else:
        yield from _jsonl(_counted(rows, progress), columns)


def _counted(rows: Iterable, progress: ExportProgress) -> Iterator:
    for row in rows:
        yield row
        progress.rows += 1


class _Line:
    """A file-like object for ``csv.writer`` whose ``write`` hands back the line."""

    def write(self, line: str) -> str:
        return line


def csv_writer():
    """A ``csv.writer`` whose ``writerow`` returns its line, ended as COPY ends lines (``\\n``)."""
    return csv.writer(_Line(), lineterminator="\n")


def _csv(rows: Iterable[tuple], columns: Sequence[Column]) -> Iterator[bytes]:
    writer = csv_writer()
    kinds = [column.kind for column in columns]
    batch: list[str] = []
    size = 0
    for row in rows:
        line = writer.writerow([_csv_text(value, kind) for value, kind in zip(row, kinds, strict=True)])
        batch.append(line)
        size += len(line)
        if size >= WRITE_BYTES:
            yield "".join(batch).encode()
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode()


def _csv_text(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == INSTANT:
        return _instant(value)
    if kind == JSON:
        return json.dumps(value, ensure_ascii=False)
    if kind == NUMBER:
        return str(value)
    return safe_cell(str(value))


def _jsonl(rows: Iterable[tuple], columns: Sequence[Column]) -> Iterator[bytes]:
    names = [column.name for column in columns]
    kinds = [column.kind for column in columns]
    batch: list[str] = []
    size = 0
    for row in rows:
        record = {
            name: _instant(value) if kind == INSTANT and value is not None else value
            for name, kind, value in zip(names, kinds, row, strict=True)
        }
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        batch.append(line)
        size += len(line)
        if size >= WRITE_BYTES:
            yield "".join(batch).encode()
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode()


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def streaming_response(
    chunks: Iterable[bytes], *, output: str, filename: str, headers: dict | None = None
) -> StreamingHttpResponse:
    """A download of ``chunks``: never buffered whole, named ``filename``."""
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[output], headers=headers or {})
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # A proxy in front of the server must pass the chunks on as they come (nginx buffers otherwise).
    response["X-Accel-Buffering"] = "no"
    return response
