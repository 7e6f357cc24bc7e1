"""Upserting contacts by phone for the API: one person, one row, as the webhook and imports agree.

Every item is matched by ``contacts.matching`` rules: any form of the number (Brazil's ninth
digit, Mexico's 1 after +52) and the wa_id finds the person; a merged-away row leads to its
survivor; two live rows that turn out to be one person are merged (``contact_find_or_create``).
Items of one call that are one person are applied to one row, in order (the later value wins).

Set-based for the bulk call: one query finds every candidate row, one INSERT creates the new
contacts, one UPDATE changes the matched ones, one INSERT remembers the created ones for the key, one
activity-log entry records the call. Per item only what is rare costs queries: following a
merged-away row to its survivor, and merging two rows found to be one person. A concurrent
writer creating one of the numbers first makes the INSERT fail; the new contacts are then
created one by one, each matched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from api.known_contacts import remember_contacts
from api.models import ApiKey
from contacts.matching import contact_find_or_create
from contacts.models import Contact
from contacts.phones import equivalent_numbers, match_key
from contacts.services import log_activity
from contacts.zones import zone_span
from core.errors import ApplicationError

# The fields an API client writes; the phone identifies the person and is never changed here.
WRITABLE = ("first_name", "last_name", "language", "country", "time_zone", "attributes")


@dataclass
class ItemResult:
    index: int
    status: str  # "created", "updated" or "error"
    contact: Contact | None = None
    changed: list[str] = field(default_factory=list)
    error: ApplicationError | None = None


def contacts_upsert(*, key: ApiKey, items: Sequence[tuple[int, dict]]) -> list[ItemResult]:
    """Create or update one contact per item (``(index, validated data)``; data holds an E.164
    ``phone`` and any of ``WRITABLE``). Results in the items' order, one per item."""
    actor = key.actor
    people: dict[str, list[tuple[int, dict]]] = {}
    for index, data in items:
        people.setdefault(match_key(data["phone"]) or data["phone"], []).append((index, data))
    results: dict[int, ItemResult] = {}
    with transaction.atomic():
        found = _match_all(list(people), actor=actor)
        creating = {person: group for person, group in people.items() if person not in found}
        created, taken_meanwhile = _create_all(creating, actor=actor)
        found.update(taken_meanwhile)  # their items update the row a concurrent writer created
        for person, contact in created.items():
            found[person] = contact
            first_index = people[person][0][0]
            results[first_index] = ItemResult(first_index, "created", contact)
        _update_all(people, found, results)
        # Only the contacts this call created: matching an existing number (any key can try one)
        # must not make the key receive that person's replies and opt-outs.
        remember_contacts(key, [r.contact.pk for r in results.values() if r.status == "created"])
        _log(actor, results)
    return [results[index] for index, _ in items]


def _match_all(people: list[str], *, actor) -> dict[str, Contact]:
    """The live contact for each person (match key) that has one: one query for them all."""
    forms = {form for person in people for form in equivalent_numbers(person)}
    if not forms:
        return {}
    wa_ids = [form.lstrip("+") for form in forms]
    holders: dict[str, dict[int, Contact]] = {}
    # Locked until the call commits: the UPDATE writes back what was read here (attributes are
    # merged into the stored ones), so no other writer may change these rows in between.
    candidates = Contact.objects.select_for_update().filter(Q(phone__in=forms) | Q(wa_id__in=wa_ids))
    for row in candidates.order_by("pk"):
        for number in filter(None, (row.phone, "+" + row.wa_id if row.wa_id else None)):
            holders.setdefault(match_key(number), {})[row.pk] = row
    found = {}
    for person in people:
        rows = list(holders.get(person, {}).values())
        if not rows:
            continue
        if len(rows) == 1 and rows[0].merged_into_id is None:
            found[person] = rows[0]
        else:  # a merged-away row, or two rows of one person: the matcher follows and merges
            found[person] = contact_find_or_create(phone=person, actor=actor)
    return found


def _new_contact(phone: str, data: dict) -> Contact:
    contact = Contact(phone=phone, **{name: data[name] for name in WRITABLE if name in data})
    contact.full_clean(validate_unique=False, validate_constraints=False)
    contact.zone_earliest, contact.zone_latest = zone_span(
        phone=contact.phone, wa_id=None, time_zone=contact.time_zone
    )
    return contact


def _create_all(
    creating: dict[str, list[tuple[int, dict]]], *, actor
) -> tuple[dict[str, Contact], dict[str, Contact]]:
    """(created, found instead): one INSERT for the new people, each from its first item; one by
    one if a concurrent writer took one of the numbers meanwhile, whose row is then found instead."""
    if not creating:
        return {}, {}
    new = {person: _new_contact(group[0][1]["phone"], group[0][1]) for person, group in creating.items()}
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(list(new.values()))
        return new, {}
    except IntegrityError:
        pass
    created, found = {}, {}
    for person, contact in new.items():
        try:
            with transaction.atomic():
                contact.pk = None
                contact.save()
            created[person] = contact
        except IntegrityError:
            found[person] = contact_find_or_create(phone=person, actor=actor)
    return created, found


def _update_all(people, found: dict[str, Contact], results: dict[int, ItemResult]) -> None:
    """Apply every item to its person's row in order, then one UPDATE for the rows that changed."""
    now = timezone.now()
    changed_rows: dict[int, Contact] = {}
    fields: set[str] = set()
    for person, group in people.items():
        contact = found[person]
        for index, data in group:
            if index in results:  # the item that created the row
                continue
            changed = _apply(contact, data)
            results[index] = ItemResult(index, "updated", contact, changed)
            if changed:
                changed_rows[contact.pk] = contact
                fields.update(changed)
    if not changed_rows:
        return
    if "time_zone" in fields:
        fields |= {"zone_earliest", "zone_latest"}
    for contact in changed_rows.values():
        contact.updated_at = now
        contact.zone_earliest, contact.zone_latest = zone_span(
            phone=contact.phone, wa_id=contact.wa_id, time_zone=contact.time_zone
        )
    Contact.objects.bulk_update(list(changed_rows.values()), [*sorted(fields), "updated_at"])


def _apply(contact: Contact, data: dict) -> list[str]:
    """Set the item's fields on ``contact``; the names of those that changed. Attributes are
    merged: keys given overwrite, others are kept (as an import does)."""
    changed = []
    for name in WRITABLE:
        if name not in data:
            continue
        value = {**contact.attributes, **data[name]} if name == "attributes" else data[name]
        if getattr(contact, name) != value:
            setattr(contact, name, value)
            changed.append(name)
    return changed


def _log(actor, results: dict[int, ItemResult]) -> None:
    created = sorted({r.contact.pk for r in results.values() if r.status == "created"})
    updated = sorted({r.contact.pk for r in results.values() if r.status == "updated" and r.changed})
    if created or updated:
        log_activity(
            actor=actor, action="contact.api_upsert", details={"created": created, "updated": updated}
        )
