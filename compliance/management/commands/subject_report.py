"""`manage.py subject_report <contact id or phone> [--output FILE] [--masked]`: a data-subject
report as JSON, for requests answered outside the admin and for compliance archives.

The same report as the admin's page and download (``compliance.subject_report``), unmasked
unless ``--masked`` (whoever runs the shell already reads the database). Logged as an export by
the system actor, like every export. An unknown or malformed reference stops with a message.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from compliance.subject_report import log_read, row_count, subject_contact, subject_report
from compliance.subject_report import masked as masked_report
from core.actors import Actor
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Write one person's data-subject report (contact, consent history, messages) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("contact", help="the contact's id, or a phone number in any format")
        parser.add_argument("--output", "-o", default="-", help="a file to write (default: standard output)")
        parser.add_argument(
            "--masked", action="store_true", help="mask phone numbers, IP addresses and user agents"
        )

    def handle(self, *args, contact, output, masked, **options):
        try:
            person = subject_contact(contact)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        report = subject_report(person)
        if masked:
            report = masked_report(report)
        text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
        try:
            if output == "-":
                sys.stdout.write(text)
            else:
                with open(output, "w", encoding="utf-8") as file:
                    file.write(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from exc
        log_read(
            actor=Actor.system("manage.py subject_report"),
            report="data_subject",
            filters={"contact_id": person.pk, "requested": contact},
            output="json",
            masked=masked,
            rows=row_count(report),
            anchor=report["ledger_anchor"],
        )
        if output != "-":
            self.stderr.write(f"Wrote the report of contact {person.pk} to {output}.")
