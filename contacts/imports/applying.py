"""Applying a confirmed import: its staged rows written to contacts and the ledger, set-based.

Confirming (``import_confirm``) only flips the import to APPLYING; the worker then calls
``apply_chunk`` until it says nothing is left (``contacts.imports.tasks.import_apply``). Each chunk
is one transaction that takes the next ``CONTACT_IMPORT_CHUNK_ROWS`` rows and

1. locks the contacts it matched and judges the range again (``validation``): a STOP recorded
   after the preview wins, a contact created meanwhile is matched instead of duplicated;
2. writes with one statement per kind of write, whatever the chunk's size: new contacts
   (INSERT … SELECT from the staging rows), the new rows linked to them, changed fields
   (UPDATE … FROM), tags, consent events (INSERT … SELECT), then current consent
   (``consent_bulk.current_consent_refresh_bulk``);
3. moves the import's progress, counts and ``applied_through`` (the chunk's last line) on.

``applied_through`` commits with the writes, so a chunk is either all there or not at all, and a
chunk run again after a crash starts after the last chunk committed and writes nothing twice. It
is one line on the import, not a flag on each row: marking every staged row applied rewrote each
wide row and its indexes, the largest single cost of applying. Each ledger event also carries the
signal key ``import:<import id>:<line>``: the database keeps one event per key and purpose
(docs/consent.md), so not even a bug in the progress could record a row's consent twice.

Why not ``record_consent`` per row: 100,000 rows would be 100,000 transactions and a million
queries. The rules it keeps are kept here as a set: the contacts' row locks
(``consent_bulk.lock_contacts``), the opting-back-in rule (the row verdicts of
``validation.judge_opt_ins``, judged again under those locks) and the order rule (one statement
over the whole set).
"""

from __future__ import annotations

import hashlib
import json

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from contacts.consent_bulk import current_consent_refresh_bulk, lock_contacts
from contacts.imports import mapping as mapping_rules
from contacts.imports import validation
from contacts.ledger_chain import link_events
from contacts.models import (
    ConsentAction,
    ConsentSource,
    ContactImport,
    ImportKind,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Purpose,
)
from contacts.services import log_activity
from contacts.zones import refresh_zone_spans
from core.actors import Actor
from core.errors import ApplicationError

# Rows the apply step goes over: refused rows are never written.
TO_APPLY = validation.TO_APPLY
# The contact fields a row may change (validation lists those it does in the row's ``changes``).
FIELDS = ("first_name", "last_name", "language", "country", "time_zone")
APPLIED_COUNTS = ("applied_rows", "contacts_created", "contacts_updated", "events_recorded")
RECORD = "record"  # the verdict of an opt-in to write (docs/imports.md)
# A new contact's country when the file gives none, as Contact.clean takes it from the number. For
# the calling codes that belong to one country (all but a dozen) a lookup in SQL; calling codes are
# prefix-free, so of the number's first one, two and three digits at most one is a code. A code
# several countries share (+1: the US, Canada, the Caribbean; +7, +44, +39…) needs the number
# parsed to tell which: only those numbers are, in Python, and their countries passed as one value.
_ONE_COUNTRY_CODES = ", ".join(
    f"('{code}', '{regions[0]}')"
    for code, regions in sorted(COUNTRY_CODE_TO_REGION_CODE.items())
    if len(regions) == 1 and regions[0].isalpha()  # "001": numbers of no country (+800, +882…)
)
_CODES = f"(SELECT column1 AS code, column2 AS region FROM (VALUES {_ONE_COUNTRY_CODES}) AS v)"
_SHARED_CODES = " OR ".join(
    f"substr(r.phone, 2, {len(str(code))}) = '{code}'"
    for code, regions in sorted(COUNTRY_CODE_TO_REGION_CODE.items())
    if len(regions) > 1
)


def preview_token(contact_import: ContactImport) -> str:
    """A digest of what a preview shows: the mapping and the counts it led to.

    The confirm form carries it, so a confirmation applies only the preview its author read: mapped
    again by someone else meanwhile (with a consent column, say), the import is refused until read
    again, instead of recording opt-ins under the name of someone who never saw them.
    """
    shown = {
        "mapping": contact_import.mapping,
        "counts": contact_import.counts,
        "rows": contact_import.total_rows,
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def import_confirm(
    *, contact_import: ContactImport, actor: Actor, user, previewed: str | None = None
) -> ContactImport:
    """Confirm a previewed import: it is applied in the background from now on.

    Only an import in PREVIEW is confirmed, with a conditional UPDATE on its status, so a double
    click (or two staff members at once) confirms it once and the second is told it already was.
    The person confirming must be allowed to record what the file records (opt-ins, or for a
    suppression list opt-outs): confirming puts their name on every event. ``previewed`` is the
    ``preview_token`` of the preview they read (the admin always sends it): if the import was
    mapped again since, nothing is confirmed.
    """
    now = timezone.now()
    with transaction.atomic():
        # The rights are checked against the import as it is now: mapped again since the page was
        # read, it may record opt-ins it did not then.
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        _check_may_confirm(current, user)
        if (
            previewed is not None
            and current.status == ImportStatus.PREVIEW
            and previewed != preview_token(current)
        ):
            raise ApplicationError(
                f"{contact_import} was mapped again since you read its preview: nothing was confirmed. "
                "Read the preview as it is now, then confirm.",
                code="import_preview_changed",
            )
        to_apply = ImportRow.objects.filter(contact_import=contact_import, status__in=TO_APPLY).count()
        confirmed = ContactImport.objects.filter(pk=contact_import.pk, status=ImportStatus.PREVIEW).update(
            status=ImportStatus.APPLYING,
            confirmed_by=user,
            confirmed_at=now,
            phase="applying",
            progress_done=0,
            progress_total=to_apply,
            heartbeat_at=None,
            error="",
        )
        if not confirmed:
            contact_import.refresh_from_db(fields=["status"])
            raise ApplicationError(
                f"{contact_import} cannot be confirmed: it is “{contact_import.get_status_display()}”, "
                "and only an import ready to confirm can be.",
                code="import_not_in_preview",
            )
        contact_import.refresh_from_db()
        log_activity(
            actor=actor,
            action="import.confirmed",
            obj=contact_import,
            details={"rows_to_apply": to_apply, "counts": contact_import.counts},
        )
        from contacts.imports.tasks import enqueue_apply  # the tasks module imports this one

        transaction.on_commit(lambda: enqueue_apply(contact_import.pk))
    return contact_import


def _check_may_confirm(contact_import: ContactImport, user) -> None:
    needed = ["contacts.change_contactimport"]
    if contact_import.kind == ImportKind.SUPPRESSION:
        needed.append("contacts.record_opt_out")
    elif (contact_import.mapping or {}).get("consent"):
        needed.append("contacts.record_opt_in")
    if user is None or not user.is_active or not user.has_perms(needed):
        raise ApplicationError(
            "You may not confirm this import: it records "
            + ("opt-outs" if contact_import.kind == ImportKind.SUPPRESSION else "contacts and their consent")
            + " in your name, and your role does not allow that.",
            code="permission_denied",
        )


def apply_chunk(*, contact_import: ContactImport) -> bool:
    """Apply the next chunk of the import's rows in one transaction; True when none are left.

    When the last chunk is done the import becomes APPLIED, with what was written in its counts
    and one ``import.applied`` entry in the activity log. The number of queries does not depend
    on the chunk's size.
    """
    with transaction.atomic():
        # One chunk at a time per import, whoever calls: the second caller waits here and then
        # finds the first one's rows applied.
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if current.status == ImportStatus.APPLIED:
            return True
        if current.status != ImportStatus.APPLYING:
            raise ApplicationError(
                f"{current} is “{current.get_status_display()}”, not being applied.",
                code="import_not_applying",
            )
        lines = _next_chunk(current)
        if lines is None:
            _finish(current)
            return True
        written = _apply_rows(current, lines)
        counts = dict(current.counts or {})
        for key, value in written.items():
            counts[key] = counts.get(key, 0) + value
        current.counts = counts
        current.applied_through = lines[1]
        current.progress_done += written["applied_rows"]
        current.progress_total = max(current.progress_total, current.progress_done)
        current.heartbeat_at = timezone.now()
        current.error = ""
        current.save(
            update_fields=[
                "counts",
                "applied_through",
                "progress_done",
                "progress_total",
                "heartbeat_at",
                "error",
            ]
        )
        if _next_chunk(current) is not None:
            return False
        _finish(current)
        return True


def _next_chunk(contact_import: ContactImport) -> tuple[int, int] | None:
    """The first and last line of the next chunk: the rows to apply among the next
    ``CONTACT_IMPORT_CHUNK_ROWS`` lines after ``applied_through`` (chunks follow each other
    through the file).

    Asked as a range of lines, not as "the next N rows by line": PostgreSQL, which knows nothing
    of a staging table filled a moment ago, plans the latter as reading every row left and sorting
    them, each chunk again (quadratic over a large file); a range reads only its own rows.
    """
    size = settings.CONTACT_IMPORT_CHUNK_ROWS
    to_apply = f"contact_import_id = %s AND status IN ({_quoted(TO_APPLY)})"
    start = max(contact_import.applied_through, 1) + 1  # line 1 is the header
    with connection.cursor() as cursor:
        window = (
            f"SELECT MIN(line), MAX(line) FROM contacts_importrow WHERE {to_apply} AND line BETWEEN %s AND %s"
        )
        cursor.execute(window, [contact_import.pk, start, start + size - 1])
        first, last = cursor.fetchone()
        if first is None:
            # Nothing to apply in those lines (refused rows, or the end of the file): the next row
            # to apply, wherever it is, starts the chunk.
            cursor.execute(
                f"SELECT MIN(line) FROM contacts_importrow WHERE {to_apply} AND line > %s",
                [contact_import.pk, start + size - 1],
            )
            start = cursor.fetchone()[0]
            if start is None:
                return None
            cursor.execute(window, [contact_import.pk, start, start + size - 1])
            first, last = cursor.fetchone()
    return first, last


def _apply_rows(contact_import: ContactImport, lines: tuple[int, int]) -> dict[str, int]:
    """Judge the chunk's rows again under the contacts' locks, then write them; what was written."""
    rows = ImportRow.objects.filter(contact_import=contact_import, line__range=lines).order_by()
    validation.match_rows(contact_import, lines=lines)
    lock_contacts(rows.filter(contact__isnull=False).values("contact_id"))
    _Sql(contact_import, lines).resolve_survivors()
    validation.judge_opt_ins(contact_import, lines=lines)
    validation.diff_rows(contact_import, lines=lines)

    sql = _Sql(contact_import, lines)
    written = {"contacts_created": sql.insert_contacts()}
    sql.link_new_rows()
    # The chunk's rows to apply are the rows it applies: no earlier chunk applied a row within its
    # lines (each chunk starts after the last line of the one before, and rows outside the chunk
    # being applied are never judged again, so none before it becomes one to apply).
    applied = rows.filter(status__in=TO_APPLY)
    written.update(
        applied.aggregate(
            applied_rows=Count("pk"), contacts_updated=Count("pk", filter=Q(status=ImportRowStatus.UPDATE))
        )
    )
    sql.update_contacts()
    if any(column.get("field") == "tags" for column in (contact_import.mapping or {}).get("columns", [])):
        sql.write_tags()
    written["events_recorded"] = 0
    for purpose, action, wording_id in _ledger_writes(contact_import):
        written["events_recorded"] += sql.insert_events(purpose=purpose, action=action, wording_id=wording_id)
        # Every contact of the set has the event just inserted (or, for a row recorded before,
        # the one its signal key kept): none is left without one.
        current_consent_refresh_bulk(
            contacts=sql.rows_with_event(applied, purpose=purpose, action=action).values("contact_id"),
            purpose=purpose,
            each_has_event=True,
        )
    return written


def _ledger_writes(contact_import: ContactImport) -> list[tuple[str, str, int | None]]:
    """(purpose, action, wording id) of each set of consent events the import records."""
    mapping = contact_import.mapping or {}
    if contact_import.kind == ImportKind.SUPPRESSION:
        purposes = [p for p in mapping.get("suppress_purposes") or [] if p in Purpose.values]
        return [(purpose, ConsentAction.OPT_OUT, None) for purpose in purposes]
    return [
        (column["purpose"], ConsentAction.OPT_IN, column["wording"])
        for column in mapping.get("consent") or []
        if column.get("purpose") in Purpose.values
    ]


def _finish(contact_import: ContactImport) -> None:
    """The import is applied: its final counts and one activity-log entry (not one per contact)."""
    counts = {key: 0 for key in APPLIED_COUNTS} | dict(contact_import.counts or {})
    now = timezone.now()
    contact_import.counts = counts
    contact_import.status = ImportStatus.APPLIED
    contact_import.phase = ""
    contact_import.finished_at = now
    contact_import.heartbeat_at = now
    contact_import.progress_total = contact_import.progress_done
    contact_import.save(
        update_fields=["counts", "status", "phase", "finished_at", "heartbeat_at", "progress_total"]
    )
    log_activity(
        actor=_confirming_actor(contact_import),
        action="import.applied",
        obj=contact_import,
        details={key: counts[key] for key in APPLIED_COUNTS},
    )


def _confirming_actor(contact_import: ContactImport) -> Actor:
    if contact_import.confirmed_by_id is None:  # the account was deleted since
        return Actor.system("import")
    return Actor.for_user(contact_import.confirmed_by)


def _country_of(e164: str) -> str:
    """The country of a staged number (valid E.164): the number built from its digits, not parsed
    again (a tenth of a file can be +1 numbers). Calling codes are prefix-free; a national number
    that begins with 0 (Italy's) keeps its zeros as ``phonenumbers.parse`` records them."""
    digits = e164[1:]
    size = next((n for n in (1, 2, 3) if int(digits[:n]) in COUNTRY_CODE_TO_REGION_CODE), 3)
    national = digits[size:]
    zeros = len(national) - len(national.lstrip("0"))
    number = phonenumbers.PhoneNumber(
        country_code=int(digits[:size]),
        national_number=int(national or "0"),
        italian_leading_zero=True if zeros else None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )
    region = phonenumbers.region_code_for_number(number)
    return region if region in phonenumbers.SUPPORTED_REGIONS else ""


def _quoted(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


# The few places where SQLite and PostgreSQL spell JSON differently. ``{r}`` is the staging row.
_JSON = {
    "postgresql": {
        # The value under the row's line in a JSON object given as a parameter.
        "at_line": "(%s::jsonb ->> CAST(r.line AS TEXT))",
        "elements": "jsonb_array_elements_text({col})",
        "element": "value",
        "text_at": "({col} ->> %s)",
        "has_key": "({col} ? %s)",
        # Whether the JSON list holds the string.
        "contains": "({col} @> jsonb_build_array(%s::text))",
        "with_line": "%s::jsonb || jsonb_build_object('line', r.line)",
        "without_nulls": "jsonb_strip_nulls(r.attributes)",
        # Keys the row sets are set; keys whose value the row gives as null are removed.
        "merge": (
            "(c.attributes || r.attributes) - ARRAY(SELECT key FROM jsonb_each(r.attributes) "
            "WHERE jsonb_typeof(value) = 'null')"
        ),
    },
    "sqlite": {
        "at_line": "json_extract(%s, '$.\"' || r.line || '\"')",
        "elements": "json_each({col})",
        "element": "value",
        "text_at": "json_extract({col}, '$.' || %s)",
        "has_key": "(json_type({col}, '$.' || %s) IS NOT NULL)",
        "contains": "EXISTS (SELECT 1 FROM json_each({col}) WHERE json_each.value = %s)",
        "with_line": "json_set(%s, '$.line', r.line)",
        "without_nulls": "json_patch('{}', r.attributes)",
        # RFC 7396 merge patch: null removes the key, as above.
        "merge": "json_patch(c.attributes, r.attributes)",
    },
}


class _Sql:
    """The set-based statements of one chunk: rows of ``contact_import`` with lines in ``lines``
    not applied yet. Each method is one statement (two for tags), whatever the number of rows."""

    def __init__(self, contact_import: ContactImport, lines: tuple[int, int]):
        self.contact_import = contact_import
        self.lines = lines
        self.now = connection.ops.adapt_datetimefield_value(timezone.now())
        self.spell = _JSON[connection.vendor]

    def _where(self, *statuses: str) -> tuple[str, list]:
        return (
            f"r.contact_import_id = %s AND r.line BETWEEN %s AND %s AND r.status IN ({_quoted(statuses)})",
            [self.contact_import.pk, *self.lines],
        )

    def _execute(self, sql: str, params: list) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return max(cursor.rowcount, 0)

    def insert_contacts(self) -> int:
        """A contact for each new row: the number and the fields given, and the zone span staging
        computed from them; custom fields the row gives as null (a blank cell mapped "clear") are
        left out. A number some contact took since the chunk was matched (a webhook's, at that
        moment) is not inserted again: the row is linked to that contact. New contacts have no
        WhatsApp or user id, so their number is the only key that can conflict."""
        where, params = self._where(ImportRowStatus.NEW)
        return self._execute(
            f"""
            INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone,
                zone_earliest, zone_latest, attributes, whatsapp_profile_name, created_at, updated_at)
            SELECT r.phone, r.first_name, r.last_name, r.language,
                COALESCE(
                    NULLIF(r.country, ''), cc1.region, cc2.region, cc3.region, {self.spell["at_line"]}, ''
                ),
                r.time_zone, r.zone_earliest, r.zone_latest, {self.spell["without_nulls"]}, '', %s, %s
            FROM contacts_importrow r
                LEFT JOIN {_CODES} AS cc1 ON cc1.code = substr(r.phone, 2, 1)
                LEFT JOIN {_CODES} AS cc2 ON cc2.code = substr(r.phone, 2, 2)
                LEFT JOIN {_CODES} AS cc3 ON cc3.code = substr(r.phone, 2, 3)
            WHERE {where} AND r.contact_id IS NULL
            ORDER BY r.line
            ON CONFLICT (phone) DO NOTHING
            """,
            [self._shared_code_countries(), self.now, self.now, *params],
        )

    def _shared_code_countries(self) -> str:
        """{line: country} of the new rows without a country whose number's calling code several
        countries share, as JSON: each number parsed to tell its country."""
        where, params = self._where(ImportRowStatus.NEW)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.line, r.phone FROM contacts_importrow r "
                f"WHERE {where} AND r.contact_id IS NULL AND r.country = '' AND ({_SHARED_CODES})",
                params,
            )
            return json.dumps({str(line): _country_of(phone) for line, phone in cursor.fetchall()})

    def resolve_survivors(self) -> int:
        """Point the chunk's rows at the survivor of a contact merged since they were matched.

        ``match_rows`` reads before ``lock_contacts`` waits: a merge that committed in between
        leaves a row on the merged-away contact, which is never written to. The locks cover the
        survivors too, so once re-pointed here no merge moves a row again before the chunk
        commits. Writes nothing when no such merge happened (the usual case).
        """
        where, params = self._where(*TO_APPLY)
        return self._execute(
            f"""
            UPDATE contacts_importrow AS r SET contact_id = (
                SELECT c.merged_into_id FROM contacts_contact c WHERE c.id = r.contact_id
            )
            WHERE {where} AND r.contact_id IN (
                SELECT c.id FROM contacts_contact c WHERE c.merged_into_id IS NOT NULL
            )
            """,
            params,
        )

    def link_new_rows(self) -> int:
        """Point each new row at its contact: the one just inserted, or the one that took the
        number meanwhile (a webhook's, at that moment), or the contact it was merged into. Only
        the new rows are written; a matched row points at its contact already."""
        where, params = self._where(ImportRowStatus.NEW)
        return self._execute(
            f"""
            UPDATE contacts_importrow AS r SET contact_id = (
                SELECT COALESCE(c.merged_into_id, c.id) FROM contacts_contact c WHERE c.phone = r.phone
            )
            WHERE {where} AND r.contact_id IS NULL
            """,
            params,
        )

    def update_contacts(self) -> int:
        """The fields of matched contacts that the row changes (its ``changes``, as the preview
        showed them and as judged again for this chunk) take the row's value, an empty one when
        the row clears the field; custom fields merge into the contact's.

        A time zone given makes the zone span that zone (staging's span of the row is it); a time
        zone cleared leaves the contact's own numbers to say, so those few contacts' spans are
        computed again (``zones.refresh_zone_spans``). The import never changes a known contact's
        phone or WhatsApp id.
        """
        where, params = self._where(ImportRowStatus.UPDATE)
        has_key = self.spell["has_key"].format(col="r.changes")
        assignments = ", ".join(
            f"{field} = CASE WHEN {has_key} THEN r.{field} ELSE c.{field} END" for field in FIELDS
        )
        zone_given = f"{has_key} AND r.time_zone <> ''"
        spans = ", ".join(
            f"{end} = CASE WHEN {zone_given} THEN r.{end} ELSE c.{end} END"
            for end in ("zone_earliest", "zone_latest")
        )
        updated = self._execute(
            f"""
            UPDATE contacts_contact AS c
            SET {assignments}, {spans}, attributes = {self.spell["merge"]}, updated_at = %s
            FROM contacts_importrow r
            WHERE r.contact_id = c.id AND {where}
            """,
            [*FIELDS, "time_zone", "time_zone", self.now, *params],
        )
        if self._clears("time_zone"):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT r.contact_id FROM contacts_importrow r "
                    f"WHERE {where} AND {has_key} AND r.time_zone = ''",
                    [*params, "time_zone"],
                )
                refresh_zone_spans(contact_id for (contact_id,) in cursor.fetchall())
        return updated

    def _clears(self, field: str) -> bool:
        """Whether the mapping lets a blank cell clear ``field``."""
        return any(
            column.get("field") == field and column.get("blank") == mapping_rules.CLEAR
            for column in (self.contact_import.mapping or {}).get("columns", [])
        )

    def write_tags(self) -> None:
        """Tags named by the rows: missing ones created (names are unique case-insensitively),
        then added to the contacts; "clear when blank" removes a contact's tags first."""
        where, params = self._where(ImportRowStatus.NEW, ImportRowStatus.UPDATE)
        elements = self.spell["elements"].format(col="r.tags")
        value = f"t.{self.spell['element']}"
        contains = self.spell["contains"].format(col="r.clear")
        self._execute(
            f"""
            DELETE FROM contacts_contact_tags
            WHERE contact_id IN (
                SELECT r.contact_id FROM contacts_importrow r WHERE {where} AND {contains}
            )
            """,
            [*params, "tags"],
        )
        self._execute(
            f"""
            INSERT INTO contacts_tag (name)
            SELECT DISTINCT {value} FROM contacts_importrow r, {elements} AS t
            WHERE {where} AND {value} <> ''
              AND NOT EXISTS (SELECT 1 FROM contacts_tag x WHERE lower(x.name) = lower({value}))
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        self._execute(
            f"""
            INSERT INTO contacts_contact_tags (contact_id, tag_id)
            SELECT DISTINCT r.contact_id, x.id
            FROM contacts_importrow r, {elements} AS t, contacts_tag x
            WHERE {where} AND r.contact_id IS NOT NULL AND lower(x.name) = lower({value})
            ON CONFLICT DO NOTHING
            """,
            params,
        )

    def _event_rows(self, *, purpose: str, action: str) -> tuple[str, list]:
        if action == ConsentAction.OPT_OUT:
            # A suppression list: every row kept says "never message this number".
            return self._where(*TO_APPLY)
        where, params = self._where(ImportRowStatus.NEW, ImportRowStatus.UPDATE)
        return f"{where} AND {self.spell['text_at'].format(col='r.opt_ins')} = %s", [*params, purpose, RECORD]

    def rows_with_event(self, rows, *, purpose: str, action: str):
        """The chunk's rows that got an event for the purpose (as a queryset, for the refresh)."""
        if action == ConsentAction.OPT_OUT:
            return rows.filter(status__in=TO_APPLY)
        return rows.filter(
            status__in=[ImportRowStatus.NEW, ImportRowStatus.UPDATE], **{f"opt_ins__{purpose}": RECORD}
        )

    def insert_events(self, *, purpose: str, action: str, wording_id: int | None) -> int:
        """One ledger event per row and purpose, with the import as its evidence (docs/imports.md),
        and its chain link; the number of events recorded."""
        contact_import = self.contact_import
        actor = _confirming_actor(contact_import)
        mapping = contact_import.mapping or {}
        evidence = {
            "import_id": contact_import.pk,
            "file_name": contact_import.file_name,
            "file_sha256": contact_import.file_sha256,
            "uploaded_by": contact_import.created_by.get_username() if contact_import.created_by_id else "",
            "source_description": mapping.get("consent_source") or "",
        }
        # An opt-out from a suppression list happened when the row says, or we learn of it now.
        occurred = "r.consent_at" if action == ConsentAction.OPT_IN else "COALESCE(r.consent_at, %s)"
        occurred_params = [] if action == ConsentAction.OPT_IN else [self.now]
        where, params = self._event_rows(purpose=purpose, action=action)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
            INSERT INTO contacts_consentevent (contact_id, purpose, action, source, wording_id,
                wording_text, evidence, occurred_at, recorded_at, signal_key, carried_source,
                actor_kind, actor_user_id, actor_ref, actor_label)
            SELECT r.contact_id, %s, %s, %s, %s, '', {self.spell["with_line"]}, {occurred}, %s,
                'import:' || r.contact_import_id || ':' || r.line, '', %s, %s, %s, %s
            FROM contacts_importrow r
            WHERE {where} AND r.contact_id IS NOT NULL
            ORDER BY r.line
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
                [
                    purpose,
                    action,
                    ConsentSource.IMPORT,
                    wording_id,
                    json.dumps(evidence),
                    *occurred_params,
                    self.now,
                    actor.kind,
                    actor.user.pk if actor.kind == Actor.USER else None,
                    actor.ref,
                    actor.label,
                    *params,
                ],
            )
            event_ids = [event_id for (event_id,) in cursor.fetchall()]
        # Their chain links: the MACs computed here over the rows just inserted, one bulk insert,
        # under the locks taken on the chunk's contacts (docs/consent-chain.md).
        return link_events(event_ids)
