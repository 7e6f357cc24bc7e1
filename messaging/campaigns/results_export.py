"""A campaign's recipient list as CSV: streamed, one query, logged, safe to open in a spreadsheet.

The cells are made formula-safe and written with the contact export's helpers
(``contacts.exports``), so both downloads behave alike; like it, the export is logged before the
first row is read, with the filters and the row count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from contacts.exports import CHUNK_ROWS, csv_lines, safe_cell
from contacts.services import log_activity
from core.actors import Actor
from messaging.campaign_models import Campaign
from messaging.campaigns.results import campaign_recipient_messages, failure_meaning, skip_label
from messaging.models import MessageStatus

COLUMNS = (
    "message_id",
    "contact_id",
    "phone",
    "wa_id",
    "first_name",
    "last_name",
    "status",
    "needs_review",
    "error_code",
    "reason",
    "error_text",
    "replied",
    "accepted_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "finished_at",
)
_FIELDS = (
    "public_id",
    "contact_id",
    "contact__phone",
    "contact__wa_id",
    "contact__first_name",
    "contact__last_name",
    "status",
    "needs_review",
    "error_code",
    "error_class",
    "error_text",
    "replied",
    "accepted_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "finished_at",
)


@dataclass(frozen=True)
class RecipientExport:
    rows: int
    lines: Iterator[str]


def campaign_recipients_export(
    *, campaign: Campaign, actor: Actor, state: str = "", code: int | None = None
) -> RecipientExport:
    """Log the export (``campaign.recipients_exported``: the filters and the row count) and return it.

    Logged before the first row is read, as the contact export is: the entry exists whatever
    happens to the download afterwards.
    """
    recipients = campaign_recipient_messages(campaign, state=state, code=code)
    count = recipients.order_by().values("pk").count()
    log_activity(
        actor=actor,
        action="campaign.recipients_exported",
        obj=campaign,
        details={"filters": {"state": state, "code": code}, "rows": count},
    )
    rows = recipients.values_list(*_FIELDS).iterator(chunk_size=CHUNK_ROWS)
    return RecipientExport(rows=count, lines=csv_lines((_cells(row) for row in rows), header=COLUMNS))


def _cells(row: tuple) -> list[str]:
    values = dict(zip(COLUMNS, row, strict=True))
    if values["status"] == MessageStatus.SKIPPED:
        values["reason"] = skip_label(values["reason"])
    elif values["status"] == MessageStatus.FAILED:
        values["reason"] = failure_meaning(values["error_code"], values["reason"])
    else:
        values["reason"] = ""
    values["needs_review"] = "yes" if values["needs_review"] else ""
    values["replied"] = "yes" if values["replied"] else ""
    return [_text(value) for value in values.values()]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_cell(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)  # ids, codes, the message's uuid
