"""Validation: SQL over the staged rows — duplicates, matching, the opting-back-in rule, the diff.

Nothing here loops over rows in Python: each step is a few statements whatever the file's size.
The steps are separate so applying (``contacts.imports.applying``) can run them again for each
chunk it writes, under the contacts' row locks: a STOP recorded after the preview still wins, and
a contact created since (by a webhook, by staff) is matched instead of created twice.

- ``mark_duplicates``: a number (by its match key) on an earlier line refuses the later lines.
- ``match_rows``: the contact each row is, by equality joins on both forms of its number
  (``phone`` and ``wa_id``), resolved to the survivor of a merge; two live contacts → refused;
  a later line that is the same contact as an earlier one (or as a row already applied) → refused.
- ``judge_opt_ins``: per purpose, whether the row's opt-in may be recorded — the rules of
  ``contacts.services._opt_in_refusal`` for ``source=import``, in SQL.
- ``diff_rows``: what the row would change on its contact, and the row's status.

``lines`` is ``(first, last)``, both included, or None for the whole file. Rows already applied
are history and never judged again: applying goes through the file in chunks of lines, and the
import's ``applied_through`` is the last line of the last chunk it applied, so the rows applied are
those at or before it with a status to apply (``TO_APPLY``); every other row at or before it was
refused.
"""

from __future__ import annotations

import json
import re

from django.db import connection, transaction
from django.utils import timezone

from contacts.imports import mapping as mapping_rules
from contacts.models import (
    WHATSAPP_SOURCES,
    ConsentAction,
    ConsentSource,
    ConsentStatus,
    ContactImport,
    ImportKind,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Purpose,
)

Lines = tuple[int, int] | None

RECORD = "record"
# Rows applying writes; refused rows never are.
TO_APPLY = (ImportRowStatus.NEW, ImportRowStatus.UPDATE, ImportRowStatus.UNCHANGED)
ALREADY_OPTED_IN = "already_opted_in"
OPT_IN_REFUSALS = (
    "opt_in_import_after_whatsapp_opt_out",
    "opt_in_date_required",
    "opt_in_not_after_opt_out",
)
# Refusals validation makes (and takes back when it runs again); every other refusal is a cell's.
DUPLICATE, AMBIGUOUS = "duplicate_in_file", "ambiguous_match"
_REFUSED = ImportRowStatus.REFUSED

# The few places the two databases spell things differently; {x} is filled in by the caller.
_DIALECT = {
    "postgresql": {
        "set_key": "{col} || jsonb_build_object({key}, {value})",
        "array": "jsonb_build_array({items})",
        "object": "jsonb_strip_nulls(jsonb_build_object({items}))",
        "json_value": "{expr}",
        "empty_object": "'{}'::jsonb",
        "merge_objects": "({a} || {b})",
        "earlier_of": "LEAST({a}, {b})",
        "one_second_after": "{t} + interval '1 second'",
        "legacy_origin": "e.evidence ->> 'original_source'",
        # The row's tags the contact lacks (by name, whatever the case), and the contact's tags.
        "tags_added": (
            "(SELECT jsonb_agg(t.value ORDER BY t.ord) FROM jsonb_array_elements_text(r.tags) "
            "WITH ORDINALITY AS t(value, ord) WHERE NOT EXISTS ({has_tag}))"
        ),
        "tags_now": "(SELECT COALESCE(jsonb_agg(g.name ORDER BY g.name), '[]'::jsonb) FROM {tags_of})",
        "tags_after": "{now} || COALESCE({added}, '[]'::jsonb)",
        "tag_value": "t.value",
    },
    "sqlite": {
        "set_key": "json_set({col}, '$.' || {key}, {value})",
        "array": "json_array({items})",
        # RFC 7396 merge patch: a null member is left out.
        "object": "json_patch('{{}}', json_object({items}))",
        "json_value": "json({expr})",
        "empty_object": "'{}'",
        "merge_objects": "json_patch({a}, {b})",
        "earlier_of": "MIN({a}, {b})",
        # Django stores instants as "YYYY-MM-DD HH:MM:SS[.ffffff]" text: shift the whole seconds and
        # keep the fraction, exact to the microsecond (as contacts.consent_bulk does).
        "one_second_after": (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', substr({t}, 1, 19), '+1 seconds') || substr({t}, 20)"
        ),
        "legacy_origin": "json_extract(e.evidence, '$.original_source')",
        "tags_added": (
            "(SELECT NULLIF(json_group_array(t.value), '[]') FROM json_each(r.tags) AS t "
            "WHERE NOT EXISTS ({has_tag}))"
        ),
        # json_group_array keeps the order its subquery gives (SQLite 3.40 has no ORDER BY in it).
        "tags_now": "(SELECT json_group_array(n) FROM (SELECT g.name AS n FROM {tags_of} ORDER BY g.name))",
        "tags_after": (
            "(SELECT json_group_array(n) FROM ("
            "SELECT g.name AS n, 0 AS k, g.name AS s, 0 AS i FROM {tags_of} UNION ALL "
            "SELECT t.value, 1, '', t.key FROM json_each(r.tags) AS t WHERE NOT EXISTS ({has_tag}) "
            "ORDER BY k, s, i))"
        ),
        "tag_value": "t.value",
    },
}
_TAGS_OF = (
    "contacts_contact_tags ct JOIN contacts_tag g ON g.id = ct.tag_id WHERE ct.contact_id = r.contact_id"
)
_HAS_TAG = (
    "SELECT 1 FROM contacts_contact_tags ct JOIN contacts_tag g ON g.id = ct.tag_id "
    "WHERE ct.contact_id = r.contact_id AND lower(g.name) = lower(t.value)"
)
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_WHATSAPP = ", ".join(f"'{source}'" for source in WHATSAPP_SOURCES)


def validate_import(*, contact_import: ContactImport) -> None:
    """Judge every staged row and count the verdicts: the import is then ready to preview.

    One transaction under the import's lock, after staging finished. Does nothing to an import
    that is not being staged (abandoned or re-mapped meanwhile).
    """
    with transaction.atomic():
        current = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if current.status != ImportStatus.STAGING:
            return
        mark_duplicates(current)
        match_rows(current)
        judge_opt_ins(current)
        diff_rows(current)
        counts = count_rows(current)
        now = timezone.now()
        ContactImport.objects.filter(pk=current.pk).update(
            status=ImportStatus.PREVIEW,
            phase="preview",
            counts=counts,
            progress_done=current.total_rows,
            progress_total=current.total_rows,
            heartbeat_at=now,
        )


def mark_duplicates(contact_import: ContactImport) -> None:
    """Refuse every row whose number (match key) an earlier line has: "duplicate of line N".

    The earlier line is the first one not refused for a cell of its own, so fixing a refused row
    and uploading it again is not refused as a duplicate of a row that was applied. Whole file
    only: a duplicate is about the file, not about anything applying could change.
    """
    where, params = _scope(contact_import, None)
    phone_column = _phone_header(contact_import)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE contacts_importrow AS r SET status = %s, reason_code = '', reason = '' "
            f"WHERE {where} AND r.reason_code = %s",
            [ImportRowStatus.NEW, *params, DUPLICATE],
        )
        # The subquery counts the rows this statement refuses as candidates too, so whether the
        # database reads it before or during the update, the first line is the same. Each row's
        # first line is a window over its match key, and the rows to refuse are then found by
        # id alone (the subquery holds only rows in scope, not refused): a join on the match key,
        # or one restricted on both sides, was planned on a table just filled (no statistics
        # yet) as reading the whole file once for each of its rows (10 s for 3,000 rows).
        cursor.execute(
            """
            UPDATE contacts_importrow AS r
            SET status = %s, reason_code = %s, opt_ins = '{}',
                reason = %s || r.phone || ' is also on line ' || CAST(d.first_line AS TEXT)
                    || ': duplicate of line ' || CAST(d.first_line AS TEXT) || '.'
            FROM (
                SELECT c.id, c.first_line FROM (
                    SELECT id, line, MIN(line) OVER (PARTITION BY match_key) AS first_line
                    FROM contacts_importrow
                    WHERE contact_import_id = %s AND match_key <> ''
                      AND (status <> %s OR reason_code = %s) AND line > %s
                ) AS c
                WHERE c.line > c.first_line
            ) AS d
            WHERE r.id = d.id
            """,
            [
                _REFUSED,
                DUPLICATE,
                f"Column “{phone_column}”: ",
                contact_import.pk,
                _REFUSED,
                DUPLICATE,
                contact_import.applied_through,
            ],
        )


def match_rows(contact_import: ContactImport, lines: Lines = None) -> None:
    """Point each row at the live contact it is (``ImportRow.contact``), or refuse it as ambiguous.

    A row matches a contact holding either form of its number as ``phone`` or as ``wa_id``; a
    merged-away contact stands for the contact it was merged into (merged-away rows point at the
    survivor directly). A row that gave its number up (``number_reassigned_at``, no phone) is not
    the number's person any more. Two different live contacts → ``ambiguous_match``: they look
    like one person and staff merge them first. One statement, which writes only the rows whose
    match changed. Run for the whole file, it judges the rows it refused before again; for some
    lines (applying), a row refused in the preview stays refused. Then a row that is the same
    contact as an earlier line is refused (``_refuse_same_person``).
    """
    where, params = _scope(contact_import, lines)
    phone_column = _phone_header(contact_import)
    judged = f"{where} AND (r.status <> %s OR r.reason_code = %s)"
    # Applying judges its chunk again (lines given): a row the preview showed refused stays so.
    judged_params = [*params, _REFUSED, AMBIGUOUS if lines is None else ""]
    kept = "NOT (c.number_reassigned_at IS NOT NULL AND c.phone IS NULL)"
    survivor = "COALESCE(c.merged_into_id, c.id)"
    ambiguous = "f.lo <> f.hi"
    was_ambiguous = f"f.reason_code = '{AMBIGUOUS}'"
    # Each row is joined to the contacts holding either form of its number, as phone or wa_id, in
    # one join whose condition is an OR of index look-ups (no aggregate joined back onto the rows:
    # on a table just filled, without statistics, the planner nested that and sorted the whole
    # file again for each row — 10 s for a re-import of 3,000 known contacts).
    forms = "NULLIF(r.phone, ''), NULLIF(r.other_form, '')"
    wa_ids = "NULLIF(substr(r.phone, 2), ''), NULLIF(substr(r.other_form, 2), '')"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE contacts_importrow SET
                contact_id = m.contact_id, status = m.status, reason_code = m.reason_code, reason = m.reason
            FROM (
                SELECT f.id,
                    CASE WHEN f.lo = f.hi THEN f.lo END AS contact_id,
                    CASE WHEN {ambiguous} THEN %s WHEN {was_ambiguous} THEN %s ELSE f.status END AS status,
                    CASE WHEN {ambiguous} THEN %s WHEN {was_ambiguous} THEN '' ELSE f.reason_code END
                        AS reason_code,
                    CASE WHEN {ambiguous} THEN
                        %s || f.phone || ' matches ' || CAST(f.n AS TEXT) || ' contacts (#'
                        || CAST(f.lo AS TEXT) || ' and #' || CAST(f.hi AS TEXT)
                        || CASE WHEN f.n > 2 THEN ' among them' ELSE '' END
                        || '), which look like one person: merge them first, then import this row again.'
                    WHEN {was_ambiguous} THEN '' ELSE f.reason END AS reason
                FROM (
                    SELECT r.id, r.phone, r.status, r.reason_code, r.reason,
                        MIN({survivor}) AS lo, MAX({survivor}) AS hi, COUNT(DISTINCT {survivor}) AS n
                    FROM contacts_importrow r LEFT JOIN contacts_contact c
                        ON c.phone IN ({forms}) OR (c.wa_id IN ({wa_ids}) AND {kept})
                    WHERE {judged}
                    GROUP BY r.id, r.phone, r.status, r.reason_code, r.reason
                ) AS f
            ) AS m
            WHERE contacts_importrow.id = m.id
              AND (contacts_importrow.contact_id IS DISTINCT FROM m.contact_id
                OR contacts_importrow.reason_code <> m.reason_code)
            """,
            [
                _REFUSED,
                ImportRowStatus.NEW,
                AMBIGUOUS,
                f"Column “{phone_column}”: ",
                *judged_params,
            ],
        )
    _refuse_same_person(contact_import, lines, phone_column)


def _refuse_same_person(contact_import: ContactImport, lines: Lines, phone_column: str) -> None:
    """Refuse a row whose contact an earlier line already is: "duplicate of line N".

    Two different numbers can be one contact: one its phone, the other its WhatsApp ID, or the
    number of a contact merged into it. Both rows applied would write one contact twice, the
    later row's values winning by chance; the first line is kept and the later ones refused.
    The lines that count are the judged rows not refused, and the rows of this import already
    applied, which come first whatever their line: when applying judges a chunk again, a contact
    created or merged since the preview can make a row of this chunk the person an earlier chunk
    wrote. An applied row's contact may have been merged away since, so the applied rows looked
    for are those of the row's contact and of the contacts merged into it: two index look-ups per
    row, and none before the import has a row applied (the preview's validation). A row refused
    here stays refused when a chunk is judged again; a whole-file validation runs
    ``mark_duplicates`` first, which hands every ``duplicate_in_file`` row back to be judged.
    The rows to refuse are found by id alone (the subquery holds only rows in scope): restricted
    on both sides, the join was nested on a table without statistics yet, the window sorted
    again for each row of the file.
    """
    where, params = _scope(contact_import, lines)
    spell = _DIALECT[connection.vendor]
    own = merged = "CAST(NULL AS INTEGER)"
    applied_params = []
    if contact_import.applied_through:
        applied = f"a.contact_import_id = %s AND a.line <= %s AND a.status IN ({_quoted(TO_APPLY)})"
        own = (
            f"(SELECT MIN(a.line) FROM contacts_importrow a WHERE a.contact_id = r.contact_id AND {applied})"
        )
        merged = (
            "(SELECT MIN(a.line) FROM contacts_contact m JOIN contacts_importrow a ON a.contact_id = m.id "
            f"WHERE m.merged_into_id = r.contact_id AND {applied})"
        )
        applied_params = [contact_import.pk, contact_import.applied_through] * 2
    first_applied = spell["earlier_of"].format(
        a="COALESCE(p.applied_own, p.applied_merged)", b="COALESCE(p.applied_merged, p.applied_own)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE contacts_importrow AS r
            SET status = %s, reason_code = %s, opt_ins = {spell["empty_object"]},
                changes = {spell["empty_object"]}, reason = s.reason
            FROM (
                SELECT t.id,
                    %s || t.phone || ' is the same person as line ' || CAST(t.first_line AS TEXT)
                    || CASE WHEN t.imported THEN ', already imported' ELSE '' END
                    || ' — both match contact #' || CAST(t.person AS TEXT)
                    || ' (by its phone, its WhatsApp ID or a contact merged into it): duplicate of line '
                    || CAST(t.first_line AS TEXT) || '.' AS reason
                FROM (
                    SELECT p.id, p.phone, p.person, p.line,
                        COALESCE({first_applied}, p.first_in_file) AS first_line,
                        {first_applied} IS NOT NULL AS imported
                    FROM (
                        SELECT r.id, r.line, r.phone, r.contact_id AS person,
                            MIN(r.line) OVER (PARTITION BY r.contact_id) AS first_in_file,
                            {own} AS applied_own, {merged} AS applied_merged
                        FROM contacts_importrow r
                        WHERE {where} AND r.status <> %s AND r.contact_id IS NOT NULL
                    ) AS p
                ) AS t
                WHERE t.imported OR t.line > t.first_line
            ) AS s
            WHERE r.id = s.id
            """,
            [
                _REFUSED,
                DUPLICATE,
                f"Column “{phone_column}”: ",
                *applied_params,
                *params,
                _REFUSED,
            ],
        )


def judge_opt_ins(contact_import: ContactImport, lines: Lines = None) -> None:
    """Each row's verdict per purpose it opts in to (``ImportRow.opt_ins``), as ``record_consent``
    would give it for an opt-in with ``source=import``:

    - an opt-out the person made on WhatsApp (a keyword, the button, Meta's signal — also as a
      copy a merge carried over) → ``opt_in_import_after_whatsapp_opt_out``, whatever came later;
    - opted out now (current consent, i.e. the deciding event, is an opt-out) and the row has no
      date of its own (the file's one date) → ``opt_in_date_required``;
    - opted out now and the row's date (or now, if earlier) is not at least a second after the
      opt-out took effect → ``opt_in_not_after_opt_out``;
    - opted in now → ``already_opted_in`` (nothing to write); otherwise ``record``.

    The rule's evidence requirement is met by the import's own evidence (the file, its SHA-256,
    the line, the uploader and where the consent was collected). A row matching no contact records
    (staging stages it so); a refused row has no verdict. One statement, which writes only the
    rows whose verdicts changed.
    """
    purposes = _consent_purposes(contact_import)
    if not purposes:
        return
    spell = _DIALECT[connection.vendor]
    where, params = _scope(contact_import, lines)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    items, item_params = [], []
    for purpose in purposes:
        current = (
            "(SELECT {col} FROM contacts_currentconsent cc JOIN contacts_consentevent d "
            f"ON d.id = cc.event_id WHERE cc.contact_id = r.contact_id AND cc.purpose = '{purpose}')"
        )
        status, effective = current.format(col="cc.status"), current.format(col="d.effective_at")
        whatsapp_opt_out = f"""
            EXISTS (
                SELECT 1 FROM contacts_consentevent e
                WHERE e.contact_id = r.contact_id AND e.purpose = '{purpose}'
                  AND e.action = '{ConsentAction.OPT_OUT}'
                  AND (e.source IN ({_WHATSAPP})
                    OR (e.source = '{ConsentSource.MERGE}' AND e.carried_source IN ({_WHATSAPP}))
                    OR (e.source = '{ConsentSource.MERGE}' AND e.carried_source = ''
                        AND {spell["legacy_origin"]} IN ({_WHATSAPP})))
            )"""
        opted_out = f"{status} = '{ConsentStatus.OPTED_OUT}'"
        items.append(
            f"""'{purpose}', CASE
                WHEN r.consent -> '{purpose}' <> 'true' OR r.consent -> '{purpose}' IS NULL THEN NULL
                WHEN r.contact_id IS NULL THEN '{RECORD}'
                WHEN {whatsapp_opt_out} THEN '{OPT_IN_REFUSALS[0]}'
                WHEN {opted_out} AND NOT r.consent_at_own THEN '{OPT_IN_REFUSALS[1]}'
                WHEN {opted_out} AND {spell["earlier_of"].format(a="r.consent_at", b="%s")}
                    < {spell["one_second_after"].format(t=effective)} THEN '{OPT_IN_REFUSALS[2]}'
                WHEN {status} = '{ConsentStatus.OPTED_IN}' THEN '{ALREADY_OPTED_IN}'
                ELSE '{RECORD}'
            END"""
        )
        item_params.append(now)
    verdicts = spell["object"].format(items=", ".join(items))
    same, empty = spell["json_value"], spell["empty_object"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE contacts_importrow SET opt_ins = v.opt_ins
            FROM (
                SELECT r.id, CASE WHEN r.status = %s THEN {empty} ELSE {verdicts} END AS opt_ins
                FROM contacts_importrow r WHERE {where}
            ) AS v
            WHERE contacts_importrow.id = v.id
              AND {same.format(expr="contacts_importrow.opt_ins")} <> {same.format(expr="v.opt_ins")}
            """,
            [_REFUSED, *item_params, *params],
        )


def diff_rows(contact_import: ContactImport, lines: Lines = None) -> None:
    """What each matched row changes on its contact (``ImportRow.changes``, field → [old, new]),
    and the row's status: new (no contact), update (a change or an opt-in to record), unchanged.

    A value replaces the contact's when it differs; a blank cell keeps the field, or clears it
    when the column is mapped "clear when blank". Tags are added (``tags``: [the contact's tags,
    its tags after]); "clear when blank" on a blank tags cell removes them all. Custom fields are
    ``attributes.<key>``. A suppression list changes no field: a known number is an update (an
    opt-out is recorded on it), an unknown one is new. Writes only the rows whose diff or status
    changed (staging stages every row as new).
    """
    where, params = _scope(contact_import, lines)
    spell = _DIALECT[connection.vendor]
    items = _changed_items(contact_import, spell)
    changes = spell["empty_object"]
    if items:
        objects = [spell["object"].format(items=", ".join(chunk)) for chunk in _chunks(items, 40)]
        changes = objects[0]
        for other in objects[1:]:
            changes = spell["merge_objects"].format(a=changes, b=other)
    record = " OR ".join(
        f"x.opt_ins -> '{purpose}' = {_json_string(RECORD)}" for purpose in _consent_purposes(contact_import)
    )
    changed = f"x.changes <> {spell['empty_object']}" + (f" OR {record}" if record else "")
    if contact_import.kind == ImportKind.SUPPRESSION:
        changed = "1 = 1"  # an opt-out is recorded on every contact a suppression list names
    same = spell["json_value"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE contacts_importrow SET changes = d.changes, status = d.status
            FROM (
                SELECT x.id, x.changes, CASE WHEN {changed} THEN %s ELSE %s END AS status
                FROM (
                    SELECT r.id, r.opt_ins, {changes} AS changes
                    FROM contacts_importrow r JOIN contacts_contact c ON c.id = r.contact_id
                    WHERE {where} AND r.status <> %s
                ) AS x
            ) AS d
            WHERE contacts_importrow.id = d.id
              AND ({same.format(expr="contacts_importrow.changes")} <> {same.format(expr="d.changes")}
                OR contacts_importrow.status <> d.status)
            """,
            [ImportRowStatus.UPDATE, ImportRowStatus.UNCHANGED, *params, _REFUSED],
        )
        cursor.execute(
            f"""
            UPDATE contacts_importrow AS r SET status = %s, changes = {spell["empty_object"]}
            WHERE {where} AND r.status <> %s AND r.contact_id IS NULL
              AND (r.status <> %s OR {same.format(expr="r.changes")} <> {spell["empty_object"]})
            """,
            [ImportRowStatus.NEW, *params, _REFUSED, ImportRowStatus.NEW],
        )


def count_rows(contact_import: ContactImport) -> dict[str, int]:
    """The preview's counts (docs/imports.md): rows by status, opt-ins by verdict, opt-outs."""
    purposes = _consent_purposes(contact_import)

    def opt_ins(condition: str) -> str:
        terms = [f"CASE WHEN r.opt_ins -> '{p}' {condition} THEN 1 ELSE 0 END" for p in purposes]
        return f"SUM({' + '.join(terms)})" if terms else "0"

    refusals = ", ".join(_json_string(code) for code in OPT_IN_REFUSALS)
    recorded_sql, refused_sql, already_sql = (
        opt_ins(f"= {_json_string(RECORD)}"),
        opt_ins(f"IN ({refusals})"),
        opt_ins(f"= {_json_string(ALREADY_OPTED_IN)}"),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT
                SUM(CASE WHEN r.status = %s THEN 1 ELSE 0 END),
                SUM(CASE WHEN r.status = %s THEN 1 ELSE 0 END),
                SUM(CASE WHEN r.status = %s THEN 1 ELSE 0 END),
                SUM(CASE WHEN r.status = %s THEN 1 ELSE 0 END),
                {recorded_sql}, {refused_sql}, {already_sql}
            FROM contacts_importrow r WHERE r.contact_import_id = %s
            """,
            [
                ImportRowStatus.NEW,
                ImportRowStatus.UPDATE,
                ImportRowStatus.UNCHANGED,
                ImportRowStatus.REFUSED,
                contact_import.pk,
            ],
        )
        new, updated, unchanged, refused, recorded, refused_opt_ins, already = (
            int(value or 0) for value in cursor.fetchone()
        )
    suppressed = (contact_import.mapping or {}).get("suppress_purposes") or []
    opt_outs = (new + updated) * len(suppressed) if contact_import.kind == ImportKind.SUPPRESSION else 0
    return {
        "new": new,
        "updated": updated,
        "unchanged": unchanged,
        "refused": refused,
        "opt_ins": recorded,
        "opt_ins_refused": refused_opt_ins,
        "opt_ins_already": already,
        "opt_outs": opt_outs,
    }


# --- Helpers --------------------------------------------------------------------------------------


def _scope(contact_import: ContactImport, lines: Lines) -> tuple[str, list]:
    """The import's rows not applied yet — after its last chunk applied — within ``lines`` when
    given (the row is ``r``)."""
    first, last = lines or (0, None)
    first = max(first, contact_import.applied_through + 1)
    if last is None:
        return "r.contact_import_id = %s AND r.line >= %s", [contact_import.pk, first]
    return "r.contact_import_id = %s AND r.line BETWEEN %s AND %s", [contact_import.pk, first, last]


def applied_rows(contact_import: ContactImport):
    """The import's rows applied so far (a queryset)."""
    return ImportRow.objects.filter(
        contact_import=contact_import, line__lte=contact_import.applied_through, status__in=TO_APPLY
    )


def _quoted(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _phone_header(contact_import: ContactImport) -> str:
    for entry in (contact_import.mapping or {}).get("columns", []):
        if entry.get("field") == mapping_rules.PHONE:
            return contact_import.header[entry["column"]]
    return "phone"  # pragma: no cover - a mapping without a phone column is refused


def _consent_purposes(contact_import: ContactImport) -> list[str]:
    if contact_import.kind != ImportKind.CONTACTS:
        return []
    # Checked against the list, as they are written into the SQL.
    return [
        entry["purpose"]
        for entry in (contact_import.mapping or {}).get("consent") or []
        if entry.get("purpose") in Purpose.values
    ]


def _changed_items(contact_import: ContactImport, spell: dict) -> list[str]:
    """``key, CASE WHEN changed THEN [old, new] END`` per mapped field, for the changes object."""
    if contact_import.kind != ImportKind.CONTACTS:
        return []
    items = []
    for entry in (contact_import.mapping or {}).get("columns", []):
        field, clears = entry.get("field"), entry.get("blank") == mapping_rules.CLEAR
        if field in mapping_rules.TEXT_FIELDS:
            changed = f"(r.{field} <> '' AND r.{field} <> c.{field})"
            if clears:
                changed += f" OR (r.{field} = '' AND c.{field} <> '')"
            pair = spell["array"].format(items=f"c.{field}, r.{field}")
            items.append(f"'{field}', CASE WHEN {changed} THEN {pair} END")
        elif field == mapping_rules.ATTRIBUTE:
            key = entry["key"]
            if _KEY.fullmatch(key) is None:  # written into the SQL: check_mapping's pattern, again
                raise ValueError(f"custom field key {key!r} is not a key")
            old, new = f"c.attributes -> '{key}'", f"r.attributes -> '{key}'"
            changed = (
                f"({new} IS NOT NULL AND {new} <> 'null' AND ({old} IS NULL OR {old} <> {new}))"
                f" OR ({new} = 'null' AND {old} IS NOT NULL AND {old} <> 'null')"
            )
            pair = spell["array"].format(
                items=f"{spell['json_value'].format(expr=old)}, {spell['json_value'].format(expr=new)}"
            )
            items.append(f"'attributes.{key}', CASE WHEN {changed} THEN {pair} END")
        elif field == "tags":
            added = spell["tags_added"].format(has_tag=_HAS_TAG)
            now = spell["tags_now"].format(tags_of=_TAGS_OF)
            after = spell["tags_after"].format(now=now, added=added, tags_of=_TAGS_OF, has_tag=_HAS_TAG)
            changed = f"{added} IS NOT NULL"
            if clears:
                # A blank cell (no tags) clears the contact's tags: [its tags, []].
                emptied = spell["array"].format(items="")
                after = f"CASE WHEN r.tags = '[]' THEN {emptied} ELSE {after} END"
                changed += f" OR (r.tags = '[]' AND EXISTS (SELECT 1 FROM {_TAGS_OF}))"
            pair = spell["array"].format(items=f"{now}, {after}")
            items.append(f"'tags', CASE WHEN {changed} THEN {pair} END")
    return items


def _json_string(value: str) -> str:
    """A JSON string as an SQL literal, to compare with ``->``'s result on either database."""
    return "'" + json.dumps(value) + "'"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
