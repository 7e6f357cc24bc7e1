"""`manage.py consent_proof (--campaign ID | --from DAY --to DAY [--purpose P]) [--format csv|jsonl]
[-o FILE] [--mask]`: the proof of consent per message from the shell, for compliance archives.

The same rows, validation, streaming and audit entries as the admin's proof page
(``compliance.campaign_proof``); days are the shop's, both included. Unmasked unless ``--mask``
(whoever runs the command already holds the database). A file is written as ``<name>.partial`` and
renamed when complete, as ``compliance_export`` does, so an interrupted run leaves no file that
looks whole.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from compliance.campaign_proof import ProofScope, period_scope, proof_export
from compliance.dates import OUT_OF_RANGE, in_range
from compliance.streaming import OUTPUTS
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.campaign_models import Campaign


class Command(BaseCommand):
    help = "Export the proof of consent of a campaign or of a period's other sends (CSV or JSON Lines)."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", help="A campaign's id.")
        parser.add_argument(
            "--from", dest="since", help="First day (YYYY-MM-DD) of a period of non-campaign sends."
        )
        parser.add_argument("--to", dest="until", help="Last day (YYYY-MM-DD, included).")
        parser.add_argument("--purpose", default="", help="marketing or service (periods only).")
        parser.add_argument("--format", dest="output", default="csv", help="csv (default) or jsonl.")
        parser.add_argument("-o", "--output-file", default="-", help="A path, or - for stdout (default).")
        parser.add_argument("--mask", action="store_true", help="Mask phone numbers, IPs and user agents.")

    def handle(self, *args, campaign, since, until, purpose, output, output_file, mask, **options):
        if output not in OUTPUTS:
            raise CommandError(
                f"Nothing exported. --format takes one of {', '.join(OUTPUTS)}, not “{output}”."
            )
        scope = self._scope(campaign=campaign, since=since, until=until, purpose=purpose)
        export = proof_export(
            scope=scope,
            actor=Actor.system(f"manage.py consent_proof ({getpass.getuser()})"),
            output=output,
            mask=mask,
        )
        if output_file == "-":
            for chunk in export.chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        partial = f"{output_file}.partial"
        try:
            with open(partial, "wb") as handle:
                for chunk in export.chunks:
                    handle.write(chunk)
        except OSError as exc:
            raise CommandError(f"Cannot write {partial}: {exc.strerror}.") from exc
        os.replace(partial, output_file)
        self.stderr.write(f"{export.rows_matched} rows written to {output_file}.")

    def _scope(self, *, campaign, since, until, purpose) -> ProofScope:
        if campaign is not None:
            if since or until or purpose:
                raise CommandError("Nothing exported. Give a campaign or a period, not both.")
            found = Campaign.objects.filter(pk=int(campaign)).first() if is_id(campaign) else None
            if found is None:
                raise CommandError(f"Nothing exported. There is no campaign with the id “{campaign}”.")
            return ProofScope(campaign=found)
        if not (since or until):
            raise CommandError("Nothing exported. Give --campaign ID, or a period with --from and --to.")
        try:
            return period_scope(
                since=_day_start(since, "--from"),
                until=_day_start(until, "--to", after=True),
                purpose=purpose,
            )
        except ApplicationError as exc:
            raise CommandError(f"Nothing exported. {exc.message}") from exc


def _day_start(value: str | None, option: str, *, after: bool = False) -> datetime | None:
    """Midnight at the start of the day (of the day after, for the period's last day), shop time."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"Nothing exported. {option} takes a day such as 2026-05-01, not “{value}”."
        ) from exc
    if not in_range(day):
        raise CommandError(f"Nothing exported. {option}: {OUT_OF_RANGE}")
    if after:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
