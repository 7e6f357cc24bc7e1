"""``manage.py compliance_export <report> [filters] [-o FILE]``: the admin's exports from the shell.

For scheduled compliance archives: the same filters, validation, columns, streaming and audit
entries as the admin pages (docs/compliance.md, "From the shell"). The file is written beside
its name as ``<name>.partial`` and renamed when complete, so an interrupted run never leaves a
file that looks whole. Exports are unmasked unless ``--mask`` is given: whoever runs the command
already holds the database. Another report registers itself in ``REPORTS`` with its form and rows.
"""

from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from compliance.consent_export import (
    CONSENT_AT,
    CONSENT_AUDIT,
    consent_at,
    consent_columns,
    consent_events,
    export_report,
    point_in_time_columns,
)
from compliance.forms import ConsentAtForm, ConsentExportForm
from core.actors import Actor


def _consent_audit(form, mask):
    return consent_events(form.filters()), consent_columns(mask=mask)


def _consent_at(form, mask):
    data = form.cleaned_data
    rows = consent_at(
        filters=form.filters(), at=data["at"], reading=data["reading"], opted_in_only=not data.get("everyone")
    )
    return rows, point_in_time_columns(mask=mask)


# report name → (its form, a function of the valid form and the mask giving rows and columns)
REPORTS = {CONSENT_AUDIT: (ConsentExportForm, _consent_audit), CONSENT_AT: (ConsentAtForm, _consent_at)}
# option name → form field, for the options whose names differ
_FIELDS = {"from": "date_from", "to": "date_to", "dates": "date_field"}


class Command(BaseCommand):
    help = "Export a compliance report (CSV or JSON Lines) to a file or stdout; logged like the admin's."

    def add_arguments(self, parser):
        parser.add_argument("report", choices=sorted(REPORTS))
        parser.add_argument("-o", "--output-file", default="-", help="A path, or - for stdout (default).")
        parser.add_argument("--format", dest="output", default="csv", help="csv (default) or jsonl.")
        parser.add_argument("--bom", action="store_true", help="CSV: start with a byte order mark (Excel).")
        parser.add_argument("--mask", action="store_true", help="Mask phone numbers, IPs and user agents.")
        parser.add_argument("--dates", help="consent_audit: occurred (default) or recorded.")
        for name in ("from", "to", "purpose", "action", "source", "wording", "actor", "at", "reading"):
            parser.add_argument(f"--{name}")
        parser.add_argument("--tag", help="A tag's id.")
        parser.add_argument("--segment", help="A segment's id.")
        parser.add_argument("--phone", help="A contact's phone number, in any form.")
        parser.add_argument("--contact", help="A contact's id.")
        parser.add_argument("--everyone", action="store_true", help="consent_at: opted-out contacts too.")

    def handle(self, *args, report, output_file, **options):
        form_class, rows_of = REPORTS[report]
        data = {}
        for name in form_class.base_fields:
            option = next((o for o, field in _FIELDS.items() if field == name), name)
            value = options.get(option)
            if value not in (None, False):
                data[name] = "on" if value is True else value
        data.setdefault("output", "csv")
        if "date_field" in form_class.base_fields:
            data.setdefault("date_field", "occurred")
        if "reading" in form_class.base_fields:
            data.setdefault("reading", "happened")
        form = form_class(data)
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
                for name, errors in form.errors.items()
            )
            raise CommandError(f"Nothing exported. {problems}")
        mask = bool(options["mask"])
        rows, columns = rows_of(form, mask)
        export = export_report(
            report=report,
            rows=rows,
            columns=columns,
            actor=Actor.system(f"manage.py compliance_export ({getpass.getuser()})"),
            described_filters=form.described(),
            output=form.cleaned_data["output"],
            bom=form.cleaned_data.get("bom", False),
            mask=mask,
        )
        if output_file == "-":
            for chunk in export.chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        partial = f"{output_file}.partial"
        with open(partial, "wb") as handle:
            for chunk in export.chunks:
                handle.write(chunk)
        os.replace(partial, output_file)
        self.stderr.write(f"{export.rows_matched} rows written to {output_file}.")
