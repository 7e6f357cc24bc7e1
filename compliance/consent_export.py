"""The consent audit export and the point-in-time export: their filters, columns and queries.

The admin page, the management command and the tests call these; ``compliance.streaming`` writes
the rows, ``compliance.audit`` logs each export, ``compliance.masking`` hides personal data.
``ConsentExportForm`` (compliance/forms.py) turns what staff typed into ``ConsentFilters``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet

from compliance import point_in_time
from compliance.audit import export_audited, json_safe
from compliance.masking import evidence_column, phone_column
from compliance.streaming import CSV, INSTANT, JSON, NUMBER, Column, export_chunks
from contacts.ledger_chain import latest_anchor
from contacts.models import ConsentEvent, Contact, Segment
from contacts.segments.services import segment_q
from core.actors import Actor

CONSENT_AUDIT = "consent_audit"
CONSENT_AT = "consent_at"
REPORTS = {CONSENT_AUDIT: "Consent audit export", CONSENT_AT: "Consent at a point in time"}
OCCURRED, RECORDED = "occurred", "recorded"


@dataclass(frozen=True)
class ConsentFilters:
    """What to export. Every field is optional; ``contact_ids`` is what the contact filter found."""

    date_field: str = OCCURRED
    date_from: datetime | None = None
    date_to: datetime | None = None
    purpose: str = ""
    action: str = ""
    source: str = ""
    wording_id: int | None = None
    actor_label: str = ""
    tag_id: int | None = None
    segment_id: int | None = None
    contact_ids: tuple[int, ...] | None = None
    described: dict = field(default_factory=dict)


def consent_columns(*, mask: bool) -> list[Column]:
    """The export's columns: the event, the contact, the full evidence and the wording text."""
    return [
        Column("event_id", "id", NUMBER),
        Column("contact_id", "contact_id", NUMBER),
        Column("phone", phone_column("contact__phone", mask=mask)),
        Column("merged_into", "contact__merged_into_id", NUMBER),
        Column("purpose", "purpose"),
        Column("action", "action"),
        Column("source", "source"),
        Column("carried_source", "carried_source"),
        Column("occurred_at", "occurred_at", INSTANT),
        Column("recorded_at", "recorded_at", INSTANT),
        Column("effective_at", "effective_at", INSTANT),
        Column("wording_id", "wording_id", NUMBER),
        Column("wording_version", "wording__version", NUMBER),
        Column("wording_language", "wording__language"),
        Column("wording_text", "wording__text"),
        Column("wording_free_text", "wording_text"),
        Column("evidence", evidence_column("evidence", mask=mask), JSON),
        Column("signal_key", "signal_key"),
        Column("actor_kind", "actor_kind"),
        Column("actor", "actor_label"),
    ]


def point_in_time_columns(*, mask: bool) -> list[Column]:
    """One row per contact: the state, then the deciding event (the consent audit's columns)."""
    return [Column("state", "state"), *consent_columns(mask=mask)]


def consent_events(filters: ConsentFilters) -> QuerySet[ConsentEvent]:
    """The ledger's events the filters select, in the order they were recorded (id)."""
    events = ConsentEvent.objects.all()
    date_column = "occurred_at" if filters.date_field == OCCURRED else "recorded_at"
    if filters.date_from is not None:
        events = events.filter(**{f"{date_column}__gte": filters.date_from})
    if filters.date_to is not None:
        events = events.filter(**{f"{date_column}__lte": filters.date_to})
    for name in ("purpose", "action", "source", "actor_label"):
        if value := getattr(filters, name):
            events = events.filter(**{name: value})
    if filters.wording_id is not None:
        events = events.filter(wording_id=filters.wording_id)
    return _of_contacts(events, filters).order_by("id")


def _of_contacts(events: QuerySet[ConsentEvent], filters: ConsentFilters) -> QuerySet[ConsentEvent]:
    if filters.tag_id is not None:
        tagged = Contact.tags.through.objects.filter(contact_id=OuterRef("contact_id"), tag_id=filters.tag_id)
        events = events.filter(Exists(tagged))
    if filters.segment_id is not None:
        members = Contact.objects.filter(segment_q(Segment.objects.get(pk=filters.segment_id)))
        events = events.filter(contact_id__in=members.values("pk"))
    if filters.contact_ids is not None:
        events = events.filter(contact_id__in=filters.contact_ids)
    return events


def consent_at(*, filters: ConsentFilters, at: datetime, reading: str, opted_in_only: bool) -> QuerySet:
    """Each contact's deciding event for the purpose at ``at`` (the contact filters apply)."""
    deciding = point_in_time.deciding_events_at(purpose=filters.purpose, at=at, reading=reading)
    if opted_in_only:
        deciding = deciding.filter(state="opted_in")
    return _of_contacts(deciding, filters).order_by("contact_id")


def contact_ids_for(*, phone: str = "", contact_id: int | None = None) -> tuple[int, ...]:
    """The person's rows: the contact the matcher finds (any form of the number) and every row
    merged into it, whose own ledgers stay on them."""
    from contacts.matching import contact_matches

    found = contact_matches(phone=phone) if phone else list(Contact.objects.filter(pk=contact_id))
    ids = {contact.pk for contact in found}
    ids |= set(Contact.objects.filter(merged_into__in=ids).values_list("pk", flat=True))
    return tuple(sorted(ids))


def ledger_anchor() -> dict | None:
    """The latest tamper-evidence anchor (docs/consent-chain.md), which covers the ledger's events
    recorded up to its ``through``; None before the first anchor."""
    anchor = latest_anchor()
    return json_safe(dataclasses.asdict(anchor)) if anchor is not None else None


@dataclass(frozen=True)
class Export:
    rows_matched: int
    chunks: object  # an iterator of bytes
    anchor: dict | None


def export_report(
    *,
    report: str,
    rows: QuerySet,
    columns: list[Column],
    actor: Actor,
    described_filters: dict,
    output: str = CSV,
    bom: bool = False,
    mask: bool = True,
) -> Export:
    """Count, log and stream one export (the admin page and the command both call this)."""
    matched = rows.count()
    anchor = ledger_anchor()
    described_filters = json_safe(described_filters)
    metadata = {"report": REPORTS[report], "filters": described_filters, "masked": mask}
    if anchor:
        metadata["ledger_anchor"] = anchor
    chunks = export_audited(
        actor=actor,
        report=report,
        filters=described_filters,
        output=output,
        masked=mask,
        matched_rows=matched,
        extra={"ledger_anchor": anchor} if anchor else None,
        chunks=lambda progress: export_chunks(
            rows, columns, output=output, bom=bom, metadata=metadata, progress=progress
        ),
    )
    return Export(rows_matched=matched, chunks=chunks, anchor=anchor)
