"""Reading an uploaded file: which format it is, its header, and its rows one at a time.

Shops export their customer lists from Excel (semicolon-separated, Windows-1252 on older
Windows installs), from online shops (comma-separated UTF-8, sometimes with a BOM) or as a
workbook. What the file is comes from its bytes, not its name. Rows are streamed from the stored
bytes, so reading a file of any size holds one row at a time (docs/imports.md, "Files").
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from core.errors import ApplicationError

CSV = "csv"
XLSX = "xlsx"
# What staff may choose instead of "auto"; Python codec names.
ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252", "latin-1": "ISO-8859-1 (Latin-1)"}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
AUTO = "auto"

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls), Word .doc
_SIGNATURES = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"{\\rtf": "an RTF document",
}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Control characters no text table holds (tab, line feed and carriage return are fine).
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r") | {"\x7f"}
_SAMPLE = 64 * 1024
# A workbook is a zip archive: its parts may unpack to at most this many times the upload limit
# (a sheet's XML is typically 5-10 times its compressed size), so a small "zip bomb" cannot make a
# worker unpack gigabytes.
_XLSX_EXPANSION = 10
# openpyxl reads a workbook's shared-strings table whole, even in read-only mode: a small file
# whose table unpacks to hundreds of megabytes would hold a web worker for minutes. A table of
# 100,000 rows' names and numbers is a few megabytes.
_XLSX_SHARED_STRINGS_MAX = 16 * 1024 * 1024


@dataclass(frozen=True)
class FileFormat:
    """How to read a stored file: its type and, for CSV, its encoding and delimiter."""

    type: str
    encoding: str = ""
    delimiter: str = ""


def detect_format(*, file_name: str, data: bytes, encoding: str = AUTO, delimiter: str = AUTO) -> FileFormat:
    """The file's format, detected from its bytes (or as chosen); ApplicationError if it is no table.

    Checks the whole file once: a CSV must decode in its encoding to its last byte, a workbook
    must open. Raises with a message that says what the file is instead, and what to do.
    """
    if data.startswith(_ZIP_MAGIC):
        _check_workbook(data, file_name)
        return FileFormat(XLSX)
    if data.startswith(_OLE_MAGIC):
        raise _not_a_table(
            f"{file_name} is an old Excel file (.xls). Open it in Excel or LibreOffice and save it as "
            "“Excel Workbook (.xlsx)” or “CSV”"
        )
    for signature, what in _SIGNATURES.items():
        if data.startswith(signature):
            raise _not_a_table(f"{file_name} is {what}")
    if data.startswith(_UTF16_BOMS):
        raise _not_a_table(
            f"{file_name} is saved as UTF-16 text. Save it as “CSV UTF-8” (Excel: Save As → CSV UTF-8)"
        )
    if b"\x00" in data:
        raise _not_a_table(f"{file_name} holds binary data, not text")
    chosen = _check_encoding(data, encoding)
    sample = data[:_SAMPLE].decode(_codec(chosen), errors="replace")
    if any(ch in _CONTROL for ch in sample):
        raise _not_a_table(f"{file_name} holds control characters no text file has: it is not a CSV file")
    if delimiter == AUTO:
        delimiter = _detect_delimiter(_first_line(sample))
    elif delimiter not in DELIMITERS:
        raise ApplicationError(
            f"“{delimiter}” is not a column separator this import reads; choose one of: "
            + ", ".join(f"{name} ({d!r})" for d, name in DELIMITERS.items())
            + ".",
            code="bad_delimiter",
            field="delimiter",
        )
    return FileFormat(CSV, encoding=chosen, delimiter=delimiter)


def format_of(*, data: bytes, encoding: str, delimiter: str) -> FileFormat:
    """The format of a file already checked at upload (its stored encoding and delimiter)."""
    if data.startswith(_ZIP_MAGIC):
        return FileFormat(XLSX)
    return FileFormat(CSV, encoding=encoding, delimiter=delimiter)


def iter_rows(data: bytes, fmt: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) for every row of the file, the header first (line 1); blank rows skipped.

    ``line`` is the row's number as a spreadsheet shows it: a cell holding a line break (in
    quotes) does not start a new row. Cells are strings: a workbook's numbers without a spurious
    ".0", its dates as ISO dates.
    """
    if fmt.type == XLSX:
        yield from _xlsx_rows(data)
        return
    text = io.TextIOWrapper(io.BytesIO(data), encoding=_codec(fmt.encoding), newline="")
    reader = csv.reader(text, delimiter=fmt.delimiter, strict=False)
    line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ApplicationError(
                f'Row {line + 1} of the file cannot be read as CSV ({exc}); most likely a quote (") '
                "opens a cell and is never closed.",
                code="file_unreadable",
                field="file",
            ) from exc
        line += 1
        if (cells and cells[0].strip()) or any(cell.strip() for cell in cells):
            yield line, cells


def read_header(data: bytes, fmt: FileFormat) -> list[str]:
    """The first row's cells, trimmed, trailing empty cells dropped; ApplicationError if there is none."""
    for line, cells in iter_rows(data, fmt):
        if line != 1:
            break
        header = [cell.strip() for cell in cells]
        while header and not header[-1]:
            header.pop()
        return header
    raise ApplicationError(
        "The first row of the file is empty: it should name the columns (e.g. Phone, First name).",
        code="file_no_header",
        field="file",
    )


def count_data_rows(data: bytes, fmt: FileFormat, *, stop_after: int | None = None) -> int:
    """How many non-blank rows follow the header: one streamed pass, nothing kept.

    With ``stop_after``, counting stops once the count passes it (a file of tiny rows can hold
    millions).
    """
    count = 0
    for line, _ in iter_rows(data, fmt):
        if line > 1:
            count += 1
            if stop_after is not None and count > stop_after:
                break
    return count


def sample_rows(data: bytes, fmt: FileFormat, *, count: int = 5) -> list[list[str]]:
    """The first ``count`` data rows, for the mapping page."""
    rows = []
    for line, cells in iter_rows(data, fmt):
        if line == 1:
            continue
        rows.append(cells)
        if len(rows) >= count:
            break
    return rows


def sample_head_rows(
    read_head: Callable[[int], bytes], fmt: FileFormat, *, count: int = 5
) -> list[list[str]]:
    """The first ``count`` data rows of a CSV file, from as few of its first bytes as hold them.

    ``read_head(size)`` gives the file's first ``size`` bytes. A cut falls after a line break
    (in the encodings read here a line-break byte is always one), and the last row before it is
    not trusted unless the file ended: it may be a quoted cell's first lines. Each try reads four
    times more than the last.
    """
    size = _SAMPLE
    while True:
        head = read_head(size)
        ended = len(head) < size
        if not ended:
            head = head[: head.rfind(b"\n") + 1]
        rows = sample_rows(head, fmt, count=count + 1)
        if ended or len(rows) > count:
            return rows[:count]
        size *= 4


# --- Helpers --------------------------------------------------------------------------------------


def _not_a_table(what: str) -> ApplicationError:
    return ApplicationError(
        f"{what}. Upload a CSV file (comma-, semicolon- or tab-separated) or an Excel workbook (.xlsx).",
        code="file_not_table",
        field="file",
    )


def _codec(encoding: str) -> str:
    # A UTF-8 file may start with a BOM (Excel's "CSV UTF-8"): read past it.
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _check_encoding(data: bytes, encoding: str) -> str:
    """The encoding the whole file decodes in: the chosen one, or UTF-8, else Windows-1252."""
    if encoding != AUTO and encoding not in ENCODINGS:
        raise ApplicationError(
            f"“{encoding}” is not an encoding this import reads; choose one of: {', '.join(ENCODINGS)}.",
            code="bad_encoding",
            field="encoding",
        )
    candidates = [encoding] if encoding != AUTO else ["utf-8", "cp1252"]
    failure = None
    for candidate in candidates:
        failure = _first_undecodable(data, candidate)
        if failure is None:
            return candidate
    position, byte = failure
    line = data.count(b"\n", 0, position) + 1
    if encoding == AUTO:
        message = (
            f"The file is neither UTF-8 nor Windows-1252 text: byte 0x{byte:02X} on line {line} is no "
            "character in either. Save it as “CSV UTF-8” and upload it again."
        )
    else:
        message = (
            f"The file is not {ENCODINGS[encoding]} text: byte 0x{byte:02X} on line {line} is no "
            f"{ENCODINGS[encoding]} character. Choose another encoding (or “detect”)."
        )
    raise ApplicationError(message, code="file_encoding", field="encoding")


def _first_undecodable(data: bytes, encoding: str) -> tuple[int, int] | None:
    """(position, byte) of the first byte that does not decode, or None: in slices, no copy of the text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    step = 1024 * 1024
    for start in range(0, len(data), step):
        # A character cut in two by the slice waits in the decoder: the error's position counts from it.
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start : start + step], final=start + step >= len(data))
        except UnicodeDecodeError as exc:
            position = start - pending + exc.start
            return position, data[position]
    return None


def _first_line(sample: str) -> str:
    sample = sample.lstrip("\ufeff")
    for end, ch in enumerate(sample):
        if ch in "\r\n":
            return sample[:end]
    return sample


def _detect_delimiter(header_line: str) -> str:
    """The separator the header line uses most, outside quotes; a comma if it has none (one column)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _check_workbook(data: bytes, file_name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
            shared_strings = sum(
                info.file_size
                for info in archive.infolist()
                if info.filename.lower() == "xl/sharedstrings.xml"
            )
    except zipfile.BadZipFile as exc:
        raise _not_a_table(f"{file_name} is a damaged zip file") from exc
    if "xl/workbook.xml" not in names:
        raise _not_a_table(f"{file_name} is a zip archive but not an Excel workbook")
    limit = _XLSX_EXPANSION * settings.CONTACT_IMPORT_MAX_BYTES
    if unpacked > limit:
        raise ApplicationError(
            f"{file_name} unpacks to {filesizeformat(unpacked)}, more than an import reads "
            f"({filesizeformat(limit)}). Save it as CSV, or split it.",
            code="file_too_large",
            field="file",
        )
    if shared_strings > _XLSX_SHARED_STRINGS_MAX:
        raise ApplicationError(
            f"{file_name} holds {filesizeformat(shared_strings)} of text in its shared-strings table, "
            f"more than an import reads from a workbook ({filesizeformat(_XLSX_SHARED_STRINGS_MAX)}). "
            "Save it as CSV (UTF-8), which has no such limit but the file size.",
            code="file_too_large",
            field="file",
        )
    try:
        _open_sheet(data)
    except ApplicationError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a broken workbook
        raise _not_a_table(f"{file_name} could not be opened as an Excel workbook ({exc})") from exc


def _open_sheet(data: bytes):
    from openpyxl import load_workbook  # imported here: only workbooks need it

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    if not workbook.worksheets:
        raise _not_a_table("The workbook has no worksheet")
    sheet = workbook.worksheets[0]
    # Some writers store wrong dimensions, and read-only mode would stop at them.
    sheet.reset_dimensions()
    return sheet


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The first worksheet's rows, streamed (openpyxl's read-only mode)."""
    rows = enumerate(_open_sheet(data).iter_rows(values_only=True), start=1)
    line = 0
    while True:
        try:
            line, values = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # a damaged sheet: openpyxl and the XML parser raise many kinds
            raise ApplicationError(
                f"The workbook cannot be read after row {line} ({exc}). Open it in Excel or "
                "LibreOffice and save it again, or save it as CSV.",
                code="file_unreadable",
                field="file",
            ) from exc
        cells = ["" if value is None else _cell_text(value) for value in values]
        if any(cell.strip() for cell in cells):
            yield line, cells


def _cell_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # A phone number typed into a number cell: 4915123456789, not 4.915123456789e12.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    # A workbook can spell a NUL character (_x0000_); no text column stores one.
    return str(value).replace("\x00", "")
