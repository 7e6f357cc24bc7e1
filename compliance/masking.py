"""Masking personal data in compliance exports: phone numbers, and the evidence's IP and user agent.

Masking is done by the database, as part of each column's expression, so the fast COPY path and
the iterating path write the same masked text and the unmasked value never reaches Python.

Who sees what (docs/compliance.md, "Masking"): a user without ``compliance.view_personal_data``
always gets masked exports; a user with it may still ask for a masked file (one that leaves the
compliance team). ``should_mask`` decides, and the export's audit entry records the outcome.

- Phone numbers keep their first three characters (``+` and the start of the country code) and
  their last two: ``+4917612345678`` becomes ``+49…78`` — enough to tell rows apart in a
  conversation with the person, not enough to dial.
- Evidence keeps its shape: every key of ``PERSONAL_EVIDENCE_KEYS``, at any depth (inside nested
  objects and arrays: an API client's ``{"web_form": {"ip": …}}``, a webhook's references), gets
  the value ``"masked"`` whatever it held; every other key (the page, the import file and row, the
  message ids) stays, because it is what proves the consent. On PostgreSQL a PL/pgSQL function
  (``compliance_masked_evidence``, migration ``compliance 0003``) walks nested evidence; flat
  evidence, nearly all of it, takes ``jsonb_set`` over the top-level keys instead, which with the
  test that picks it is still about a third faster per row than the walk (docs/benchmarks.md).
  On SQLite the same walk is ``masked_evidence`` in Python, registered as a SQL function of the
  same name, so both databases mask in the query.
"""

from __future__ import annotations

import json

from django.db.models import F, Func, JSONField, TextField

from compliance.models import PERSONAL_DATA_PERMISSION

MASK = "masked"
PHONE_ELLIPSIS = "…"
# Evidence keys that hold personal data, at any depth (what the ledger's writers put there).
PERSONAL_EVIDENCE_KEYS = ("ip", "ip_address", "user_agent", "phone", "wa_id", "from", "profile_name")


def may_see_personal_data(user) -> bool:
    return bool(user and user.has_perm(PERSONAL_DATA_PERMISSION))


def should_mask(user, *, asked: bool) -> bool:
    """Masked when asked for, and always for a user without the personal-data permission."""
    return asked or not may_see_personal_data(user)


class MaskedPhone(Func):
    """``+49…78`` for ``+4917612345678``; empty and missing numbers stay as they are.

    Takes a column name (the column is named three times in the SQL, which binds no parameters).
    """

    output_field = TextField()
    template = (
        "CASE WHEN %(expressions)s IS NULL OR length(%(expressions)s) < 6 THEN %(expressions)s "
        f"ELSE substr(%(expressions)s, 1, 3) || '{PHONE_ELLIPSIS}' "
        "|| substr(%(expressions)s, length(%(expressions)s) - 1) END"
    )

    def __init__(self, column: str):
        super().__init__(F(column))


SQL_FUNCTION = "compliance_masked_evidence"
# Evidence with an object or an array among its top-level values: only it needs the walk.
_NESTED = """'strict $.* ? (@.type() == "object" || @.type() == "array")'"""


def masked_evidence(value):
    """``value`` with every personal key's value, at any depth, replaced by ``"masked"``."""
    if isinstance(value, dict):
        return {
            key: MASK if key in PERSONAL_EVIDENCE_KEYS else masked_evidence(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked_evidence(item) for item in value]
    return value


def _sqlite_masked_evidence(text):
    return None if text is None else json.dumps(masked_evidence(json.loads(text)), ensure_ascii=False)


class MaskedEvidence(Func):
    """The evidence with each personal key's value, at any depth, replaced by ``"masked"``."""

    output_field = JSONField()

    def __init__(self, column: str):
        super().__init__(F(column))

    def as_sqlite(self, compiler, connection, **extra):
        # Registered on the connection the query is about to run on (idempotent, and cheap next
        # to the query), so no start-up hook has to know about it.
        connection.ensure_connection()
        connection.connection.create_function(SQL_FUNCTION, 1, _sqlite_masked_evidence, deterministic=True)
        return super().as_sql(compiler, connection, function=SQL_FUNCTION, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        # Flat objects: jsonb_set with create_missing false changes only keys that exist. Anything
        # else (nested values, a top-level array or scalar, which jsonb_set refuses): the function.
        # The column is named four times; it binds no parameters.
        flat = "%(expressions)s"
        for key in PERSONAL_EVIDENCE_KEYS:
            flat = f"jsonb_set({flat}, '{{{key}}}', '\"{MASK}\"', false)"
        keys = ", ".join(f"'{key}'" for key in PERSONAL_EVIDENCE_KEYS)
        walk = f"{SQL_FUNCTION}(%(expressions)s, ARRAY[{keys}]::text[], '\"{MASK}\"'::jsonb)"
        template = (
            f"CASE WHEN jsonb_typeof(%(expressions)s) = 'object' AND NOT %(expressions)s @? {_NESTED} "
            f"THEN {flat} ELSE {walk} END"
        )
        return super().as_sql(compiler, connection, template=template, **extra)


def phone_column(column: str, *, mask: bool):
    """The column's value, or its masked form."""
    return MaskedPhone(column) if mask else F(column)


def evidence_column(column: str, *, mask: bool):
    return MaskedEvidence(column) if mask else F(column)
