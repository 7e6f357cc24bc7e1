"""Segments and static lists: writes (versioned, logged) and the reads that count their members.

A segment's rules are validated on every save (``contacts.segments.rules``); a change of rules
writes a new ``SegmentVersion`` (a campaign freezes one), a change of name or description does
not. Segments are archived, never deleted. Static lists are made once from existing contacts
(pasted numbers, or the contacts of an applied import) and never change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet

from contacts.models import (
    Contact,
    ContactImport,
    ContactList,
    ContactListMember,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Segment,
    SegmentVersion,
)
from contacts.phones import InvalidPhoneNumber, equivalent_numbers, parse_phone
from contacts.segments.compiler import members_q
from contacts.segments.rules import (
    MAX_INCLUSION_DEPTH,
    iter_conditions,
    segment_references,
    validate_rules,
)
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

MAX_NAME = 200
MAX_PASTED_NUMBERS = 50_000
# Numbers looked up per query (SQLite allows a limited number of parameters per statement).
_LOOKUP_CHUNK = 400
_SEPARATORS = re.compile(r"[,;\t]")
_PUNCTUATION = re.compile(r"[\s().\-/]")
NOBODY_HAS_IT = (
    "no contact has this number; a list holds existing contacts (import the number to add the person)."
)


# --- segments --------------------------------------------------------------------------------------


def segment_create(*, name: str, description: str = "", rules: dict, actor: Actor) -> Segment:
    """A new segment and its version 1; logged as ``segment.created``."""
    name = segment_name_clean(name)
    cleaned = validate_rules(rules)
    user = _user(actor)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                name=name, description=description.strip(), rules=cleaned, version=1, created_by=user
            )
            SegmentVersion.objects.create(segment=segment, version=1, rules=cleaned, created_by=user)
            log_activity(actor=actor, action="segment.created", obj=segment, details={"version": 1})
    except IntegrityError:  # another staff member took the name a moment ago
        raise _name_taken(name) from None
    return segment


def segment_update(
    *,
    segment: Segment,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    rules: dict | None = None,
    archived: bool | None = None,
) -> Segment:
    """Change what is given; a new version only if the rules changed; logged as ``segment.changed``.

    Archiving is refused while a live segment includes this one. Saving rules that include other
    segments, and archiving, lock every segment first: two edits made at once could otherwise
    each pass the cycle check and together make a circle.
    """
    include_others = rules is not None and bool(segment_references(rules))
    try:
        with transaction.atomic():
            if include_others or archived:
                list(Segment.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
            current = Segment.objects.select_for_update().get(pk=segment.pk)
            # A segment taken out of the archive is checked again: what it includes may have changed.
            restoring = archived is False and current.archived
            changed = _apply_changes(current, name=name, description=description, archived=archived)
            new_rules = rules if rules is not None else (current.rules if restoring else None)
            if new_rules is not None:
                cleaned = validate_rules(new_rules, segment_id=current.pk)
                if cleaned != current.rules:
                    current.rules = cleaned
                    current.version += 1
                    SegmentVersion.objects.create(
                        segment=current, version=current.version, rules=cleaned, created_by=_user(actor)
                    )
                    changed.append("rules")
            if changed:
                current.save()
                details = {"changed": changed, "version": current.version}
                if "archived" in changed:
                    details["archived"] = current.archived
                log_activity(actor=actor, action="segment.changed", obj=current, details=details)
    except IntegrityError:
        raise _name_taken(name) from None
    segment.refresh_from_db()
    return segment


def _apply_changes(current: Segment, *, name, description, archived) -> list[str]:
    changed = []
    if name is not None and name.strip() != current.name:
        current.name = segment_name_clean(name, exclude=current.pk)
        changed.append("name")
    if description is not None and description.strip() != current.description:
        current.description = description.strip()
        changed.append("description")
    if archived is not None and archived != current.archived:
        if archived:
            users = segments_including(current.pk)
            if users:
                raise ApplicationError(
                    f"“{current.name}” cannot be archived: "
                    + ", ".join(f"“{n}”" for n in users)
                    + " include it. Change those segments first.",
                    code="segment_in_use",
                    field="archived",
                )
        current.archived = archived
        changed.append("archived")
    return changed


def segments_including(segment_id: int) -> list[str]:
    """The live segments whose current rules include this one (directly)."""
    return [
        other.name
        for other in Segment.objects.filter(archived=False).exclude(pk=segment_id).only("name", "rules")
        if any(ref == segment_id for _, ref in segment_references(other.rules))
    ]


def segments_using_attribute(key: str) -> list[str]:
    """Segments any version of which compares the custom field ``key`` (a frozen version too)."""
    names = set()
    versions = SegmentVersion.objects.filter(rules__icontains=key).select_related("segment")
    for version in versions:
        if any(
            node.get("kind") == "attribute" and node.get("key") == key
            for _, node in iter_conditions(version.rules)
        ):
            names.add(version.segment.name)
    return sorted(names)


def segment_name_clean(name: str, *, exclude: int | None = None) -> str:
    """The name stripped; refused when empty, too long, or another segment's (whatever the case)."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the segment a name.", code="segment_name_missing", field="name")
    if len(name) > MAX_NAME:
        raise ApplicationError(
            f"The name is longer than {MAX_NAME} characters.", code="segment_name_long", field="name"
        )
    if Segment.objects.filter(name__iexact=name).exclude(pk=exclude).exists():
        raise _name_taken(name)
    return name


def _name_taken(name) -> ApplicationError:
    return ApplicationError(
        f"A segment named “{name}” already exists: pick another name.",
        code="segment_name_taken",
        field="name",
    )


def _user(actor: Actor):
    return actor.user if actor.is_staff_user else None


def _rules_of(source: Segment | SegmentVersion) -> tuple[dict, int]:
    if isinstance(source, SegmentVersion):
        return source.rules, source.segment_id
    return source.rules, source.pk


def segment_q(source: Segment | SegmentVersion) -> Q:
    """The members as a condition on ``Contact``, to filter any contact queryset (the admin's list)."""
    rules, segment_id = _rules_of(source)
    return members_q(rules, segment_id=segment_id)


def segment_members(source: Segment | SegmentVersion) -> QuerySet[Contact]:
    """The live contacts a segment (its current rules) or a frozen version selects: one query."""
    return Contact.objects.filter(segment_q(source))


def segment_count(source: Segment | SegmentVersion) -> int:
    return segment_members(source).count()


def segment_rules_resolved(source: Segment | SegmentVersion) -> dict:
    """The rules with every included segment's current rules written in place: a tree that no
    longer depends on any other segment.

    ``in_segment`` means "member of X as X is defined now", so a version that includes X moves
    when X is edited. What a campaign's approver saw must not move: a campaign freezes this tree
    (one read of the segments table), not the version's references.
    """
    rules, segment_id = _rules_of(source)
    definitions = dict(Segment.objects.values_list("pk", "rules"))

    def resolve(node: dict, chain: tuple[int, ...]) -> dict:
        if "op" in node:
            return {"op": node["op"], "rules": [resolve(child, chain) for child in node["rules"]]}
        if node.get("kind") != "in_segment":
            return node
        included = node["segment"]
        # Saving refuses all three; two edits racing could still leave one.
        if included not in definitions:
            raise ApplicationError(
                f"The segment includes segment #{included}, which does not exist.", code="segment_missing"
            )
        if included in chain:
            raise ApplicationError(
                "These segments include each other; edit one of them to break the circle.",
                code="segment_cycle",
            )
        if len(chain) > MAX_INCLUSION_DEPTH:
            raise ApplicationError(
                f"The segment includes segments more than {MAX_INCLUSION_DEPTH} deep.",
                code="segment_too_deep",
            )
        return resolve(definitions[included], (*chain, included))

    return resolve(rules, (segment_id,))


def rules_count(*, rules, segment: Segment | None = None) -> int:
    """How many contacts a draft of rules selects (the editor's live count); validated first."""
    cleaned = validate_rules(rules, segment_id=segment.pk if segment is not None else None)
    segment_id = segment.pk if segment is not None else None
    return Contact.objects.filter(members_q(cleaned, segment_id=segment_id)).count()


# --- static lists ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusedLine:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"Line {self.line} (“{self.text}”): {self.reason}"


def contact_list_create_from_numbers(
    *, name: str, text: str, actor: Actor
) -> tuple[ContactList, list[RefusedLine]]:
    """A list of the existing contacts these numbers belong to, and the lines that were not used.

    One number per line (or separated by commas, semicolons, tabs), in any format. Numbers are
    matched as the contact matcher matches them: any form of the number (Brazil's ninth digit,
    Mexico's 1), the phone or the WhatsApp id, a merged-away row standing for its survivor. A list
    is made of people already here: a number nobody has is reported, not created (import it to add
    the person); so is one that matches two contacts, who should be merged first. Nothing is
    written when no line matches.
    """
    name = _list_name(name)
    entries = _pasted_numbers(text)
    refused: list[RefusedLine] = []
    parsed: list[tuple[int, str, tuple[str, ...]]] = []
    for line, raw in entries:
        try:
            parsed.append((line, raw, equivalent_numbers(parse_phone(raw).e164)))
        except InvalidPhoneNumber as exc:
            # A form only Meta uses (a Mexican mobile with its old 1) is still that person's.
            meta_forms = equivalent_numbers(_PUNCTUATION.sub("", raw))
            if len(meta_forms) > 1:
                parsed.append((line, raw, meta_forms))
            else:
                refused.append(RefusedLine(line, raw, exc.message))
    holders = _holders({form for _, _, forms in parsed for form in forms})
    members: dict[int, None] = {}  # survivors in the order pasted, each once
    for line, raw, forms in parsed:
        people = {person for form in forms for person in holders.get(form, ())}
        if not people:
            refused.append(RefusedLine(line, raw, NOBODY_HAS_IT))
        elif len(people) > 1:
            refused.append(
                RefusedLine(
                    line,
                    raw,
                    f"it matches {len(people)} contacts that look like one person: merge them first.",
                )
            )
        else:
            members[people.pop()] = None
    refused.sort(key=lambda r: r.line)
    if not members:
        raise ApplicationError(
            "None of the numbers belongs to a contact, so there is no list to make."
            + (f" {refused[0]}" if refused else " Paste one number per line."),
            code="list_empty",
            field="text",
            details={"refused": [str(r) for r in refused]},
        )
    with transaction.atomic():
        contact_list = ContactList.objects.create(name=name, size=len(members), created_by=_user(actor))
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list=contact_list, contact_id=pk) for pk in members], batch_size=1000
        )
        log_activity(
            actor=actor,
            action="contactlist.created",
            obj=contact_list,
            details={
                "source": "numbers",
                "size": len(members),
                "numbers": len(entries),
                "refused": len(refused),
            },
        )
    return contact_list, refused


def _pasted_numbers(text: str) -> list[tuple[int, str]]:
    entries = [
        (line, part.strip())
        for line, row in enumerate((text or "").splitlines(), start=1)
        for part in _SEPARATORS.split(row)
        if part.strip()
    ]
    if len(entries) > MAX_PASTED_NUMBERS:
        raise ApplicationError(
            f"{len(entries):,} numbers is more than a pasted list takes ({MAX_PASTED_NUMBERS:,}): "
            "import them as a file instead.",
            code="list_too_long",
            field="text",
        )
    return entries


def _holders(forms: set[str]) -> dict[str, set[int]]:
    """Number form → the live contacts (survivors) holding it as phone or WhatsApp id."""
    holders: dict[str, set[int]] = {}
    ordered = sorted(forms)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[start : start + _LOOKUP_CHUNK]
        rows = Contact.objects.filter(Q(phone__in=chunk) | Q(wa_id__in=[f.lstrip("+") for f in chunk]))
        for pk, phone, wa_id, merged_into_id in rows.values_list("pk", "phone", "wa_id", "merged_into_id"):
            person = merged_into_id or pk
            for held in (phone, f"+{wa_id}" if wa_id else None):
                if held in forms:
                    holders.setdefault(held, set()).add(person)
    return holders


def contact_list_create_from_import(
    *, contact_import: ContactImport, actor: Actor, name: str = ""
) -> ContactList:
    """A list of the contacts an applied import's rows were matched to or created as (one statement)."""
    if contact_import.status != ImportStatus.APPLIED:
        raise ApplicationError(
            f"Import #{contact_import.pk} is not applied ({contact_import.get_status_display().lower()}): "
            "a list can be made only of contacts an import has written.",
            code="import_not_applied",
            field="contact_import",
        )
    name = _list_name(name or f"Contacts of import #{contact_import.pk} ({contact_import.file_name})")
    member_table = ContactListMember._meta.db_table
    row_table = ImportRow._meta.db_table
    contact_table = Contact._meta.db_table
    with transaction.atomic():
        contact_list = ContactList.objects.create(
            name=name, source_import=contact_import, created_by=_user(actor)
        )
        with connection.cursor() as cursor:
            # Rows point at the live contact when they were applied; one merged since counts as
            # its survivor, once however many rows were its.
            cursor.execute(
                f"""
                INSERT INTO {member_table} (contact_list_id, contact_id)
                SELECT DISTINCT %s, COALESCE(c.merged_into_id, c.id)
                FROM {row_table} r JOIN {contact_table} c ON c.id = r.contact_id
                WHERE r.contact_import_id = %s AND r.status <> %s
                """,
                [contact_list.pk, contact_import.pk, ImportRowStatus.REFUSED],
            )
            size = cursor.rowcount
        if size == 0:
            raise ApplicationError(
                f"Import #{contact_import.pk} wrote no contacts, so there is no list to make.",
                code="list_empty",
                field="contact_import",
            )
        contact_list.size = size
        contact_list.save(update_fields=["size"])
        log_activity(
            actor=actor,
            action="contactlist.created",
            obj=contact_list,
            details={"source": "import", "import_id": contact_import.pk, "size": size},
        )
    return contact_list


def _list_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the list a name.", code="list_name_missing", field="name")
    if len(name) > MAX_NAME:
        raise ApplicationError(
            f"The name is longer than {MAX_NAME} characters.", code="list_name_long", field="name"
        )
    return name
