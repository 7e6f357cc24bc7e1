"""Consent for many contacts at once: the set-based form of ``record_consent``'s bookkeeping.

An import, a bulk opt-out and other set-based writers insert their ledger rows with one
statement; this module then does what ``record_consent`` does per contact, for the whole set in
one statement each: take the contacts' row locks, and point current consent at the deciding event
under the order rule (``contacts.selectors.deciding_event``, docs/consent.md). A test holds the
SQL here to ``deciding_event`` over random ledgers, so the two cannot drift apart.
"""

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import WHATSAPP_SOURCES, ConsentAction, ConsentSource, ConsentStatus, Purpose
from contacts.selectors import OPT_OUT_PRECEDENCE
from core.errors import ApplicationError

# The opt-out precedence as the database writes an instant one precedence earlier. On SQLite,
# Django stores instants as "YYYY-MM-DD HH:MM:SS[.ffffff]" text: shift the whole seconds and keep
# the fraction, so the comparison stays exact to the microsecond (SQLite's date functions keep
# milliseconds and would round .999999 up to the next second).
_SECONDS = int(OPT_OUT_PRECEDENCE.total_seconds())
_EARLIER = {
    "postgresql": f"latest.t - interval '{_SECONDS} second'",
    "sqlite": (
        f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', substr(latest.t, 1, 19), '-{_SECONDS} seconds')"
        " || substr(latest.t, 20)"
    ),
}
# A merge's copy made before the carried_source column names its original's source in the evidence.
_LEGACY_ORIGIN = {
    "postgresql": "e.evidence ->> 'original_source'",
    "sqlite": "json_extract(e.evidence, '$.original_source')",
}


def lock_contacts(contacts: QuerySet) -> None:
    """Take the row locks of these contacts (a queryset of contact ids) and of the contacts they
    were merged into, in id order.

    ``record_consent`` locks the contact it writes for; a set-based writer locks its whole set the
    same way first, so a STOP processed at the same moment waits for it (or it for the STOP) and
    the order rule sees both. In id order, so two set-based writers cannot deadlock. On SQLite a
    transaction takes the database's write lock when it begins (IMMEDIATE), which is stronger.

    Twice: a merge that committed while the first statement waited has re-pointed a row to a
    survivor the first statement did not see; the second, with a fresh snapshot, locks that
    survivor too. Once a row is locked no merge can move it again (merging re-points rows merged
    into the merged one, which needs their locks), so after the second pass every row the writer
    resolves to — ``COALESCE(merged_into_id, id)`` — is locked.

    The two sets are one ``UNION``: ``id IN (…) OR id IN (…)`` cannot be planned as a join, and
    read every contact each time (an import's chunks got slower as its contacts grew).
    """
    if connection.vendor != "postgresql":
        return
    ids_sql, params = contacts.query.sql_with_params()
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(
                "SELECT count(*) FROM (SELECT c.id FROM contacts_contact c WHERE c.id IN ("
                f"  SELECT u.id FROM (({ids_sql}) UNION ("
                f"    SELECT m.merged_into_id FROM contacts_contact m WHERE m.id IN ({ids_sql})"
                "  )) AS u(id)"
                ") ORDER BY c.id FOR UPDATE OF c) AS locked",
                [*params, *params],
            )


def current_consent_refresh_bulk(*, contacts: QuerySet, purpose: str, each_has_event: bool = False) -> int:
    """Point current consent for ``purpose`` at the deciding event, for every contact in the set.

    ``contacts`` is a queryset of contact ids (``.values("pk")``, ``.values("contact_id")``). One
    upsert applies the order rule to all of them: the import rule first (once the person opted
    out on WhatsApp, import opt-ins do not count), then the latest effective time T, an opt-out
    within the precedence before T winning, else the latest event (ties: the later recorded, then
    the higher id). Contacts without any event for the purpose lose their current-consent row;
    a writer that has just recorded an event for the purpose on every contact of the set says so
    (``each_has_event``) and that second statement, which could delete nothing, is not run. Call
    it inside the transaction that inserted the events, after ``lock_contacts``. Returns the
    number of current-consent rows written.
    """
    if purpose not in Purpose.values:
        raise ApplicationError(f"“{purpose}” is not a purpose.", code="invalid_purpose", field="purpose")
    vendor = connection.vendor
    if vendor not in _EARLIER:  # pragma: no cover - the project runs on these two
        raise ApplicationError(f"Set-based consent is not written for {vendor}.", code="unsupported_database")
    ids_sql, id_params = contacts.query.sql_with_params()
    whatsapp = ", ".join(f"'{source}'" for source in WHATSAPP_SOURCES)
    known = ", ".join(f"'{source}'" for source in ConsentSource.values)
    legacy = _LEGACY_ORIGIN[vendor]
    # INSERT first, its SELECT with the CTEs: the SQLite driver reports no row count for a
    # statement that begins with WITH. The latest effective time per contact is a window over the
    # events, not a grouped CTE joined back onto them: PostgreSQL estimates a CTE at one row and
    # nests such a join, quadratic in the set (3.5 s instead of 0.1 s for 5,000 contacts).
    upsert = f"""
        INSERT INTO contacts_currentconsent (contact_id, purpose, status, event_id, since, updated_at)
        WITH ids(id) AS ({ids_sql}),
        ev AS (
            SELECT e.id, e.contact_id, e.action, e.effective_at, e.recorded_at,
                CASE WHEN e.source = '{ConsentSource.MERGE}' THEN COALESCE(
                    NULLIF(e.carried_source, ''),
                    CASE WHEN {legacy} IN ({known}) THEN {legacy} END,
                    e.source
                ) ELSE e.source END AS origin
            FROM contacts_consentevent e
            WHERE e.purpose = %s AND e.contact_id IN (SELECT id FROM ids)
        ),
        told_us_on_whatsapp AS (
            SELECT DISTINCT contact_id FROM ev
            WHERE action = '{ConsentAction.OPT_OUT}' AND origin IN ({whatsapp})
        ),
        counted AS (
            SELECT * FROM ev
            WHERE NOT (
                ev.action = '{ConsentAction.OPT_IN}' AND ev.origin = '{ConsentSource.IMPORT}'
                AND ev.contact_id IN (SELECT contact_id FROM told_us_on_whatsapp)
            )
        ),
        latest AS (
            SELECT counted.*, MAX(counted.effective_at) OVER (PARTITION BY counted.contact_id) AS t
            FROM counted
        ),
        ranked AS (
            SELECT latest.id, latest.contact_id, latest.action, latest.effective_at,
                ROW_NUMBER() OVER (
                    PARTITION BY latest.contact_id
                    ORDER BY
                        CASE WHEN latest.action = '{ConsentAction.OPT_OUT}'
                            AND latest.effective_at > {_EARLIER[vendor]} THEN 0 ELSE 1 END,
                        latest.effective_at DESC, latest.recorded_at DESC, latest.id DESC
                ) AS rank
            FROM latest
        )
        SELECT contact_id, %s,
            CASE WHEN action = '{ConsentAction.OPT_IN}' THEN '{ConsentStatus.OPTED_IN}'
                ELSE '{ConsentStatus.OPTED_OUT}' END,
            id, effective_at, %s
        FROM ranked WHERE rank = 1
        ON CONFLICT (contact_id, purpose) DO UPDATE SET
            status = excluded.status, event_id = excluded.event_id,
            since = excluded.since, updated_at = excluded.updated_at
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(upsert, [*id_params, purpose, purpose, now])
        written = cursor.rowcount
        if each_has_event:
            return written
        cursor.execute(
            f"""
            DELETE FROM contacts_currentconsent
            WHERE purpose = %s AND contact_id IN ({ids_sql})
              AND NOT EXISTS (
                SELECT 1 FROM contacts_consentevent e
                WHERE e.contact_id = contacts_currentconsent.contact_id AND e.purpose = %s
              )
            """,
            [purpose, *id_params, purpose],
        )
    return written
