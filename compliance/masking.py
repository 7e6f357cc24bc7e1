"""Masking personal data in compliance exports: phone numbers, and the evidence's IP and user agent.

Masking is done by the database, as part of each column's expression, so the fast COPY path and
the iterating path write the same masked text and the unmasked value never reaches Python.

Who sees what (docs/compliance.md, "Masking"): a user without ``compliance.view_personal_data``
always gets masked exports; a user with it may still ask for a masked file (one that leaves the
compliance team). ``should_mask`` decides, and the export's audit entry records the outcome.

- Phone numbers keep their first three characters (``+` and the start of the country code) and
  their last two: ``+4917612345678`` becomes ``+49…78`` — enough to tell rows apart in a
  conversation with the person, not enough to dial.
- Evidence keeps its shape: each top-level key of ``PERSONAL_EVIDENCE_KEYS`` that is present gets
  the value ``"masked"``; every other key (the page, the import file and row, the message ids)
  stays, because it is what proves the consent. Personal data nested deeper inside free-form
  evidence an API client sent is not found; docs/compliance.md says so.
"""

from __future__ import annotations

from django.db.models import F, Func, JSONField, TextField

from compliance.models import PERSONAL_DATA_PERMISSION

MASK = "masked"
PHONE_ELLIPSIS = "…"
# Top-level evidence keys that hold personal data (what the ledger's writers put there).
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


class MaskedEvidence(Func):
    """The evidence with each personal key's value replaced by ``"masked"`` (keys absent stay absent)."""

    output_field = JSONField()

    def __init__(self, column: str):
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra):
        # SQLite: json_replace changes only paths that exist.
        paths = ", ".join(f"'$.{key}', '{MASK}'" for key in PERSONAL_EVIDENCE_KEYS)
        return super().as_sql(
            compiler, connection, template=f"json_replace(%(expressions)s, {paths})", **extra
        )

    def as_postgresql(self, compiler, connection, **extra):
        # jsonb_set with create_missing false changes only keys that exist.
        template = "%(expressions)s"
        for key in PERSONAL_EVIDENCE_KEYS:
            template = f"jsonb_set({template}, '{{{key}}}', '\"{MASK}\"', false)"
        return super().as_sql(compiler, connection, template=template, **extra)


def phone_column(column: str, *, mask: bool):
    """The column's value, or its masked form."""
    return MaskedPhone(column) if mask else F(column)


def evidence_column(column: str, *, mask: bool):
    return MaskedEvidence(column) if mask else F(column)
