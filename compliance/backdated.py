"""Messages sent after an effective opt-out: what a regulator asks first.

A STOP can reach the ledger late, dated when the person said it (a keyword read from a backlog of
webhooks, a paper form typed in, a merge that brings another row's opt-out across). The order
rule then counts it from when it happened, so a message that left between that moment and the
recording went to someone who had, as we now know, already opted out. The send path could not
have known (its proof is the event known at send time, ``OutboundMessage.authorising_event``);
this report finds every such message, with the events involved, in one SQL statement.

A row is one (message, opt-out) pair where:

- the message left us: its send time is when WhatsApp accepted the request (``accepted_at``),
  else WhatsApp's own "sent" time; replies (they need no opt-in) and staff test sends are not
  business-initiated consent questions and are left out;
- the opt-out is of the message's purpose, on its contact or on a row merged into it (a merge
  re-points the merged row's messages to the survivor, so the person's messages are there), and
  ``occurred_at < send time < recorded_at`` (back-dated, recorded after the message left);
- no opt-in of that purpose took over between the person's latest opt-out effective by the send
  (``o`` or a later one) and the send (the order rule: an opt-in effective at least one second
  after that opt-out, at or before the send; an imported opt-in never
  takes over once the person has opted out on WhatsApp, by this opt-out or any other effective by
  the send, merge copies counting as their original's source). Without that, the opt-out was no
  longer in force when the message left. A property test holds this to ``decide_among`` over
  random histories.

A message appears once per opt-out that covers it: a merged row's back-dated STOP and the copy the
merge carried to the survivor are two events, and both are listed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from contacts.models import (
    WHATSAPP_SOURCES,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentWording,
    Contact,
)
from messaging.models import OutboundMessage

COLUMNS = (
    "message_id",
    "message_public_id",
    "contact_id",
    "purpose",
    "campaign_id",
    "message_status",
    "sent_at",
    "authorising_event_id",
    "authorising_occurred_at",
    "authorising_recorded_at",
    "authorising_source",
    "authorising_wording",
    "opt_out_event_id",
    "opt_out_contact_id",
    "opt_out_source",
    "opt_out_carried_source",
    "opt_out_occurred_at",
    "opt_out_recorded_at",
    "opt_out_evidence",
)


@dataclass(frozen=True)
class BackdatedQuery:
    sql: str
    params: list


def _at_least_one_second_after(later: str, earlier: str) -> str:
    """``later >= earlier + 1 s`` in the database's own arithmetic (the order rule's tie window).

    SQLite keeps times as text whose fraction Django writes only when it is not zero, so both sides
    are brought to one format there before they are compared.
    """
    if connection.vendor == "postgresql":
        return f"{later} >= {earlier} + interval '1 second'"
    return f"strftime('%Y-%m-%d %H:%M:%f', {later}) >= strftime('%Y-%m-%d %H:%M:%f', {earlier}, '+1 second')"


def backdated_query(*, since: datetime | None = None, until: datetime | None = None) -> BackdatedQuery:
    """The report's one statement, optionally limited to messages sent in ``[since, until)``.

    Returned as SQL and parameters so the exports can stream it through COPY on PostgreSQL.
    """
    message = OutboundMessage._meta.db_table
    event = ConsentEvent._meta.db_table
    contact = Contact._meta.db_table
    wording = ConsentWording._meta.db_table
    sent = "COALESCE(m.accepted_at, m.sent_at)"

    # The person's latest opt-out of the purpose effective by the send, on their row or a row
    # merged into it: the order rule weighs opt-ins against that one, not only against ``o`` (an
    # earlier back-dated WhatsApp STOP can disqualify an import that had taken over from a later
    # opt-out, so that later opt-out decides again).
    latest_opt_out = f"""(
        SELECT MAX(x.effective_at) FROM {contact} x_row JOIN {event} x ON x.contact_id = x_row.id
        WHERE (x_row.id = m.contact_id OR x_row.merged_into_id = m.contact_id)
          AND x.action = '{ConsentAction.OPT_OUT}' AND x.purpose = m.purpose AND x.effective_at <= {sent}
    )"""

    def taken_over(rows: str) -> str:
        """An opt-in on the rows ``rows`` selects (the message's contact, or the rows merged into it:
        one person's ledger, docs/contacts.md) that took over from the person's latest opt-out
        before the send. Two such tests rather than one with an OR, so each reads the ledger's
        (contact, purpose, time) index."""
        return f"""EXISTS (
            SELECT 1 FROM {contact} person_row JOIN {event} i ON i.contact_id = person_row.id
            WHERE {rows} AND i.action = '{ConsentAction.OPT_IN}' AND i.purpose = m.purpose
              AND {_at_least_one_second_after("i.effective_at", latest_opt_out)}
              AND i.effective_at <= {sent}
              AND NOT ({origin("i")} = '{ConsentSource.IMPORT}' AND (
                  {origin("o")} IN ({whatsapp}) OR EXISTS (
                      SELECT 1 FROM {event} w
                      WHERE w.contact_id = i.contact_id AND w.purpose = m.purpose
                        AND w.action = '{ConsentAction.OPT_OUT}' AND {origin("w")} IN ({whatsapp})
                        AND w.effective_at <= {sent})))
        )"""

    def origin(alias: str) -> str:
        """``contacts.selectors.origin_of`` in SQL: a merge's copy counts as its original's source
        (``carried_source``, or for a copy made before that column, the evidence's
        ``original_source``)."""
        legacy = (
            f"{alias}.evidence ->> 'original_source'"
            if connection.vendor == "postgresql"
            else f"json_extract({alias}.evidence, '$.original_source')"
        )
        merge = ConsentSource.MERGE
        return (
            f"CASE WHEN {alias}.source = '{merge}' AND {alias}.carried_source <> '' "
            f"THEN {alias}.carried_source "
            f"WHEN {alias}.source = '{merge}' THEN COALESCE({legacy}, {alias}.source) "
            f"ELSE {alias}.source END"
        )

    whatsapp = ", ".join(f"'{source}'" for source in WHATSAPP_SOURCES)
    params: list = []
    window = ""
    if since is not None:
        window += f" AND {sent} >= %s"
        params.append(connection.ops.adapt_datetimefield_value(since))
    if until is not None:
        window += f" AND {sent} < %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    # Only back-dated opt-outs can qualify (occurred < sent < recorded), and they are few: each is
    # paired with its person (the survivor a merged row points to, else its own contact) and then
    # joined to that person's messages on equality, so the planner can hash or index it.
    sql = f"""
        WITH late AS (
            SELECT o.*, COALESCE(oc.merged_into_id, o.contact_id) AS person_id
            FROM {event} o JOIN {contact} oc ON oc.id = o.contact_id
            WHERE o.action = '{ConsentAction.OPT_OUT}' AND o.occurred_at < o.recorded_at
        )
        SELECT m.id, m.public_id, m.contact_id, m.purpose, m.campaign_id, m.status, {sent},
               a.id, a.occurred_at, a.recorded_at, a.source, COALESCE(aw.text, a.wording_text),
               o.id, o.contact_id, o.source, o.carried_source, o.occurred_at, o.recorded_at, o.evidence
        FROM late o
        JOIN {message} m
          ON m.contact_id = o.person_id AND m.purpose = o.purpose
         AND o.occurred_at < {sent} AND {sent} < o.recorded_at
        LEFT JOIN {event} a ON a.id = m.authorising_event_id
        LEFT JOIN {wording} aw ON aw.id = a.wording_id
        WHERE m.purpose <> '' AND NOT m.is_reply AND NOT m.is_test{window}
          AND NOT {taken_over("person_row.id = m.contact_id")}
          AND NOT {taken_over("person_row.merged_into_id = m.contact_id")}
        ORDER BY {sent}, m.id, o.id
    """
    return BackdatedQuery(sql=sql, params=params)


def backdated_count(*, since: datetime | None = None, until: datetime | None = None) -> int:
    """How many rows the report has, counted by the database (the page shows only the first ones)."""
    query = backdated_query(since=since, until=until)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({query.sql}) backdated", query.params)
        return cursor.fetchone()[0]


def backdated_rows(
    *, since: datetime | None = None, until: datetime | None = None, limit: int | None = None
) -> Iterator[dict]:
    """The report's rows as dicts keyed by ``COLUMNS`` (the page and the tests read them); with
    ``limit``, only the first ones are read."""
    query = backdated_query(since=since, until=until)
    # An integer written into the statement, not a parameter: on SQLite the statement's own
    # strftime('%Y…') would break Django's rendering of a parametrised query for the debug log.
    sql = query.sql if limit is None else f"{query.sql} LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, query.params)
        for row in cursor.fetchall():
            values = dict(zip(COLUMNS, row, strict=True))
            # Django leaves JSON undecoded on a raw cursor (both databases); SQLite gives text times too.
            if isinstance(values["opt_out_evidence"], str):
                values["opt_out_evidence"] = json.loads(values["opt_out_evidence"])
            if connection.vendor != "postgresql":
                for column in _TIMES:
                    values[column] = _parse_time(values[column])
                values["message_public_id"] = uuid.UUID(str(values["message_public_id"]))
            yield values


_TIMES = (
    "sent_at",
    "authorising_occurred_at",
    "authorising_recorded_at",
    "opt_out_occurred_at",
    "opt_out_recorded_at",
)


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    value = parse_datetime(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=UTC)
