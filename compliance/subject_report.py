"""Everything the business holds about one person, for a data-subject request (GDPR Art. 15).

One person may be several contact rows: rows found to be the same person were merged into one
survivor (``Contact.merged_into``) and keep their own identifiers and ledger as evidence. The
report is about the person, so it reads the contact and every row merged into it: their details,
the merge history, every consent event of any of them (the ledger is append-only, so this is the
full history, with each event's wording text and evidence), and every message sent to or received
from them with each attempt and every status WhatsApp reported.

The report is a plain JSON-ready dict (times as ISO 8601 in UTC), built with a constant number of
queries whatever the history's length; the admin renders it as a printable page and as a JSON
download, and ``manage.py subject_report`` writes it to a file. Personal data a reader may not see
(phone numbers, the evidence's IP address and user agent) is masked by ``masked``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Prefetch

from compliance.audit import export_audited
from compliance.consent_export import ledger_anchor
from compliance.masking import PHONE_ELLIPSIS, masked_evidence
from contacts.matching import contact_match
from contacts.models import ConsentEvent, Contact, CurrentConsent
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageStatusEvent, OutboundMessage, SendAttempt

REPORT_VERSION = 1
# The sections, in the order the page and the JSON show them (the print test looks for each title).
SECTIONS = (
    ("contact", "Contact details"),
    ("merged_rows", "Rows merged into this contact"),
    ("current_consent", "Current consent"),
    ("consent_history", "Consent history"),
    ("outbound_messages", "Messages sent"),
    ("inbound_messages", "Messages received"),
)


def subject_contact(reference: str) -> Contact:
    """The person a request names: a contact id, or a phone number in any format or WhatsApp's
    digits-only form, found through the contacts' matcher (its equivalent forms, and the survivor of
    a merge when the number is a merged row's). Unknown or malformed: an ``ApplicationError``."""
    reference = (reference or "").strip()
    if not reference:
        raise ApplicationError("Name a contact by its id or phone number.", code="subject_missing")
    if is_id(reference) and not reference.startswith("0") and len(reference) < 10:
        contact = Contact.objects.filter(pk=int(reference)).first()
        if contact is None:
            raise ApplicationError(f"There is no contact with the id {reference}.", code="subject_unknown")
        return contact
    if not any(char.isdigit() for char in reference) or len(reference) > 40:
        raise ApplicationError(
            f"“{reference[:40]}” is neither a contact id nor a phone number.", code="subject_invalid"
        )
    contact = contact_match(phone=reference, wa_id=reference if reference.isdigit() else None)
    if contact is None:
        raise ApplicationError(f"No contact has the phone number {reference}.", code="subject_unknown")
    return contact


def subject_report(contact: Contact, *, now: datetime | None = None) -> dict[str, Any]:
    """The person's report, unmasked (``masked`` hides what a reader may not see).

    A merged-away row is reported through its survivor: the person is the survivor and its rows.
    """
    while contact.merged_into_id is not None:
        contact = contact.merged_into
    merged = list(
        Contact.objects.filter(merged_into=contact).prefetch_related("tags").order_by("merged_at", "pk")
    )
    person_ids = [contact.pk, *(row.pk for row in merged)]
    events = (
        ConsentEvent.objects.filter(contact_id__in=person_ids)
        .select_related("wording")
        .order_by("effective_at", "recorded_at", "pk")
    )
    statuses = Prefetch("statuses", queryset=MessageStatusEvent.objects.order_by("received_at", "pk"))
    attempts = Prefetch(
        "attempts", queryset=SendAttempt.objects.order_by("number").prefetch_related(statuses)
    )
    outbound = (
        OutboundMessage.objects.filter(contact_id__in=person_ids)
        .select_related("campaign", "template_version__template")
        .prefetch_related(attempts)
        .order_by("created_at", "pk")
    )
    inbound = InboundMessage.objects.filter(contact_id__in=person_ids).order_by("sent_at", "pk")
    current = CurrentConsent.objects.filter(contact=contact).order_by("purpose")
    return {
        "report": "data_subject",
        "version": REPORT_VERSION,
        "generated_at": _time(now or datetime.now(UTC)),
        # The tamper-evidence anchor covering the ledger as read (None before the first anchor).
        "ledger_anchor": ledger_anchor(),
        "contact": _contact(contact),
        "merged_rows": [_contact(row) for row in merged],
        "current_consent": [
            {
                "purpose": row.purpose,
                "status": row.status,
                "since": _time(row.since),
                "event_id": row.event_id,
            }
            for row in current
        ],
        "consent_history": [_event(event) for event in events],
        "outbound_messages": [_outbound(message) for message in outbound],
        "inbound_messages": [_inbound(message) for message in inbound],
    }


def masked(report: dict[str, Any]) -> dict[str, Any]:
    """The report with phone numbers and the evidence's personal keys hidden, as the exports mask
    them (``compliance.masking``), for readers without the right to see personal data."""

    def contact(row: dict) -> dict:
        return {**row, "phone": mask_phone(row["phone"]), "wa_id": mask_phone(row["wa_id"])}

    def evidence(row: dict) -> dict:
        return {**row, "evidence": masked_evidence(row["evidence"])}  # at any depth, as exports do

    return {
        **report,
        "masked": True,
        "contact": contact(report["contact"]),
        "merged_rows": [contact(row) for row in report["merged_rows"]],
        "consent_history": [evidence(row) for row in report["consent_history"]],
        "inbound_messages": [{**row, "from": mask_phone(row["from"])} for row in report["inbound_messages"]],
    }


def subject_label(report: dict[str, Any]) -> str:
    """How the page's title, breadcrumb and heading name the person: ``Contact #12 (Ana Lima)``,
    or with the report's phone (masked in a masked report) for a contact without a name. Never
    ``str(contact)``, which falls back to the full number and would leak it from a masked page."""
    row = report["contact"]
    name = f"{row['first_name']} {row['last_name']}".strip()
    return f"Contact #{row['id']} ({name or row['phone'] or 'no phone'})"


def mask_phone(value: str | None) -> str | None:
    """``compliance.masking.MaskedPhone`` in Python: ``+49…78`` for ``+4917612345678``."""
    if value is None or len(value) < 6:
        return value
    return f"{value[:3]}{PHONE_ELLIPSIS}{value[-2:]}"


def row_count(report: dict[str, Any]) -> int:
    """The rows a report holds, for the export log: the contact rows, events and messages."""
    return 1 + sum(
        len(report[key])
        for key in ("merged_rows", "consent_history", "outbound_messages", "inbound_messages")
    )


def log_read(
    *,
    actor: Actor,
    report: str,
    filters: dict,
    output: str,
    masked: bool,
    rows: int,
    anchor: dict | None = None,
) -> None:
    """Log a report read whole (a page, a JSON file) as an export: the same start and end entries
    as a stream's (``compliance.audit``), so Auditors find every export in one place."""

    def chunks(progress):
        progress.rows, progress.finished = rows, True
        return iter(())

    for _ in export_audited(
        actor=actor,
        report=report,
        filters=filters,
        output=output,
        masked=masked,
        matched_rows=rows,
        extra={"ledger_anchor": anchor} if anchor else None,
        chunks=chunks,
    ):
        pass


# --- Rows ----------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "phone": contact.phone,
        "wa_id": contact.wa_id,
        "user_id": contact.user_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "whatsapp_profile_name": contact.whatsapp_profile_name,
        "language": contact.language,
        "country": contact.country,
        "time_zone": contact.time_zone,
        "attributes": contact.attributes,
        "tags": [tag.name for tag in contact.tags.all()],
        "not_on_whatsapp_since": _time(contact.not_on_whatsapp_since),
        "last_inbound_at": _time(contact.last_inbound_at),
        "number_reassigned_at": _time(contact.number_reassigned_at),
        "merged_into_id": contact.merged_into_id,
        "merged_at": _time(contact.merged_at),
        "created_at": _time(contact.created_at),
        "updated_at": _time(contact.updated_at),
    }


def _event(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "contact_id": event.contact_id,
        "purpose": event.purpose,
        "action": event.action,
        "source": event.source,
        "carried_source": event.carried_source,
        "wording_id": event.wording_id,
        "wording_version": event.wording.version if event.wording_id else None,
        "wording_text": event.wording_display,
        "evidence": event.evidence,
        "occurred_at": _time(event.occurred_at),
        "recorded_at": _time(event.recorded_at),
        "effective_at": _time(event.effective_at),
        "recorded_by": event.actor_display,
        "recorded_by_kind": event.actor_kind,
    }


def _outbound(message: OutboundMessage) -> dict[str, Any]:
    version = message.template_version
    return {
        "id": str(message.public_id),
        "contact_id": message.contact_id,
        "kind": message.kind,
        "purpose": message.purpose,
        "is_reply": message.is_reply,
        "template": f"{version.template.name} ({version.template.language})" if version else "",
        "campaign": message.campaign.name if message.campaign_id else "",
        "text": message.rendered_text,
        "parameters": message.parameters,
        "authorising_event_id": message.authorising_event_id,
        "status": message.status,
        "error_code": message.error_code,
        "error_text": message.error_text,
        "created_at": _time(message.created_at),
        "accepted_at": _time(message.accepted_at),
        "sent_at": _time(message.sent_at),
        "delivered_at": _time(message.delivered_at),
        "read_at": _time(message.read_at),
        "failed_at": _time(message.failed_at),
        "finished_at": _time(message.finished_at),
        "attempts": [
            {
                "number": attempt.number,
                "outcome": attempt.outcome,
                "wamid": attempt.wamid,
                "started_at": _time(attempt.started_at),
                "statuses": [
                    {
                        "status": status.status,
                        "meta_timestamp": _time(status.meta_timestamp),
                        "received_at": _time(status.received_at),
                        "errors": status.errors,
                    }
                    for status in attempt.statuses.all()
                ],
            }
            for attempt in message.attempts.all()
        ],
    }


def _inbound(message: InboundMessage) -> dict[str, Any]:
    return {
        "wamid": message.wamid,
        "contact_id": message.contact_id,
        "from": message.payload.get("from") if isinstance(message.payload, dict) else None,
        "type": message.type,
        "text": message.text,
        "sent_at": _time(message.sent_at),
        "received_at": _time(message.received_at),
    }
