"""``manage.py verify_ledger``: recompute the consent ledger's HMAC chains (docs/consent-chain.md)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from contacts.ledger_verify import VERIFY_CHUNK_CONTACTS, record_verification, verify_ledger


class Command(BaseCommand):
    help = (
        "Recompute every contact's consent chain in chunks and name the first event that does not "
        "match; exits non-zero on a mismatch. The result is logged for the Auditor's page."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--after-contact",
            type=int,
            default=0,
            help="Resume after this contact id (the last one a previous run printed as verified).",
        )
        parser.add_argument(
            "--chunk",
            type=int,
            default=VERIFY_CHUNK_CONTACTS,
            help=f"Contacts per chunk (default {VERIFY_CHUNK_CONTACTS}).",
        )

    def handle(self, *args, after_contact, chunk, **options):
        if after_contact < 0:
            raise CommandError("--after-contact is a contact id: 0 or more.")
        if chunk <= 0:
            raise CommandError("--chunk must be at least 1.")
        started_at = timezone.now()

        def progress(result):
            if result.failure is None and result.last_contact_id is not None and options["verbosity"] > 1:
                self.stdout.write(f"verified through contact {result.last_contact_id}")

        verification = verify_ledger(after_contact_id=after_contact, chunk_contacts=chunk, progress=progress)
        record_verification(verification, started_at=started_at)
        summary = f"{verification.events} events of {verification.contacts} contacts"
        if verification.ok:
            anchor = verification.anchor
            against = f"; the anchor of {anchor.at.isoformat()} matches" if anchor else ""
            scope = f" after contact {after_contact}" if after_contact else ""
            self.stdout.write(self.style.SUCCESS(f"The consent ledger verifies{scope}: {summary}{against}."))
            return
        failure = verification.failure
        where = ""
        if failure.contact_id is not None:
            where = f" at contact {failure.contact_id}, event {failure.event_id}"
        resume = verification.through_contact_id or after_contact
        raise CommandError(
            f"The consent ledger does not verify{where} ({failure.reason}): {failure.detail}. "
            f"Checked {summary}; the contacts up to {resume} verified."
        )
