"""What an import would do, read from its staged rows: counts, refused rows, changes, opt-in refusals.

Each list is read one page at a time, and the refused rows' download streams, so a file of any
size costs the same to preview.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Q

from contacts.exports import BOM, line_writer, safe_cell
from contacts.imports.mapping import REASON_COLUMN
from contacts.imports.reading import DELIMITERS
from contacts.imports.validation import OPT_IN_REFUSALS
from contacts.models import ContactImport, ImportRow, ImportRowStatus, Purpose

# What staff read for an opt-in the opting-back-in rule refuses (docs/consent.md).
OPT_IN_REASONS = {
    "opt_in_import_after_whatsapp_opt_out": (
        "they opted out on WhatsApp themselves, and an import never opts them in again (they can "
        "send START or use an opt-in link; or record their new opt-in one at a time, with its evidence)"
    ),
    "opt_in_date_required": (
        "they opted out, and this row has no date of its own: the file's one date never overrides "
        "an opt-out (give the row's own date of opt-in in a date column)"
    ),
    "opt_in_not_after_opt_out": (
        "they opted out, and this row's date of opt-in is not after the opt-out: it would not change "
        "their consent"
    ),
}


@dataclass(frozen=True)
class RefusedRow:
    line: int
    reason_code: str
    reason: str
    raw: list[str]


@dataclass(frozen=True)
class ChangedRow:
    line: int
    contact_id: int
    contact_name: str
    changes: dict


@dataclass(frozen=True)
class OptInRefusal:
    line: int
    purpose: str
    code: str
    reason: str
    contact_id: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, which page, and how many there are in all."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class ImportPreview:
    """The preview of an import (docs/imports.md, "Preview")."""

    counts: dict
    total_rows: int
    header: list[str]
    refused: Page
    changes: Page
    opt_in_refusals: Page
    totals: dict = field(default_factory=dict)


def import_preview(
    *,
    contact_import: ContactImport,
    page: int = 1,
    per_page: int = 100,
    refused_page: int | None = None,
    changes_page: int | None = None,
    opt_ins_page: int | None = None,
) -> ImportPreview:
    """The counts and one page of each list; ``page`` for all three unless a list's own is given."""
    per_page = max(1, min(per_page, 1000))
    rows = ImportRow.objects.filter(contact_import=contact_import)
    refused = _page(
        rows.filter(status=ImportRowStatus.REFUSED).order_by("line"),
        refused_page or page,
        per_page,
        lambda r: RefusedRow(line=r.line, reason_code=r.reason_code, reason=r.reason, raw=r.raw),
        fields=["line", "reason_code", "reason", "raw"],
    )
    changes = _page(
        rows.filter(status=ImportRowStatus.UPDATE)
        .exclude(changes={})
        .select_related("contact")
        .order_by("line"),
        changes_page or page,
        per_page,
        lambda r: ChangedRow(
            line=r.line,
            contact_id=r.contact_id,
            contact_name=r.contact.display_name if r.contact else "",
            changes=r.changes,
        ),
        fields=["line", "contact", "changes"],
    )
    opt_in_rows = _page(
        rows.filter(_refused_opt_in()).exclude(status=ImportRowStatus.REFUSED).order_by("line"),
        opt_ins_page or page,
        per_page,
        lambda r: r,
        fields=["line", "opt_ins", "contact_id"],
    )
    refusals = [
        OptInRefusal(
            line=row.line,
            purpose=purpose,
            code=code,
            reason=opt_in_reason(purpose, code),
            contact_id=row.contact_id,
        )
        for row in opt_in_rows.items
        for purpose, code in sorted(row.opt_ins.items())
        if code in OPT_IN_REFUSALS
    ]
    opt_in_refusals = Page(refusals, opt_in_rows.number, per_page, opt_in_rows.total)
    return ImportPreview(
        counts=contact_import.counts or {},
        total_rows=contact_import.total_rows,
        header=contact_import.header,
        refused=refused,
        changes=changes,
        opt_in_refusals=opt_in_refusals,
        totals={"refused": refused.total, "changes": changes.total, "opt_in_refusals": opt_in_rows.total},
    )


def opt_in_reason(purpose: str, code: str) -> str:
    label = Purpose(purpose).label if purpose in Purpose.values else purpose
    return f"Opt-in to {label.lower()} refused: {OPT_IN_REASONS.get(code, code)}."


def import_refused_csv(*, contact_import: ContactImport) -> Iterator[str]:
    """The refused rows as CSV lines: the file's header and a "reason" column, then each row refused,
    or with an opt-in refused, with its original cells — to fix and upload again.

    Separated like the uploaded file (a comma for a workbook), so the spreadsheet that wrote it
    opens it in columns (German Excel splits on semicolons); UTF-8 with a BOM, which Excel needs to
    read it as UTF-8 rather than its local code page. Uploaded again with the reason column, the
    file finds its remembered mapping (``contacts.imports.mapping.header_key``).

    Streams (rows read in batches, one line out at a time). Cells that a spreadsheet would run as
    a formula (starting with = + - @, a tab or a carriage return) are written with a ' in front;
    an import reads such a cell back as it was.
    """
    delimiter = contact_import.delimiter if contact_import.delimiter in DELIMITERS else ","
    writer = line_writer(delimiter=delimiter)

    def line(cells: list[str]) -> str:
        return writer.writerow([safe_cell(cell) for cell in cells])

    width = len(contact_import.header)
    yield BOM + line([*contact_import.header, REASON_COLUMN])
    rows = (
        ImportRow.objects.filter(contact_import=contact_import)
        .filter(Q(status=ImportRowStatus.REFUSED) | _refused_opt_in())
        .order_by("line")
        .values_list("line", "raw", "status", "reason", "opt_ins")
    )
    for number, raw, status, reason, opt_ins in rows.iterator(chunk_size=2000):
        if status == ImportRowStatus.REFUSED:
            why = reason
        else:
            why = " ".join(
                opt_in_reason(purpose, code)
                for purpose, code in sorted(opt_ins.items())
                if code in OPT_IN_REFUSALS
            )
        # A row with more cells than the header keeps them all (the reason comes last): they are
        # what staff must fix.
        cells = [str(cell) for cell in raw]
        cells += [""] * (width - len(cells))
        yield line([*cells, f"Line {number}: {why}"])


def _refused_opt_in() -> Q:
    condition = Q()
    for purpose in Purpose.values:
        condition |= Q(**{f"opt_ins__{purpose}__in": list(OPT_IN_REFUSALS)})
    return condition


def _page(queryset, number: int, per_page: int, make, *, fields: list[str]) -> Page:
    total = queryset.count()
    pages = max(1, -(-total // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    items = [make(row) for row in queryset.only(*fields)[start : start + per_page]]
    return Page(items, number, per_page, total)
