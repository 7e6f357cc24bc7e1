"""Merging two contact rows that turned out to be one person (docs/contacts.md).

The merged-away row keeps its identifiers and its ledger as evidence and points to the survivor
(``merged_into``); the matcher finds it by those identifiers and follows the pointer. The ledger
is append-only, so consent does not *move*: each event of the merged-away row is recorded again
on the survivor, with source ``merge``, its original time and a reference to the original, and
the order rule decides the survivor's current consent from both histories — a STOP on either
row is never outvoted by an older opt-in on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from contacts.identity import test_number_address_change
from contacts.models import ConsentEvent, ConsentSource, ConsentStatus, Contact, Purpose
from contacts.selectors import DECIDING_ORDER, decide_among, origin_of
from contacts.services import log_activity, record_consent
from contacts.signals import contact_merge_previewed, contact_merged
from contacts.zones import refresh_zone_spans, zone_span
from core.actors import Actor
from core.errors import ApplicationError

# Details the survivor takes from the merged-away row when it has none of its own. The name goes
# whole (first and last together), so a merge never makes up a name neither row had.
_COPIED_DETAILS = ("language", "country", "time_zone", "whatsapp_profile_name")
_REASON_LIMIT = 500


@dataclass(frozen=True)
class MergeResult:
    survivor: Contact
    merged: Contact
    carried_events: list[ConsentEvent]
    moved: dict[str, int]


@dataclass(frozen=True)
class ConsentLine:
    """One purpose's consent before (on each row) and after a merge, by the order rule."""

    purpose: str
    label: str
    survivor: str | None
    merged: str | None
    after: str | None

    @property
    def displayed(self) -> tuple[str, str, str]:
        """The three states as staff read them (survivor, merged row, after)."""
        return tuple(
            ConsentStatus(state).label if state else "No consent recorded"
            for state in (self.survivor, self.merged, self.after)
        )


@dataclass(frozen=True)
class MergePreview:
    survivor: Contact
    merged: Contact
    consent: list[ConsentLine]
    events_carried: int
    details_copied: dict[str, str]
    tags_added: list[str]
    attributes_added: list[str]
    moves: dict[str, int] = field(default_factory=dict)


def survivor_of(contacts: list[Contact]) -> Contact:
    """The row that survives when the system merges rows on its own: the oldest with an address.

    The oldest row is the one staff and imports built (names, tags, attributes); and the choice
    depends only on the rows, so two workers merging the same pair at once choose alike. A row
    with a number (phone or wa_id) comes first: the merged-away row keeps its identifiers, so a
    survivor known only by a user id would leave the person with no address to message — not
    even the confirmation of their STOP.
    """
    return min(contacts, key=lambda c: (not has_address(c), c.created_at, c.pk))


def has_address(contact: Contact) -> bool:
    """Whether the contact has a number to message (a phone or a wa_id); a user id alone is not one."""
    return bool(contact.phone or contact.wa_id)


def contact_merge(*, survivor: Contact, merged: Contact, actor: Actor, reason: str) -> MergeResult:
    """Merge ``merged`` into ``survivor``, in one transaction; refuses what would break the chain.

    Both rows are locked in id order (two merges of one pair cannot deadlock) and checked again
    under the lock, so a stale instance cannot merge a row twice.
    """
    reason = _check_reason(reason)
    with transaction.atomic():
        survivor, merged = _lock_pair(survivor, merged)
        _check_mergeable(survivor, merged)
        now = timezone.now()
        Contact.objects.filter(merged_into=merged).update(merged_into=survivor, updated_at=now)
        Contact.objects.filter(pk=merged.pk, merged_into__isnull=True).update(
            merged_into=survivor, merged_at=now, updated_at=now
        )
        merged.merged_into, merged.merged_at = survivor, now
        test_number_address_change(contact=survivor, actor=actor, **_address_to_move(survivor, merged))
        address_moved = _move_address(survivor, merged, now)
        carried = _carry_consent(survivor, merged, actor, reason)
        details, tags, attributes = _copy_details(survivor, merged, now)
        if address_moved or "time_zone" in details:
            _refresh_zones(survivor, merged)
        moved: dict[str, int] = {}
        for _receiver, answer in contact_merged.send(
            sender=Contact, survivor=survivor, merged=merged, actor=actor
        ):
            moved.update(answer or {})
        log_activity(
            actor=actor,
            action="contact.merged",
            obj=survivor,
            details={
                "survivor_id": survivor.pk,
                "merged_contact_id": merged.pk,
                "reason": reason,
                "merged_identifiers": {
                    "phone": merged.phone,
                    "wa_id": merged.wa_id,
                    "user_id": merged.user_id,
                    **address_moved,
                },
                "address_moved_to_survivor": sorted(address_moved),
                "consent_events": [
                    {"original": original.pk, "carried": event.pk} for original, event in carried
                ],
                "details_copied": details,
                "tags_added": tags,
                "attributes_added": attributes,
                "moved": moved,
            },
        )
    return MergeResult(
        survivor=survivor, merged=merged, carried_events=[event for _, event in carried], moved=moved
    )


def contact_merge_preview(*, survivor: Contact, merged: Contact) -> MergePreview:
    """What ``contact_merge`` would do, computed without writing (the confirmation page shows it)."""
    _check_saved(survivor, merged)
    survivor = Contact.objects.get(pk=survivor.pk)
    merged = Contact.objects.get(pk=merged.pk)
    _check_mergeable(survivor, merged)
    now = timezone.now()
    consent = []
    carried_count = 0
    for purpose, label in Purpose.choices:
        own = _ledger(survivor, purpose)
        theirs = _ledger(merged, purpose)
        carried_count += len(theirs)
        # A carried event counts from the original's effective time, as the original's source,
        # and is recorded now.
        carried = [
            (action, origin, effective, now, float("inf")) for action, origin, effective, _, _ in theirs
        ]
        consent.append(
            ConsentLine(
                purpose=purpose,
                label=label,
                survivor=decide_among(own),
                merged=decide_among(theirs),
                after=decide_among(own + carried),
            )
        )
    moves: dict[str, int] = {}
    for _receiver, answer in contact_merge_previewed.send(sender=Contact, survivor=survivor, merged=merged):
        moves.update(answer or {})
    details, _ = _details_to_copy(survivor, merged)
    details.update(_address_to_move(survivor, merged))
    return MergePreview(
        survivor=survivor,
        merged=merged,
        consent=consent,
        events_carried=carried_count,
        details_copied=details,
        tags_added=_tags_to_add(survivor, merged),
        attributes_added=sorted(set(merged.attributes or {}) - set(survivor.attributes or {})),
        moves=moves,
    )


# --- Checks --------------------------------------------------------------------------------------


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why these two contacts are one person (it is kept in the activity log).",
            code="merge_reason_required",
            field="reason",
        )
    return reason[:_REASON_LIMIT]


def _check_saved(survivor: Contact, merged: Contact) -> None:
    if survivor.pk is None or merged.pk is None:
        raise ApplicationError("Save both contacts before merging them.", code="contact_unsaved")


def _lock_pair(survivor: Contact, merged: Contact) -> tuple[Contact, Contact]:
    _check_saved(survivor, merged)
    if survivor.pk == merged.pk:
        _check_mergeable(survivor, merged)
    locked = {pk: Contact.objects.select_for_update().get(pk=pk) for pk in sorted({survivor.pk, merged.pk})}
    return locked[survivor.pk], locked[merged.pk]


def _check_mergeable(survivor: Contact, merged: Contact) -> None:
    """Refuse a merge into itself, of a merged-away row, or into one (which also rules out cycles).

    A survivor must be a live row and so must the merged one; a cycle would need the survivor to
    point (through merged rows) back to the merged row, which a live row never does.
    """
    if survivor.pk == merged.pk:
        raise ApplicationError("A contact cannot be merged into itself.", code="merge_same_contact")
    if merged.merged_into_id is not None:
        raise ApplicationError(
            f"{merged} (#{merged.pk}) was already merged into contact #{merged.merged_into_id}.",
            code="merge_already_merged",
        )
    if survivor.merged_into_id is not None:
        raise ApplicationError(
            f"{survivor} (#{survivor.pk}) was itself merged into contact #{survivor.merged_into_id}; "
            "merge into that contact instead.",
            code="merge_into_merged",
        )
    if not has_address(survivor) and has_address(merged) and not merged.user_id:
        # The survivor would be unreachable, and the merged row cannot give its number away: a
        # contact keeps at least one identifier.
        raise ApplicationError(
            f"{survivor} (#{survivor.pk}) has no phone number or WhatsApp id, so the person could not "
            f"be messaged after the merge; keep {merged} (#{merged.pk}) instead.",
            code="merge_survivor_without_address",
        )


# --- Consent -------------------------------------------------------------------------------------


def consent_event_copy(
    original: ConsentEvent, *, to: Contact, actor: Actor, evidence: dict, signal_key: str
) -> ConsentEvent:
    """Record ``original`` again on ``to`` as a ``merge`` copy; the order rule then decides.

    The copy keeps the original's *effective* time as its ``occurred_at``: that is the original
    ``occurred_at`` unless the original was dated ahead of when it was recorded, and then it must
    keep counting from when it was recorded, or a clock running ahead would let it outvote a STOP
    recorded on ``to`` in between. It keeps the original's source (through earlier copies too) as
    ``carried_source``, so the import rule reads it as what it was. ``evidence`` says why it was
    copied; the original's id, source and times are added.
    """
    origin = origin_of(original)
    return record_consent(
        contact=to,
        purpose=original.purpose,
        action=original.action,
        source=ConsentSource.MERGE,
        carried_source=origin if origin != ConsentSource.MERGE else "",
        actor=actor,
        occurred_at=original.effective_at,
        wording=original.wording,
        wording_text=original.wording_text,
        evidence={
            **evidence,
            "original_event_id": original.pk,
            "original_source": original.source,
            "original_occurred_at": original.occurred_at.isoformat(),
            "original_recorded_at": original.recorded_at.isoformat(),
        },
        signal_key=signal_key,
    )


def _carry_consent(
    survivor: Contact, merged: Contact, actor: Actor, reason: str
) -> list[tuple[ConsentEvent, ConsentEvent]]:
    """Copy each event of the merged row to the survivor, oldest first, keyed ``merge:<id>``."""
    why = {"merge": {"merged_contact_id": merged.pk, "survivor_id": survivor.pk, "reason": reason}}
    originals = ConsentEvent.objects.filter(contact=merged).order_by(*(f.lstrip("-") for f in DECIDING_ORDER))
    return [
        (
            original,
            consent_event_copy(
                original, to=survivor, actor=actor, evidence=why, signal_key=f"merge:{original.pk}"
            ),
        )
        for original in originals
    ]


def _ledger(contact: Contact, purpose: str) -> list[tuple[str, str, datetime, datetime, float]]:
    """The contact's events for the purpose as ``selectors.decide_among`` reads them."""
    return [
        (event.action, origin_of(event), event.effective_at, event.recorded_at, event.pk)
        for event in ConsentEvent.objects.filter(contact=contact, purpose=purpose).only(
            "action", "source", "carried_source", "evidence", "effective_at", "recorded_at"
        )
    ]


# --- The address ---------------------------------------------------------------------------------


def _address_to_move(survivor: Contact, merged: Contact) -> dict[str, str]:
    """The merged row's phone and wa_id, when the survivor has neither and the merged row keeps a
    user id (a contact keeps at least one identifier; ``_check_mergeable`` refuses the rest)."""
    if has_address(survivor) or not has_address(merged) or not merged.user_id:
        return {}
    return {name: getattr(merged, name) for name in ("phone", "wa_id") if getattr(merged, name)}


def _move_address(survivor: Contact, merged: Contact, now) -> dict[str, str]:
    """Give an address-less survivor the merged row's number, so the person stays reachable.

    Otherwise a merged-away row keeps its identifiers (the matcher follows them to the survivor);
    here the number is the person's only address, and the send path never messages a merged-away
    row. Logged with the merge (``address_moved_to_survivor``).
    """
    moving = _address_to_move(survivor, merged)
    if moving:
        Contact.objects.filter(pk=merged.pk).update(**dict.fromkeys(moving), updated_at=now)
        Contact.objects.filter(pk=survivor.pk).update(**moving, updated_at=now)
        for name, value in moving.items():
            setattr(merged, name, None)
            setattr(survivor, name, value)
    return moving


def _refresh_zones(*contacts: Contact) -> None:
    """The zone spans of rows whose number or time zone the merge changed with ``UPDATE``
    (``contacts.zones``), in the database and on the instances the caller holds."""
    refresh_zone_spans(contact.pk for contact in contacts)
    for contact in contacts:
        contact.zone_earliest, contact.zone_latest = zone_span(
            phone=contact.phone, wa_id=contact.wa_id, time_zone=contact.time_zone
        )


# --- Details, tags, attributes ---------------------------------------------------------------------


def _details_to_copy(survivor: Contact, merged: Contact) -> tuple[dict[str, str], dict]:
    changes = {name: getattr(merged, name) for name in _COPIED_DETAILS if not getattr(survivor, name)}
    if not (survivor.first_name or survivor.last_name):
        changes.update(first_name=merged.first_name, last_name=merged.last_name)
    changes = {name: value for name, value in changes.items() if value}
    attributes = {**(merged.attributes or {}), **(survivor.attributes or {})}
    return changes, attributes


def _tags_to_add(survivor: Contact, merged: Contact) -> list[str]:
    own = set(survivor.tags.values_list("pk", flat=True))
    return sorted(t.name for t in merged.tags.all() if t.pk not in own)


def _copy_details(survivor: Contact, merged: Contact, now) -> tuple[dict[str, str], list[str], list[str]]:
    changes, attributes = _details_to_copy(survivor, merged)
    added_attributes = sorted(set(attributes) - set(survivor.attributes or {}))
    if changes or added_attributes:
        Contact.objects.filter(pk=survivor.pk).update(**changes, attributes=attributes, updated_at=now)
        for name, value in {**changes, "attributes": attributes}.items():
            setattr(survivor, name, value)
    tags = _tags_to_add(survivor, merged)
    if tags:
        survivor.tags.add(*merged.tags.filter(name__in=tags))
    return changes, tags, added_attributes
