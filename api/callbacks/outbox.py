"""The outbox: callback events written in the transaction of the change they report.

``messaging`` and ``contacts`` announce changes with signals (they may not import ``api``); the
receivers here turn them into ``CallbackEvent`` rows with one ``INSERT … SELECT`` each — the
payload built by the database from the rows as the change left them, so a sub-batch of a thousand
acceptances costs one statement, and a rolled-back change leaves no event. Only keys that still
hold a callback URL and are not revoked get events:

- ``message.status``: a message the key sent moved to another state;
- ``message.received``: a contact the key knows (``KeyContact``) wrote to us;
- ``consent.opt_out`` / ``consent.opt_in``: a consent event of a contact the key knows, from any
  source (the key's own included, flagged ``recorded_by_this_key``).

When a statement wrote an event, the deliverer is woken after the commit (docs/api-callbacks.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, transaction
from django.utils import timezone

from api.callbacks.delivery import wake_deliverer
from api.callbacks.signing import iso_instant
from api.models import ApiKey, CallbackEvent, CallbackState, KeyContact
from contacts.models import ConsentAction, ConsentEvent
from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage

MESSAGE_STATUS = "message.status"
MESSAGE_RECEIVED = "message.received"
CONSENT_OPT_OUT = "consent.opt_out"
CONSENT_OPT_IN = "consent.opt_in"

# The time a message's state was reached: its own column where it has one.
_STATE_TIME = {
    MessageStatus.ACCEPTED: "accepted_at",
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
    MessageStatus.SKIPPED: "finished_at",
    MessageStatus.CANCELLED: "finished_at",
}


# --- The receivers --------------------------------------------------------------------------


def on_message_states_changed(sender, *, message_ids: Sequence[int], state: str, **kwargs) -> None:
    """``message.status`` for each message an API key with a callback sent that is now in ``state``."""
    sql = SQL()
    time_column = _STATE_TIME.get(state)
    moment = f"COALESCE(m.{time_column}, m.updated_at)" if time_column else "m.updated_at"
    error = sql.object(("code", "m.error_code"), ("class", "m.error_class"), ("text", "m.error_text"))
    payload = sql.object(
        ("message_id", sql.uuid_text("m.public_id")),
        ("contact_id", "m.contact_id"),
        ("state", "m.status"),
        ("timestamp", sql.instant(moment)),
        ("error", sql.nested(f"CASE WHEN m.error_class <> '' THEN {error} END")),
    )
    _insert(
        sql,
        type_sql="%s",
        type_params=[MESSAGE_STATUS],
        payload=payload,
        source=(
            f"FROM {OutboundMessage._meta.db_table} m JOIN {ApiKey._meta.db_table} k "
            "ON CAST(k.id AS TEXT) = m.actor_ref "
            f"WHERE m.id {sql.among()} AND m.actor_kind = %s AND m.status = %s"
        ),
        source_params=[list(message_ids), Actor.API_KEY, state],
    )


def on_inbound_message_received(sender, *, inbound, **kwargs) -> None:
    """``message.received`` for every key with a callback that knows the person who wrote.

    The message it answers is named only to the key that sent that message."""
    sql = SQL()
    data = {
        "contact_id": inbound.contact_id,
        "message": {
            "wamid": inbound.wamid,
            "type": inbound.type,
            "text": inbound.text,
            "sent_at": iso_instant(inbound.sent_at),
        },
        "in_reply_to": None,
    }
    replied = inbound.in_reply_to
    sender_ref = replied.actor_ref if replied is not None and replied.actor_kind == Actor.API_KEY else ""
    answered = {**data, "in_reply_to": str(replied.public_id)} if sender_ref else data
    _insert(
        sql,
        type_sql="%s",
        type_params=[MESSAGE_RECEIVED],
        payload=f"CASE WHEN CAST(k.id AS TEXT) = %s THEN {sql.json_param()} ELSE {sql.json_param()} END",
        payload_params=[sender_ref, json.dumps(answered), json.dumps(data)],
        source=(
            f"FROM {KeyContact._meta.db_table} kc JOIN {ApiKey._meta.db_table} k ON k.id = kc.key_id "
            "WHERE kc.contact_id = %s"
        ),
        source_params=[inbound.contact_id],
    )


def on_consent_events_recorded(sender, *, event_ids: Sequence[int], **kwargs) -> None:
    """``consent.opt_out`` / ``consent.opt_in`` for every key with a callback that knows the contact."""
    sql = SQL()
    payload = sql.object(
        ("consent_event_id", "e.id"),
        ("contact_id", "e.contact_id"),
        ("purpose", "e.purpose"),
        ("source", "e.source"),
        ("occurred_at", sql.instant("e.occurred_at")),
        ("recorded_at", sql.instant("e.recorded_at")),
        (
            "recorded_by_this_key",
            sql.boolean("e.actor_kind = %s AND e.actor_ref = CAST(k.id AS TEXT)"),
        ),
    )
    _insert(
        sql,
        type_sql="CASE WHEN e.action = %s THEN %s ELSE %s END",
        type_params=[ConsentAction.OPT_OUT, CONSENT_OPT_OUT, CONSENT_OPT_IN],
        payload=payload,
        payload_params=[Actor.API_KEY],
        source=(
            f"FROM {ConsentEvent._meta.db_table} e "
            f"JOIN {KeyContact._meta.db_table} kc ON kc.contact_id = e.contact_id "
            f"JOIN {ApiKey._meta.db_table} k ON k.id = kc.key_id WHERE e.id {sql.among()}"
        ),
        source_params=[list(event_ids)],
    )


def _insert(
    sql: SQL,
    *,
    type_sql: str,
    type_params: list,
    payload: str,
    source: str,
    source_params: list,
    payload_params: Sequence = (),
) -> int:
    """``INSERT INTO api_callbackevent … SELECT``; wakes the deliverer after the commit if it wrote."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    statement = (
        f"INSERT INTO {CallbackEvent._meta.db_table} "
        "(event_id, key_id, type, payload, created_at, state, attempts, next_attempt_at, last_error) "
        f"SELECT {sql.new_uuid()}, k.id, {type_sql}, {payload}, %s, %s, 0, %s, '' "
        + source
        + " AND k.callback_url <> '' AND k.revoked_at IS NULL"
    )
    params = [*type_params, *payload_params, now, CallbackState.PENDING, now, *source_params]
    with connection.cursor() as cursor:
        cursor.execute(statement, sql.params(params))
        written = cursor.rowcount
    if written:
        transaction.on_commit(wake_deliverer)
    return written


# --- The two dialects -----------------------------------------------------------------------


class SQL:
    """The few expressions PostgreSQL and SQLite spell differently, producing the same JSON:
    times as ISO 8601 in UTC with microseconds (``2026-12-01T08:49:27.123456Z``), UUIDs with
    dashes, booleans as ``true``/``false``."""

    def __init__(self):
        self.postgres = connection.vendor == "postgresql"

    def object(self, *pairs: tuple[str, str]) -> str:
        function = "jsonb_build_object" if self.postgres else "json_object"
        arguments = ", ".join(f"'{name}', {value}" for name, value in pairs)
        return f"{function}({arguments})"

    def nested(self, expression: str) -> str:
        """An object inside an object (SQLite keeps it JSON only when ``json()`` says so)."""
        return expression if self.postgres else f"json({expression})"

    def json_param(self) -> str:
        return "CAST(%s AS jsonb)" if self.postgres else "json(%s)"

    def boolean(self, condition: str) -> str:
        if self.postgres:
            return f"({condition})"
        return f"json(CASE WHEN {condition} THEN 'true' ELSE 'false' END)"

    def instant(self, column: str) -> str:
        if self.postgres:
            return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        # Django stores UTC text, without the fraction when it is zero.
        return (
            f"(replace({column}, ' ', 'T') || CASE WHEN length({column}) = 19 THEN '.000000Z' ELSE 'Z' END)"
        )

    def uuid_text(self, column: str) -> str:
        if self.postgres:
            return f"CAST({column} AS TEXT)"
        # Django stores a UUID as 32 hex digits on SQLite.
        return (
            f"(substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || "
            f"substr({column}, 13, 4) || '-' || substr({column}, 17, 4) || '-' || substr({column}, 21, 12))"
        )

    def new_uuid(self) -> str:
        """A random (version 4) UUID per row, as the column stores it."""
        if self.postgres:
            return "gen_random_uuid()"
        return (
            "(lower(hex(randomblob(6))) || '4' || substr(lower(hex(randomblob(2))), 2) || "
            "substr('89ab', 1 + abs(random()) %% 4, 1) || substr(lower(hex(randomblob(2))), 2) || "
            "lower(hex(randomblob(6))))"
        )

    def among(self) -> str:
        """``IN`` a list passed as one parameter (``params`` expands it on SQLite)."""
        return "= ANY(%s)" if self.postgres else "IN (SELECT value FROM json_each(%s))"

    def params(self, params: list) -> list:
        if self.postgres:
            return params
        return [json.dumps(p) if isinstance(p, list) else p for p in params]


def on_contact_merged(sender, *, survivor, merged, **kwargs) -> dict[str, int]:
    """The person's replies and opt-outs now arrive on the survivor: every key that knew the merged
    row knows the survivor too (``contacts.signals.contact_merged``, inside the merge)."""
    keys = KeyContact.objects.filter(contact_id=merged.pk).values_list("key_id", flat=True)
    rows = [KeyContact(key_id=key_id, contact_id=survivor.pk) for key_id in keys]
    KeyContact.objects.bulk_create(rows, ignore_conflicts=True)
    return {"API keys that know the person": len(rows)} if rows else {}
