"""manage.py reprocess_webhooks: run stored webhook events through processing again.

Failed events by default (after fixing what failed them); ``--pending`` adds events whose queued
task never ran (a broker outage), ``--all`` every event (processing is idempotent, so this only
fills in what is missing). ``--from``/``--to`` bound the ids. Also applies statuses that waited
for an attempt the send path has since recorded.
"""

from django.core.management.base import BaseCommand, CommandError

from messaging.models import WebhookOutcome
from messaging.statuses import apply_waiting_statuses
from messaging.webhooks.processing import reprocess_webhook_events


class Command(BaseCommand):
    help = "Process stored WhatsApp webhook events again (failed ones by default)."

    def add_arguments(self, parser):
        parser.add_argument("--pending", action="store_true", help="Also events never processed.")
        parser.add_argument(
            "--all", dest="all_events", action="store_true", help="Every stored event, processed ones too."
        )
        parser.add_argument("--from", dest="first_id", type=int, help="The first event id to include.")
        parser.add_argument("--to", dest="last_id", type=int, help="The last event id to include.")

    def handle(
        self, *args, pending: bool, all_events: bool, first_id: int | None, last_id: int | None, **options
    ):
        if first_id is not None and last_id is not None and first_id > last_id:
            raise CommandError(f"--from {first_id} is after --to {last_id}.")
        outcomes = {WebhookOutcome.FAILED}
        if pending or all_events:
            outcomes.add(WebhookOutcome.PENDING)
        if all_events:
            outcomes.add(WebhookOutcome.PROCESSED)
        results = reprocess_webhook_events(outcomes=outcomes, first_id=first_id, last_id=last_id)
        total = sum(results.values())
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(results.items())) or "none"
        self.stdout.write(f"Reprocessed {total} webhook events: {summary}.")
        touched = apply_waiting_statuses()
        if touched:
            self.stdout.write(f"Applied waiting statuses to {touched} attempts.")
        if results.get(WebhookOutcome.FAILED):
            self.stdout.write(self.style.WARNING("Some events still fail; see WebhookEvent.error."))
