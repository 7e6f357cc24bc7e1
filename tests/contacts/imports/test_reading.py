"""Reading uploaded files: the format from the bytes, encodings, delimiters, workbooks, bad files."""

import codecs
from datetime import datetime

import pytest

from contacts.imports.reading import (
    CSV,
    XLSX,
    FileFormat,
    count_data_rows,
    detect_format,
    iter_rows,
    read_header,
)
from core.errors import ApplicationError
from tests.contacts.imports.conftest import build_csv, build_xlsx

ROWS = [
    ["Telefon", "Nachname", "Vorname"],
    ["0151 23456789", "Müller", "Jörg"],
    ["+4915198765432", "Öz", "Ça"],
]


def read(data: bytes, **choices):
    fmt = detect_format(file_name="list.csv", data=data, **choices)
    return fmt, list(iter_rows(data, fmt))


def test_excel_semicolon_windows_1252_is_detected():
    fmt, rows = read(build_csv(ROWS, delimiter=";", encoding="cp1252"))
    assert fmt == FileFormat(CSV, encoding="cp1252", delimiter=";")
    assert rows[1] == (2, ["0151 23456789", "Müller", "Jörg"])


@pytest.mark.parametrize("bom", [True, False])
def test_utf8_with_or_without_bom(bom):
    data = build_csv(ROWS, bom=bom)
    fmt, rows = read(data)
    assert fmt == FileFormat(CSV, encoding="utf-8", delimiter=",")
    assert read_header(data, fmt) == ["Telefon", "Nachname", "Vorname"]  # no BOM in the first name
    assert rows[2] == (3, ["+4915198765432", "Öz", "Ça"])


@pytest.mark.parametrize(("delimiter", "expected"), [("\t", "\t"), (";", ";"), (",", ","), ("|", "|")])
def test_the_delimiter_is_the_one_the_header_uses(delimiter, expected):
    fmt, _ = read(build_csv([["Phone", "Name, first", "Last"], ["1", "2", "3"]], delimiter=delimiter))
    assert fmt.delimiter == expected


def test_a_single_column_file_reads_as_comma_separated():
    fmt, rows = read(b"Phone\n+4915123456789\n")
    assert fmt.delimiter == ","
    assert rows == [(1, ["Phone"]), (2, ["+4915123456789"])]


def test_a_chosen_delimiter_and_encoding_win():
    data = build_csv(ROWS, delimiter=";", encoding="cp1252")
    fmt, rows = read(data, encoding="latin-1", delimiter=";")
    assert fmt.encoding == "latin-1"
    assert rows[1][1][1] == "Müller"


def test_a_chosen_encoding_the_file_is_not_in_names_the_line_and_byte():
    data = build_csv(ROWS, delimiter=";", encoding="cp1252")
    with pytest.raises(ApplicationError) as caught:
        read(data, encoding="utf-8")
    assert caught.value.code == "file_encoding"
    assert "0xFC on line 2" in caught.value.message  # the ü of Müller
    assert caught.value.field == "encoding"


def test_a_character_cut_by_the_decoders_slices_is_located_exactly():
    # A long valid UTF-8 prefix puts the broken byte past the first slice of a megabyte.
    data = b"Phone\n" + ("ä" * 600_000).encode() + b"\n\xff\n"
    with pytest.raises(ApplicationError) as caught:
        read(data, encoding="utf-8")
    assert "0xFF on line 3" in caught.value.message


def test_a_file_neither_utf8_nor_windows_1252_is_refused():
    with pytest.raises(ApplicationError, match="neither UTF-8 nor Windows-1252"):
        read(b"Phone\n+49151\x81\n")  # 0x81 is no Windows-1252 character


def test_unknown_choices_are_refused():
    with pytest.raises(ApplicationError) as caught:
        read(b"Phone\n1\n", encoding="ebcdic")
    assert caught.value.field == "encoding"
    with pytest.raises(ApplicationError) as caught:
        read(b"Phone\n1\n", delimiter=":")
    assert caught.value.field == "delimiter"


def test_a_line_break_inside_quotes_does_not_start_a_row_and_blank_rows_keep_their_numbers():
    data = b'Phone,Note\n+4915123456789,"two\nlines"\n\n , \n+4915198765432,x\n'
    fmt, rows = read(data)
    assert [line for line, _ in rows] == [1, 2, 5]
    assert rows[1][1] == ["+4915123456789", "two\nlines"]
    assert count_data_rows(data, fmt) == 2


def test_a_cell_that_never_closes_its_quote_is_refused_with_its_row():
    data = b'Phone,Note\n+4915123456789,"' + b"x" * 140_000 + b"\n"
    fmt = detect_format(file_name="a.csv", data=data)
    with pytest.raises(ApplicationError) as caught:
        list(iter_rows(data, fmt))
    assert caught.value.code == "file_unreadable"
    assert "Row 2" in caught.value.message


def test_the_header_is_trimmed_and_loses_trailing_empty_cells():
    data = b" Phone ; Name ;;\n1;2;;\n"
    fmt = detect_format(file_name="a.csv", data=data)
    assert read_header(data, fmt) == ["Phone", "Name"]


def test_an_empty_first_row_is_no_header():
    data = b"\n\nPhone\n1\n"
    fmt = detect_format(file_name="a.csv", data=data)
    with pytest.raises(ApplicationError) as caught:
        read_header(data, fmt)
    assert caught.value.code == "file_no_header"


def test_a_workbook_reads_its_first_sheet_with_numbers_and_dates_as_written():
    data = build_xlsx(
        [
            ["Phone", "Since", "Orders", "Score", "VIP"],
            [4915123456789, datetime(2025, 3, 1), 12, 2.5, True],
            [],
            ["+4915198765432", datetime(2025, 3, 1, 14, 30), None, None, False],
        ]
    )
    fmt, rows = read(data)
    assert fmt == FileFormat(XLSX)
    assert rows == [
        (1, ["Phone", "Since", "Orders", "Score", "VIP"]),
        (2, ["4915123456789", "2025-03-01", "12", "2.5", "true"]),
        (4, ["+4915198765432", "2025-03-01 14:30:00", "", "", "false"]),
    ]
    assert count_data_rows(data, fmt) == 2


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "is a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old Excel file (.xls)"),
        (codecs.BOM_UTF16_LE + "Phone\n1\n".encode("utf-16-le"), "UTF-16"),
        (b"Phone\n\x00\x01\x02\x03", "binary data"),
        (bytes(range(1, 32)) * 4, "control characters"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged zip file"),
    ],
)
def test_files_that_are_no_table_are_refused_saying_what_they_are(data, says):
    with pytest.raises(ApplicationError) as caught:
        detect_format(file_name="list.csv", data=data)
    assert caught.value.code == "file_not_table"
    assert says in caught.value.message
    assert "Upload a CSV file" in caught.value.message


def test_a_zip_that_is_no_workbook_is_refused():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(ApplicationError, match="not an Excel workbook"):
        detect_format(file_name="letter.docx", data=buffer.getvalue())


def test_a_workbook_that_unpacks_to_far_more_than_the_limit_is_refused(settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1000
    data = build_xlsx([["Phone"], *[[f"+49151{n:08d}"] for n in range(2000)]])
    with pytest.raises(ApplicationError) as caught:
        detect_format(file_name="big.xlsx", data=data)
    assert caught.value.code == "file_too_large"


def test_a_workbook_whose_shared_strings_unpack_too_far_is_refused_before_openpyxl_reads_them(monkeypatch):
    import io
    import zipfile

    from contacts.imports import reading

    monkeypatch.setattr(reading, "_XLSX_SHARED_STRINGS_MAX", 10_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "<si><t>x</t></si>" * 5000 + "</sst>")
    opened = []
    monkeypatch.setattr(reading, "_open_sheet", lambda data: opened.append(data))
    with pytest.raises(ApplicationError, match="shared-strings table") as caught:
        detect_format(file_name="bomb.xlsx", data=buffer.getvalue())
    assert caught.value.code == "file_too_large" and opened == []


def test_a_workbook_damaged_after_its_first_rows_is_refused_with_the_row():
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(build_xlsx([["Phone"], ["+4915123456789"], ["+4915198765432"]])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as damaged:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"</sheetData>", b'<row r="4"><c r="A4"><v>1</sheetData>')
            damaged.writestr(item, content)
    data = buffer.getvalue()
    fmt = detect_format(file_name="damaged.xlsx", data=data)
    with pytest.raises(ApplicationError) as caught:
        count_data_rows(data, fmt)
    assert caught.value.code == "file_unreadable"
    assert "after row 3" in caught.value.message
