"""Exporting the contact list as CSV: one query however many rows, streamed, safe to open in Excel.

``contacts_export`` is what the admin's export view calls with the list as staff filtered it:
it counts the rows, logs the export, and returns the CSV's text as an iterator for a
``StreamingHttpResponse``. The rows come from ``contact_export_rows`` — one query (tags
aggregated per contact in a subquery, current consent joined per purpose) read in chunks —
and ``csv_lines`` writes them.
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Aggregate, FilteredRelation, JSONField, OuterRef, Q, QuerySet, Subquery

from contacts.models import Contact, Purpose
from contacts.services import log_activity
from core.actors import Actor

CHUNK_ROWS = 2000
# Lines handed to the response at once: fewer, larger writes than one per row.
LINES_PER_WRITE = 500
# Excel reads a CSV as UTF-8 only when it starts with the byte order mark.
BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP, "CSV Injection"); a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "id",
    "phone",
    "wa_id",
    "first_name",
    "last_name",
    "language",
    "country",
    "time_zone",
    "tags",
    "attributes",
    *(f"{purpose}_consent{part}" for purpose in Purpose.values for part in ("", "_since")),
    "created_at",
    "merged_into",
)
_TAGS, _ATTRIBUTES = COLUMNS.index("tags"), COLUMNS.index("attributes")


class _JSONList(Aggregate):
    """The aggregated values as a JSON array (in no particular order)."""

    function = "JSON_GROUP_ARRAY"  # SQLite
    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSONB_AGG", **extra_context)


def contact_export_rows(contacts: QuerySet[Contact]) -> Iterator[list[str]]:
    """Each contact of ``contacts``, in its order, as the cells of one CSV line (``COLUMNS``).

    One query for every row: the contacts are read in chunks of ``CHUNK_ROWS`` from one cursor
    (a server-side cursor on PostgreSQL), only the exported columns, with each contact's tag names
    from one aggregating subquery and its current consent from a join per purpose. The list is
    re-selected by id, so a filter that needed DISTINCT (a tag) does not make the database compare
    whole rows.
    """
    through = Contact.tags.through
    tag_names = (
        through.objects.filter(contact_id=OuterRef("pk"))
        .order_by()
        .values("contact_id")
        .annotate(names=_JSONList("tag__name"))
        .values("names")
    )
    consent = {
        f"{purpose}_consent": FilteredRelation("consents", condition=Q(consents__purpose=purpose))
        for purpose in Purpose.values
    }
    consent_columns = [f"{name}__{part}" for name in consent for part in ("status", "since")]
    ordering = contacts.query.order_by or Contact._meta.ordering
    rows = (
        Contact.objects.filter(pk__in=contacts.order_by().values("pk"))
        .annotate(**consent, tag_names=Subquery(tag_names))
        .order_by(*ordering)
        .values_list(
            "pk",
            "phone",
            "wa_id",
            "first_name",
            "last_name",
            "language",
            "country",
            "time_zone",
            "tag_names",
            "attributes",
            *consent_columns,
            "created_at",
            "merged_into_id",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        yield _cells(row)


def _cells(row: tuple) -> list[str]:
    """Tags as "a, b" (sorted), custom fields as JSON, instants in UTC (ISO 8601); text made safe."""
    values = list(row)
    values[_TAGS] = ", ".join(sorted(values[_TAGS] or [], key=str.casefold))
    attributes = values[_ATTRIBUTES]
    values[_ATTRIBUTES] = json.dumps(attributes, ensure_ascii=False, sort_keys=True) if attributes else ""
    return [_text(value) for value in values]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_cell(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)  # ids


def safe_cell(text: str) -> str:
    """The text, with an apostrophe first if a spreadsheet would read it as a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like object for ``csv.writer`` whose ``write`` hands back the line."""

    def write(self, line: str) -> str:
        return line


def line_writer(*, delimiter: str = ","):
    """A ``csv.writer`` whose ``writerow`` returns the line it wrote, for streamed downloads."""
    return csv.writer(_Line(), delimiter=delimiter)


def csv_lines(rows: Iterable[list[str]], *, header: Sequence[str] = COLUMNS) -> Iterator[str]:
    """The CSV text: the byte order mark and ``header``, then the rows, a few hundred lines at a
    time (every streamed CSV download: the contacts', a campaign's recipients)."""
    writer = line_writer()
    yield BOM + writer.writerow(header)
    batch = []
    for row in rows:
        batch.append(writer.writerow(row))
        if len(batch) >= LINES_PER_WRITE:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


@dataclass(frozen=True)
class ContactExport:
    rows: int
    lines: Iterator[str]


def contacts_export(*, contacts: QuerySet[Contact], actor: Actor, filters: dict) -> ContactExport:
    """Log the export of ``contacts`` (``contact.exported``: the filters and row count) and return it.

    The count is one COUNT query made, and logged, before the first row is read: the log entry
    exists whatever happens to the download afterwards (a client that stops reading, a worker
    that is killed mid-stream), where an entry written at the generator's end could be lost. The
    count is of the list at that moment; contacts added or removed while the file streams can
    make the file differ from it by those rows.
    """
    count = contacts.order_by().values("pk").count()
    log_activity(actor=actor, action="contact.exported", details={"filters": filters, "rows": count})
    return ContactExport(rows=count, lines=csv_lines(contact_export_rows(contacts)))
