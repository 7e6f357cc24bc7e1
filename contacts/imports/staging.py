"""Staging: the file's rows parsed in Python, chunk by chunk, into ``ImportRow`` (COPY on PostgreSQL).

Each cell is read once here (the phone number parsed once, its match key taken from the parse);
everything that compares rows with each other or with contacts is SQL over the staged rows
afterwards (``contacts.imports.validation``). A row whose cell cannot be read is staged refused,
with a reason naming the column and the value, so the preview and the refused-rows download
show it.

``stage_chunk`` is resumable: it stages the rows after the highest line already staged for the
import, in one transaction with the import's progress, so a worker killed mid-chunk leaves either
the whole chunk or none of it, and the next call carries on. The unique (import, line) constraint
backs this: a line is never staged twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from contacts.exports import FORMULA_STARTS
from contacts.imports import mapping as mapping_rules
from contacts.imports.cells import (
    CellError,
    language_code,
    parse_boolean,
    parse_moment,
    parse_number,
    time_zone_name,
    yes_or_no,
)
from contacts.imports.reading import format_of, iter_rows
from contacts.imports.validation import RECORD
from contacts.models import (
    AttributeDefinition,
    AttributeType,
    ContactImport,
    ImportFile,
    ImportKind,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Tag,
)
from contacts.phones import (
    InvalidPhoneNumber,
    equivalent_numbers,
    match_key,
    parse_phone_forms,
)
from contacts.services import FUTURE_TOLERANCE
from contacts.zones import number_span, zone_span

# The staging table's columns in the order COPY writes them.
COLUMNS = (
    "contact_import_id",
    "line",
    "raw",
    "phone",
    "match_key",
    "other_form",
    "first_name",
    "last_name",
    "language",
    "country",
    "time_zone",
    "zone_earliest",
    "zone_latest",
    "tags",
    "attributes",
    "clear",
    "consent",
    "consent_at",
    "consent_at_own",
    "opt_ins",
    "status",
    "reason_code",
    "reason",
    "contact_id",
    "changes",
)
_NAME_MAX = ImportRow._meta.get_field("first_name").max_length
_TAG_MAX = Tag._meta.get_field("name").max_length
# Cells the refused-rows download protected against formula injection ('=…): read back as written.
_PROTECTED = re.compile("'[" + re.escape("".join(FORMULA_STARTS)) + "]")
_SHOWN = 80  # characters of a cell quoted in a reason


def stage_chunk(*, contact_import: ContactImport) -> bool:
    """Stage the next ``CONTACT_IMPORT_CHUNK_ROWS`` data rows; True when the whole file is staged.

    One transaction under the import's row lock: the rows and the progress commit together, and
    two workers never stage the same import at once (the second waits, then continues after the
    first one's rows). An import that is no longer being staged (abandoned, re-mapped and so
    restarted) has nothing to stage here: True.
    """
    with transaction.atomic():
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if current.status != ImportStatus.STAGING:
            return True
        # The rows staged so far are counted in progress_done, which commits with them.
        last = ImportRow.objects.filter(contact_import=current).aggregate(last=Max("line"))["last"]
        reader = _reader_after(current, last or 1)
        parser = RowParser(current)
        rows = (parser.parse(line, cells) for line, cells in reader.take(settings.CONTACT_IMPORT_CHUNK_ROWS))
        staged = _insert(rows)
        done = reader.exhausted()
        progress = current.progress_done + staged
        ContactImport.objects.filter(pk=current.pk).update(
            phase="staging",
            progress_done=progress,
            progress_total=max(current.total_rows, progress),
            heartbeat_at=timezone.now(),
        )
    if done:
        _readers.pop(current.pk, None)
    return done


# --- Parsing one row ------------------------------------------------------------------------------


class RowParser:
    """Turns one row's cells into a staging row (a dict of ``COLUMNS``), by the import's mapping."""

    def __init__(self, contact_import: ContactImport):
        mapping = contact_import.mapping
        header = contact_import.header
        self.import_id = contact_import.pk
        self.header = header
        self.width = len(header)
        self.region = mapping.get("region") or settings.PHONE_DEFAULT_REGION
        self.suppression = contact_import.kind == ImportKind.SUPPRESSION
        self.fields: list[tuple[int, str, bool]] = []  # (column, field, blank clears)
        self.attributes: list[tuple[int, str, str, bool]] = []  # (column, key, type, blank clears)
        types = dict(AttributeDefinition.objects.values_list("key", "type"))
        for entry in mapping.get("columns", []):
            clears = entry.get("blank") == mapping_rules.CLEAR
            if entry["field"] == mapping_rules.PHONE:
                self.phone_column = entry["column"]
            elif entry["field"] == mapping_rules.ATTRIBUTE:
                key = entry["key"]
                self.attributes.append((entry["column"], key, types.get(key, AttributeType.TEXT), clears))
            elif entry["field"] != mapping_rules.IGNORE:
                self.fields.append((entry["column"], entry["field"], clears))
        self.consent = [(entry["column"], entry["purpose"]) for entry in mapping.get("consent") or []]
        self.date_column = mapping.get("consent_date_column")
        one_date = mapping.get("consent_date")
        self.one_date = parse_moment(one_date)[0] if one_date else None
        self.latest = timezone.now() + FUTURE_TOLERANCE
        self.zone = timezone.get_current_timezone_name()

    def parse(self, line: int, cells: list[str]) -> dict:
        row = {
            "contact_import_id": self.import_id,
            "line": line,
            "raw": cells,
            "phone": "",
            "match_key": "",
            "other_form": "",
            "first_name": "",
            "last_name": "",
            "language": "",
            "country": "",
            "time_zone": "",
            "zone_earliest": "",
            "zone_latest": "",
            "tags": [],
            "attributes": {},
            "clear": [],
            "consent": {},
            "consent_at": None,
            "consent_at_own": False,
            "opt_ins": {},
            "status": ImportRowStatus.NEW,
            "reason_code": "",
            "reason": "",
            "contact_id": None,
            "changes": {},
        }
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        try:
            self._parse_cells(row, cells)
        except _Refusal as refusal:
            row["status"] = ImportRowStatus.REFUSED
            row["reason_code"] = refusal.code
            row["reason"] = refusal.reason
            row["opt_ins"] = {}
        return row

    def _parse_cells(self, row: dict, cells: list[str]) -> None:
        extra = [cell for cell in cells[self.width :] if cell.strip()] if len(cells) > self.width else None
        if extra:
            raise _Refusal(
                "extra_cells",
                f"The row has {len(cells)} cells but the header names {self.width} columns "
                f"(“{_shown(extra[0])}” is beyond the last one): most likely a cell holds the separator "
                "without quotes.",
            )
        number = self._phone(row, cells)
        if self.suppression:
            return
        for column, field, clears in self.fields:
            text = _cell(cells[column])
            if not text:
                if clears:
                    row["clear"].append(field)
                continue
            row[field] = self._field(field, text, column)
        if row["time_zone"]:  # the contact's own zone wins over its number's (contacts/zones.py)
            row["zone_earliest"] = row["zone_latest"] = row["time_zone"]
        if row["country"] and number is not None and not _of_country(number, row["country"]):
            raise _Refusal(
                "country_mismatch",
                f"Column “{self.header[self.phone_column]}”: {row['phone']} is not a number of "
                f"{row['country']}, the country this row gives.",
            )
        for column, key, kind, clears in self.attributes:
            text = _cell(cells[column])
            if not text:
                if clears:
                    row["attributes"][key] = None  # applying removes the key
                continue
            row["attributes"][key] = self._attribute(kind, text, column)
        self._consent(row, cells)

    def _phone(self, row: dict, cells: list[str]) -> phonenumbers.PhoneNumber | None:
        text = _cell(cells[self.phone_column])
        column = self.header[self.phone_column]
        if not text:
            raise _Refusal("phone_missing", f"Column “{column}” is empty: each row needs a phone number.")
        try:
            number, e164, other_form, kind = parse_phone_forms(text, region=self.region)
        except InvalidPhoneNumber as exc:
            # A form only WhatsApp uses (a Brazilian mobile without its ninth digit, a Mexican one
            # with the 1 after +52): the person's number is its valid form.
            valid = _valid_form_of(exc.number)
            if valid is None:
                raise _Refusal("invalid_phone", f"Column “{column}”: {exc.message}") from exc
            row["phone"] = row["match_key"] = valid
            row["other_form"] = next(f for f in equivalent_numbers(valid) if f != valid)
            row["zone_earliest"], row["zone_latest"] = zone_span(phone=valid, wa_id=None, time_zone=None)
            return phonenumbers.parse(valid)
        # A valid number is its own match key (contacts.phones.match_key): no second parse.
        row["phone"] = row["match_key"] = e164
        row["other_form"] = other_form
        row["zone_earliest"], row["zone_latest"] = number_span(number, e164, kind)
        return number

    def _field(self, field: str, text: str, column: int) -> str:
        try:
            if field in ("first_name", "last_name"):
                if len(text) > _NAME_MAX:
                    raise CellError(
                        "too_long", f"is {len(text)} characters long; a name may have {_NAME_MAX}"
                    )
                return text
            if field == "language":
                return language_code(text)
            if field == "country":
                country = text.upper()
                if country not in phonenumbers.SUPPORTED_REGIONS:
                    raise CellError("bad_country", "is not a two-letter country code such as DE or BR")
                return country
            if field == "time_zone":
                return time_zone_name(text)
            return self._tags(text)
        except CellError as exc:
            raise _Refusal.of(exc, self.header[column], text) from exc

    def _tags(self, text: str) -> list[str]:
        tags: dict[str, str] = {}
        for name in re.split(r"[,;]", text):
            name = name.strip()
            if len(name) > _TAG_MAX:
                raise CellError("too_long", f"has a tag of {len(name)} characters; a tag may have {_TAG_MAX}")
            if name:
                tags.setdefault(name.lower(), name)
        return list(tags.values())

    def _attribute(self, kind: str, text: str, column: int):
        try:
            if kind == AttributeType.NUMBER:
                return parse_number(text)
            if kind == AttributeType.BOOLEAN:
                return parse_boolean(text)
            if kind == AttributeType.DATE:
                return parse_moment(text, zone=self.zone)[0].date().isoformat()
            return text
        except CellError as exc:
            if exc.code == "bad_date":  # a custom field's value, not the date of an opt-in
                exc = CellError("unknown_value", exc.message)
            raise _Refusal.of(exc, self.header[column], text) from exc

    def _consent(self, row: dict, cells: list[str]) -> None:
        for column, purpose in self.consent:
            text = cells[column]
            try:
                row["consent"][purpose] = given = yes_or_no(_cell(text))
            except CellError as exc:
                raise _Refusal.of(exc, self.header[column], text) from exc
            if given:
                row["opt_ins"][purpose] = RECORD
        if not any(row["consent"].values()):
            return
        if self.one_date is not None:
            row["consent_at"] = self.one_date
            return
        column = self.header[self.date_column]
        text = _cell(cells[self.date_column])
        if not text:
            raise _Refusal(
                "bad_date",
                f"Column “{column}” is empty: the row records an opt-in, which needs the date it was given.",
            )
        try:
            moment, _ = parse_moment(text, zone=self.zone)
        except CellError as exc:
            raise _Refusal.of(exc, column, text) from exc
        if moment > self.latest:
            raise _Refusal(
                "bad_date",
                f"Column “{column}”: “{_shown(text)}” is in the future; give the date of the opt-in.",
            )
        row["consent_at"] = moment
        row["consent_at_own"] = True


class _Refusal(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason

    @classmethod
    def of(cls, error: CellError, column: str, text: str) -> _Refusal:
        return cls(error.code, f"Column “{column}”: “{_shown(text)}” {error.message}.")


def _cell(text: str) -> str:
    text = text.strip()
    return text[1:] if text[:1] == "'" and _PROTECTED.match(text) else text


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _of_country(number: phonenumbers.PhoneNumber, country: str) -> bool:
    """Whether a valid number is one of ``country``'s (a second validity check only for calling
    codes several countries share, such as +1 and +44)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code, ())
    if len(regions) == 1:
        return regions[0] == country
    return phonenumbers.is_valid_number_for_region(number, country)


def _valid_form_of(parsed: phonenumbers.PhoneNumber | None) -> str | None:
    """The valid form of a number typed in its other form (contacts.phones.equivalent_numbers):
    only a Brazilian or Mexican number that parsed has one."""
    if parsed is None or parsed.country_code not in (52, 55):
        return None
    typed = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    key = match_key(typed)
    return key if key and key != typed else None


# --- Reading the file from where the last chunk stopped ----------------------------------------------


class _Reader:
    """The file's data rows after a given line, with one row of look-ahead to tell the end."""

    def __init__(self, rows: Iterator[tuple[int, list[str]]], sha256: str):
        self.rows = rows
        self.sha256 = sha256
        self.last = 1  # the last line handed out (the header is line 1)
        self.ahead: tuple[int, list[str]] | None = None

    def skip_to(self, last: int) -> None:
        for line, cells in self.rows:
            if line > last:
                self.ahead = (line, cells)
                break
        self.last = last

    def take(self, count: int) -> Iterator[tuple[int, list[str]]]:
        for _ in range(count):
            row = self._next()
            if row is None:
                return
            self.last = row[0]
            yield row

    def exhausted(self) -> bool:
        if self.ahead is None:
            self.ahead = next(self.rows, None)
        return self.ahead is None

    def _next(self) -> tuple[int, list[str]] | None:
        row, self.ahead = self.ahead, None
        return row if row is not None else next(self.rows, None)


# The reader a worker used for its last chunk of an import, kept so the next chunk continues where
# it stopped instead of reading the file again from its start (for a workbook, that costs seconds
# per chunk). Used only when it stopped exactly at the highest line staged: any other state (a
# crash, a chunk rolled back, another worker's chunk, a new mapping) reads afresh.
_readers: dict[int, _Reader] = {}


def _reader_after(contact_import: ContactImport, last: int) -> _Reader:
    kept = _readers.get(contact_import.pk)
    if kept is not None and kept.sha256 == contact_import.file_sha256 and kept.last == last:
        return kept
    _readers.clear()  # one import at a time per worker: keep no file longer than needed
    data = stored_file(contact_import)
    fmt = format_of(data=data, encoding=contact_import.encoding, delimiter=contact_import.delimiter)
    reader = _Reader(iter_rows(data, fmt), contact_import.file_sha256)
    reader.skip_to(last)
    _readers[contact_import.pk] = reader
    return reader


def stored_file(contact_import: ContactImport) -> bytes:
    """The uploaded bytes. On PostgreSQL in binary: as text they would arrive as hex, twice their
    size, before being decoded."""
    if connection.vendor != "postgresql":
        return bytes(ImportFile.objects.values_list("data", flat=True).get(contact_import=contact_import))
    import psycopg  # only on PostgreSQL

    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "SELECT data FROM contacts_importfile WHERE contact_import_id = %s",
            [contact_import.pk],
            binary=True,
        )
        found = cursor.fetchone()
    if found is None:
        raise ImportFile.DoesNotExist(f"The file of import #{contact_import.pk} was deleted.")
    return bytes(found[0])


# --- Writing the staged rows -------------------------------------------------------------------------


def _insert(rows: Iterator[dict]) -> int:
    """Insert the rows as they are parsed; how many there were."""
    if connection.vendor == "postgresql":
        return _copy(rows)
    objects = [ImportRow(**row) for row in rows]
    ImportRow.objects.bulk_create(objects, batch_size=500)
    return len(objects)


# Rows sent to the database at a time while the chunk is parsed (some 50 kB of COPY text).
_SENT_EVERY = 200


def _copy(rows: Iterator[dict]) -> int:
    """COPY the rows in (PostgreSQL) while they are parsed; how many there were.

    No ORM object and no statement per row. The COPY is open while the chunk's cells are read,
    and every ``_SENT_EVERY`` rows go to the database as they are ready: PostgreSQL writes them
    (the table, its indexes, the JSON) on the other core while Python parses the next ones,
    instead of both waiting for each other once per chunk. A row is one join of strings, escaped
    field by field only when a value holds a backslash, tab or line break (the only backslashes
    in a plain row are its NULLs').
    """
    memo: dict = {}
    separators = len(COLUMNS) - 1
    count = 0
    lines: list[str] = []
    sql = f"COPY contacts_importrow ({', '.join(COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            line = "\t".join(_fields(row, memo))
            nulls = (row["consent_at"] is None) + (row["contact_id"] is None)
            plain = (
                line.count("\t") == separators
                and line.count("\\") == nulls
                and "\n" not in line
                and "\r" not in line
            )
            if not plain:
                line = "\t".join(_fields(row, memo, escape=_COPY_ESCAPES))
            lines.append(line)
            count += 1
            if len(lines) == _SENT_EVERY:
                lines.append("")
                copy.write("\n".join(lines))
                lines = []
        if lines:
            lines.append("")
            copy.write("\n".join(lines))
    return count


# COPY's text format: a backslash, tab, line feed or carriage return in a value is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# What JSON escapes inside a string: a quote, a backslash, a control character.
_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')
_NULL = "\\N"  # COPY's NULL; a value that reads so has a backslash, so it is escaped


def _fields(row: dict, memo: dict, escape: dict | None = None) -> list[str]:
    """A staged row's values as COPY text, in ``COLUMNS`` order; escaped with ``escape``."""
    at, contact = row["consent_at"], row["contact_id"]
    values = [
        str(row["contact_import_id"]),
        str(row["line"]),
        _cells_json(row["raw"]),
        row["phone"],
        row["match_key"],
        row["other_form"],
        row["first_name"],
        row["last_name"],
        row["language"],
        row["country"],
        row["time_zone"],
        row["zone_earliest"],
        row["zone_latest"],
        _json(row["tags"]),
        _json(row["attributes"]),
        _json(row["clear"]),
        _json(row["consent"], memo),
        _NULL if at is None else memo.get(at) or memo.setdefault(at, at.isoformat()),
        "t" if row["consent_at_own"] else "f",
        _json(row["opt_ins"], memo),
        row["status"],
        row["reason_code"],
        row["reason"],
        str(contact) if contact is not None else _NULL,
        _json(row["changes"]),
    ]
    if escape is None:
        return values
    return [value if value is _NULL else value.translate(escape) for value in values]


def _cells_json(cells: list[str]) -> str:
    """``json.dumps`` of a row's cells; plain text (most cells) is quoted without the encoder."""
    if _JSON_SPECIAL.search("".join(cells)) is None:
        return '["' + '", "'.join(cells) + '"]' if cells else "[]"
    return json.dumps(cells, ensure_ascii=False)


def _json(value, memo: dict | None = None) -> str:
    """The JSON text of a staged value; with ``memo``, each distinct small dict (consent, verdicts:
    a handful in a whole file) is written once."""
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if memo is not None:
        key = tuple(value.items())
        text = memo.get(key)
        if text is None:
            text = memo[key] = json.dumps(value, ensure_ascii=False)
        return text
    return json.dumps(value, ensure_ascii=False)


def stage_all(*, contact_import: ContactImport) -> None:
    """Stage every chunk in this process (tests, the demo and management commands)."""
    while not stage_chunk(contact_import=contact_import):
        pass
