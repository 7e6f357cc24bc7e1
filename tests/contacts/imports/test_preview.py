"""The preview's pages and the refused rows' download (streamed, safe to open in a spreadsheet)."""

import csv
import io
from datetime import timedelta
from types import GeneratorType

import pytest
from django.utils import timezone

from contacts.imports.mapping import header_key
from contacts.imports.preview import import_preview, import_refused_csv
from contacts.models import ImportRow
from tests.contacts.imports.conftest import build_csv
from tests.factories import ContactFactory, opt_out

pytestmark = pytest.mark.django_db

HEADER = ["Phone", "First name", "Newsletter", "Date"]


@pytest.fixture
def contact_import(import_for, marketing_wording):
    ContactFactory(phone="+4915100000001", first_name="Old")
    stopped = ContactFactory(phone="+4915100000002", first_name="Stopped")
    opt_out(stopped, occurred_at=timezone.now() - timedelta(days=3))
    yesterday = f"{timezone.now() - timedelta(days=1):%Y-%m-%d}"
    return import_for(
        [
            HEADER,
            ["+4915100000001", "New", "", ""],
            ["+4915100000002", "", "yes", ""],  # the file's one date: refused opt-in
            ['=HYPERLINK("http://evil")', "@SUM(1)", "", ""],
            ["+4915100000003", "-Ana", "maybe", ""],
            ["+4915100000001", "Dup", "", ""],
            ["+4915100000004", "Ben", "yes", ""],
        ],
        wording=marketing_wording,
        consent_date_column=None,
        consent_date=yesterday,
    )


def test_the_preview_has_the_counts_and_a_page_of_each_list(contact_import):
    preview = import_preview(contact_import=contact_import)
    assert preview.counts["new"] == 1 and preview.counts["updated"] == 1 and preview.counts["refused"] == 3
    assert preview.counts["opt_ins"] == 1 and preview.counts["opt_ins_refused"] == 1
    assert preview.total_rows == 6
    assert [row.line for row in preview.refused.items] == [4, 5, 6]
    assert preview.refused.items[0].reason_code == "invalid_phone"
    assert preview.refused.items[0].raw == ['=HYPERLINK("http://evil")', "@SUM(1)", "", ""]
    [changed] = preview.changes.items
    assert (changed.line, changed.changes) == (2, {"first_name": ["Old", "New"]})
    assert changed.contact_name.startswith("Old ")
    refusal = preview.opt_in_refusals.items[0]
    assert (refusal.line, refusal.purpose, refusal.code) == (3, "marketing", "opt_in_date_required")
    assert refusal.reason.startswith(
        "Opt-in to marketing refused: they opted out, and this row has no date of its own"
    )
    assert preview.totals == {"refused": 3, "changes": 1, "opt_in_refusals": 1}


def test_a_deleted_contact_leaves_its_rows_and_the_preview_shows_them(contact_import):
    """The staging rows' links are not database constraints (ImportRow): Django still unlinks the
    rows of a contact deleted, and a link left behind all the same is shown without a name."""
    old = ContactFactory(phone="+4915100000009")
    row = ImportRow.objects.get(contact_import=contact_import, line=2)
    ImportRow.objects.filter(pk=row.pk).update(contact=old)
    old.delete()
    assert ImportRow.objects.get(pk=row.pk).contact_id is None
    ImportRow.objects.filter(pk=row.pk).update(contact_id=10**9)  # a link to no contact
    [changed] = import_preview(contact_import=contact_import).changes.items
    assert (changed.line, changed.contact_id, changed.contact_name) == (2, 10**9, "")


def test_the_lists_are_paged(contact_import):
    preview = import_preview(contact_import=contact_import, page=2, per_page=2)
    assert [row.line for row in preview.refused.items] == [6]
    assert (preview.refused.number, preview.refused.pages, preview.refused.total) == (2, 2, 3)
    assert preview.refused.has_previous and not preview.refused.has_next
    assert preview.changes.number == 1  # a page past the end shows the last one
    own = import_preview(contact_import=contact_import, per_page=2, refused_page=2, changes_page=1)
    assert [row.line for row in own.refused.items] == [6]
    assert [row.line for row in own.changes.items] == [2]


def read_download(contact_import, delimiter=",") -> list[list[str]]:
    """The refused rows' download as Excel reads it: UTF-8 after its BOM, in the file's delimiter."""
    text = "".join(import_refused_csv(contact_import=contact_import))
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))


def test_the_refused_rows_download_streams_every_refused_row_with_its_reason(contact_import):
    lines = import_refused_csv(contact_import=contact_import)
    assert isinstance(lines, GeneratorType)
    rows = read_download(contact_import)
    assert rows[0] == [*HEADER, "reason"]
    assert [row[-1].split(":", 1)[0] for row in rows[1:]] == ["Line 3", "Line 4", "Line 5", "Line 6"]
    assert rows[1][:4] == ["'+4915100000002", "", "yes", ""]
    assert "Opt-in to marketing refused" in rows[1][4]
    # Spreadsheet formulas are defused; the phone's + too, and an import reads it back as it was.
    assert rows[2][:2] == ['\'=HYPERLINK("http://evil")', "'@SUM(1)"]
    assert rows[3][:3] == ["'+4915100000003", "'-Ana", "maybe"]
    assert "Column “Newsletter”: “maybe” is neither yes nor no" in rows[3][4]
    assert rows[4][-1] == "Line 6: Column “Phone”: +4915100000001 is also on line 2: duplicate of line 2."


def test_a_fixed_download_imports_again(contact_import, import_for, marketing_wording):
    rows = read_download(contact_import)
    fixed = [row[:4] for row in rows]
    fixed[3][2] = "yes"  # line 5: "maybe" fixed
    again = import_for(
        fixed, wording=marketing_wording, consent_date=f"{timezone.now():%Y-%m-%d}", consent_date_column=None
    )
    row = ImportRow.objects.get(contact_import=again, line=4)
    assert (row.status, row.phone, row.first_name) == ("new", "+4915100000003", "-Ana")
    assert row.opt_ins == {"marketing": "record"}


GERMAN = [
    ["Telefon", "Vorname", "Newsletter", "Einwilligung am"],
    ["+49 151 23456701", "Jürgen", "ja", "12.03.2025"],
    ["0151 2345", "=1+1", "ja", "12.03.2025"],  # refused: too short
    ["0151 23456790", "Käthe", "vielleicht", "02.05.2025"],  # refused: unknown consent value
]


def test_the_download_of_a_german_excel_file_is_semicolon_separated_utf8_with_a_bom(
    import_for, marketing_wording
):
    contact_import = import_for(
        build_csv(GERMAN, delimiter=";", encoding="cp1252"), wording=marketing_wording
    )
    assert (contact_import.delimiter, contact_import.encoding) == (";", "cp1252")
    data = "".join(import_refused_csv(contact_import=contact_import)).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbfTelefon;Vorname;Newsletter;Einwilligung am;reason\r\n")
    rows = read_download(contact_import, delimiter=";")
    assert [row[:4] for row in rows[1:]] == [
        ["0151 2345", "'=1+1", "ja", "12.03.2025"],  # the formula stays defused
        ["0151 23456790", "Käthe", "vielleicht", "02.05.2025"],
    ]


def test_the_download_of_a_workbook_is_comma_separated(import_for, xlsx_file):
    contact_import = import_for(
        xlsx_file([["Phone", "First name"], ["12", "Ann"]]), file_name="contacts.xlsx"
    )
    assert read_download(contact_import) == [
        ["Phone", "First name", "reason"],
        ["12", "Ann", rows_reason(contact_import)],
    ]


def rows_reason(contact_import) -> str:
    row = ImportRow.objects.get(contact_import=contact_import, line=2)
    return f"Line 2: {row.reason}"


def test_the_fixed_download_finds_the_remembered_mapping_with_its_reason_column_ignored(
    import_for, marketing_wording
):
    first = import_for(
        build_csv(GERMAN, delimiter=";", encoding="cp1252"),
        wording=marketing_wording,
        consent_source="Kundenkarte, Ladentheke",
    )
    remembered = first.mapping
    assert remembered["consent_date_column"] == 3
    rows = read_download(first, delimiter=";")
    rows[1][0] = "0151 23456799"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows)
    fixed = b"\xef\xbb\xbf" + buffer.getvalue().encode()
    again = import_for(fixed, until="uploaded")
    assert again.header[-1] == "reason"
    assert again.mapping["consent"] == remembered["consent"]
    assert again.mapping["consent_source"] == "Kundenkarte, Ladentheke"
    assert again.mapping["columns"] == [*remembered["columns"], {"column": 4, "field": "ignore"}]
    # The mapping offered is one the service takes as it is (only the one date is asked again).
    staged = import_for(fixed, mapping=again.mapping)
    assert staged.counts["refused"] == 1 and staged.counts["new"] == 1

    # …and the original headers find the mapping confirmed for the fixed file, without the reason.
    original = import_for(build_csv(GERMAN, delimiter=";", encoding="cp1252"), until="uploaded")
    assert original.mapping["columns"] == remembered["columns"]


def test_only_a_last_column_named_exactly_reason_is_left_out_of_the_remembered_headers():
    assert header_key(["Phone", "reason"], "contacts") == header_key(["Phone"], "contacts")
    assert header_key(["Phone", "Reason"], "contacts") != header_key(["Phone"], "contacts")
    assert header_key(["reason", "Phone"], "contacts") != header_key(["Phone"], "contacts")
    assert header_key(["reason"], "contacts") != header_key([], "contacts")
