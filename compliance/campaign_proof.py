"""Proof of consent per message: for a campaign, or for the non-campaign sends of a period.

Each row is one message: who it went to, when, its state, and the consent event that authorised
it — the FK the send path stored on the message when it claimed it (``authorising_event``), so the
proof is what was known at send time, not what the ledger says today (docs/consent.md). With the
event come its wording (the version's text, or the one-off text) and its evidence. The row also
names the opt-out the message caused, by the campaign results' own rule
(``messaging.campaigns.results.opt_outs_caused``: its opt-out button, or an opt-out of its purpose
within the attribution window after it was sent), so "the opt-outs the campaign caused" are the
rows whose ``caused_opt_out`` is set (its event id, when it happened, its source).

A message that never went (skipped, cancelled) has no authorising event and says why
(``skip_reason``); a reply needs no opt-in and says so (``is_reply``). Test sends to staff numbers
are never part of a campaign's proof. The rows are a queryset and ``Column``s, streamed as CSV or
JSON Lines by ``compliance.streaming`` (COPY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    F,
    Func,
    JSONField,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, JSONObject

from compliance.audit import export_audited
from compliance.consent_export import ledger_anchor
from compliance.masking import evidence_column, phone_column
from compliance.streaming import CSV, INSTANT, JSON, NUMBER, TEXT, Column, export_chunks
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.results import opt_outs_caused
from messaging.models import MessageStatus, OutboundMessage

PROOF_REPORT = "consent_proof"
# The longest period one non-campaign proof may cover: a year of sends is a regulator's usual ask,
# and a bound keeps a mistyped range from scanning the whole message log.
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class ProofExport:
    rows_matched: int
    chunks: Iterator[bytes]
    anchor: dict | None


@dataclass(frozen=True)
class ProofScope:
    """What a proof covers, as the export log records it."""

    campaign: Campaign | None = None
    since: datetime | None = None
    until: datetime | None = None
    purpose: str = ""

    @property
    def filters(self) -> dict:
        if self.campaign is not None:
            return {"campaign_id": self.campaign.pk, "campaign": self.campaign.name}
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "purpose": self.purpose,
        }


def period_scope(*, since: datetime | None, until: datetime | None, purpose: str = "") -> ProofScope:
    """A period of non-campaign sends, ``[since, until)`` by when each message was sent (``SEND_TIME``).

    Both ends are required and must be in order and at most ``MAX_PERIOD_DAYS`` apart; the purpose
    is optional (a ``Purpose`` value).
    """
    from contacts.models import Purpose

    if since is None or until is None:
        raise ApplicationError("Give both the start and the end of the period.", code="proof_period_missing")
    if until <= since:
        raise ApplicationError(
            f"The period ends ({until:%Y-%m-%d %H:%M}) before it starts ({since:%Y-%m-%d %H:%M}).",
            code="proof_period_reversed",
        )
    if (until - since).days > MAX_PERIOD_DAYS:
        raise ApplicationError(
            f"A period may cover at most {MAX_PERIOD_DAYS} days; split a longer one.",
            code="proof_period_too_long",
        )
    if purpose and purpose not in Purpose.values:
        raise ApplicationError(
            f"“{purpose}” is not a purpose; use one of {', '.join(Purpose.values)}.", code="proof_purpose"
        )
    return ProofScope(since=since, until=until, purpose=purpose)


# When a message was sent, as the back-dated opt-out report reads it (docs/compliance.md): when
# WhatsApp accepted the request, else WhatsApp's own "sent" time; one that never left (skipped,
# cancelled, failed before acceptance) by when it was claimed to send, else when it was queued.
SEND_TIME = Coalesce("accepted_at", "sent_at", "claimed_at", "created_at")


def proof_messages(scope: ProofScope) -> QuerySet[OutboundMessage]:
    """The scope's messages in the order they were written (test sends never count)."""
    messages = OutboundMessage.objects.filter(is_test=False)
    if scope.campaign is not None:
        messages = messages.filter(campaign=scope.campaign)
    else:
        messages = messages.annotate(send_time=SEND_TIME).filter(
            campaign__isnull=True, send_time__gte=scope.since, send_time__lt=scope.until
        )
        if scope.purpose:
            messages = messages.filter(purpose=scope.purpose)
    caused = opt_outs_caused(OuterRef("purpose")).order_by("occurred_at", "pk")
    return messages.annotate(
        # One look-up for the three facts: three subqueries cost twice the rest of the export.
        caused=Subquery(
            caused.values(doc=JSONObject(event_id="pk", occurred_at="occurred_at", source="source"))[:1],
            output_field=JSONField(),
        ),
    ).order_by("pk")


class _UUIDText(Func):
    """A UUID in its usual dashed form: PostgreSQL's own text of it; SQLite keeps 32 hex digits."""

    output_field = TextField()

    def __init__(self, column: str):
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra):
        parts = " || '-' || ".join(
            f"substr(%(expressions)s, {start}, {length})"
            for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        )
        return super().as_sql(compiler, connection, template=f"lower({parts})", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="(%(expressions)s)::text", **extra)


def proof_columns(*, mask: bool) -> list[Column]:
    """The proof's columns; with ``mask`` the phone number and the evidence's personal keys are
    masked in the SQL (``compliance.masking``)."""
    event = "authorising_event__"
    phone = phone_column("contact__phone", mask=mask)
    evidence = evidence_column(f"{event}evidence", mask=mask)
    yes = Value("yes")
    return [
        Column("message_id", _UUIDText("public_id"), TEXT),
        Column("contact_id", "contact_id", NUMBER),
        Column("phone", phone, TEXT),
        Column("campaign_id", "campaign_id", NUMBER),
        Column("purpose", "purpose", TEXT),
        Column(
            "is_reply", Case(When(is_reply=True, then=yes), default=Value(""), output_field=TextField()), TEXT
        ),
        Column("status", "status", TEXT),
        Column(
            "skip_reason",
            Case(
                When(status__in=(MessageStatus.SKIPPED, MessageStatus.CANCELLED), then=F("error_class")),
                default=Value(""),
                output_field=TextField(),
            ),
            TEXT,
        ),
        Column("created_at", "created_at", INSTANT),
        Column("claimed_at", "claimed_at", INSTANT),
        Column("accepted_at", "accepted_at", INSTANT),
        Column("sent_at", "sent_at", INSTANT),
        Column("consent_event_id", "authorising_event_id", NUMBER),
        Column("consent_purpose", f"{event}purpose", TEXT),
        Column("consent_action", f"{event}action", TEXT),
        Column("consent_source", f"{event}source", TEXT),
        Column("consent_occurred_at", f"{event}occurred_at", INSTANT),
        Column("consent_recorded_at", f"{event}recorded_at", INSTANT),
        Column("consent_recorded_by", f"{event}actor_label", TEXT),
        Column("wording_version", f"{event}wording__version", NUMBER),
        Column("wording_text", Coalesce(f"{event}wording__text", f"{event}wording_text"), TEXT),
        Column("consent_evidence", evidence, JSON),
        Column("caused_opt_out", "caused", JSON),
    ]


def proof_export(
    *, scope: ProofScope, actor: Actor, output: str = CSV, mask: bool = True, bom: bool = False
) -> ProofExport:
    """Count, log and stream one proof (the admin page and ``manage.py consent_proof`` call this).

    Like the consent audit export (``compliance.consent_export.export_report``): the start is
    logged before the first byte with the rows matched, the end when the stream ends, and both
    name the tamper-evidence anchor that covers the ledger the proof cites (the JSON Lines file
    carries it in its metadata line too).
    """
    messages = proof_messages(scope)
    matched = messages.order_by().values("pk").count()
    anchor = ledger_anchor()
    metadata = {"report": "Proof of consent", "filters": scope.filters, "masked": mask}
    if anchor:
        metadata["ledger_anchor"] = anchor
    columns = proof_columns(mask=mask)
    chunks = export_audited(
        actor=actor,
        report=PROOF_REPORT,
        filters=scope.filters,
        output=output,
        masked=mask,
        matched_rows=matched,
        extra={"ledger_anchor": anchor} if anchor else None,
        chunks=lambda progress: export_chunks(
            messages, columns, output=output, bom=bom, metadata=metadata, progress=progress
        ),
    )
    return ProofExport(rows_matched=matched, chunks=chunks, anchor=anchor)
