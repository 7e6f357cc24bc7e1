"""The contact matcher: which contact a phone number, wa_id or business-scoped user id belongs to.

One person, one contact (docs/contacts.md). A person is found by any form of their number
(Brazil's ninth digit, Mexico's 1 after +52: ``contacts.phones.equivalent_numbers``), by the
wa_id Meta reports and by their user id; a merged-away row is found by the identifiers it kept
and leads to the contact it was merged into. The webhook, imports and the API call this module
instead of looking contacts up themselves, so they all agree on who is who.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from contacts.identity import contact_change_phone, contact_change_user_id
from contacts.merging import consent_event_copy, contact_merge, has_address, survivor_of
from contacts.models import ActivityLogEntry, ConsentAction, Contact
from contacts.phones import InvalidPhoneNumber, equivalent_numbers, normalize_phone, phone_for_wa_id
from contacts.services import log_activity
from contacts.zones import refresh_zone_spans, zone_span
from core.actors import Actor
from core.bulk_sql import update_from_values
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

# How strongly a row's identifier ties it to what was looked up: the best rank comes first.
_BY_USER_ID, _BY_WA_ID, _BY_PHONE, _BY_EQUIVALENT_FORM = range(4)
# Another worker merged the same rows first: look again instead of failing.
_MERGED_MEANWHILE = {"merge_already_merged", "merge_into_merged"}


def contact_match(*, phone: str | None = None, wa_id: str | None = None, user_id: str | None = None):
    """The contact (never a merged-away row) these identifiers belong to, or None."""
    found = contact_matches(phone=phone, wa_id=wa_id, user_id=user_id)
    return found[0] if found else None


def contact_matches(
    *, phone: str | None = None, wa_id: str | None = None, user_id: str | None = None
) -> list[Contact]:
    """Every live contact holding one of these identities, strongest tie first.

    More than one means rows that are one person (``contact_find_or_create`` merges them). The
    phone may be typed in any format; the wa_id is Meta's (digits with the country code).
    """
    wa_id = (wa_id or "").strip()
    user_id = (user_id or "").strip()
    own_numbers = [n for n in (_normalized(phone), "+" + wa_id if wa_id.isdigit() else None) if n]
    numbers = {form for number in [*own_numbers, wa_id] for form in equivalent_numbers(number)}
    lookup = Q()
    if user_id:
        lookup |= Q(user_id=user_id)
    if wa_id:
        lookup |= Q(wa_id=wa_id)
    if numbers:
        lookup |= Q(phone__in=numbers) | Q(wa_id__in=[n.lstrip("+") for n in numbers])
    if not lookup:
        return []
    ranks: dict[int, int] = {}
    rows: dict[int, Contact] = {}
    for row in Contact.objects.filter(lookup).order_by("pk"):
        if user_id and row.user_id == user_id:
            rank = _BY_USER_ID
        elif wa_id and row.wa_id == wa_id:
            rank = _BY_WA_ID
        elif row.phone in own_numbers:
            rank = _BY_PHONE
        else:
            rank = _BY_EQUIVALENT_FORM
        live = _live(row)
        rows[live.pk] = live
        ranks[live.pk] = min(rank, ranks.get(live.pk, rank))
    return sorted(rows.values(), key=lambda c: (ranks[c.pk], c.created_at, c.pk))


def contact_find_or_create(
    *,
    wa_id: str = "",
    user_id: str = "",
    phone: str | None = None,
    profile_name: str = "",
    actor: Actor,
    sent_at: datetime | None = None,
) -> Contact | None:
    """The contact for a person WhatsApp names; a new one if nobody matches. Never implies consent.

    When the identity matches two live rows, they are one person: they are merged into the
    oldest (``merging.survivor_of``) and the merge is logged. Identifiers the contact lacks are
    filled in unless another row holds them (a merged-away row keeps its own). None when the
    identifiers are ones no contact can hold; the caller keeps the raw event.

    ``sent_at``, when the person wrote: an identity nobody holds now but a contact gave up after
    that moment (a phone change, a number handed on) was that contact's when they wrote, so a
    message delivered late or retried after the change — a STOP above all — reaches them rather
    than a new contact.
    """
    wa_id, user_id = (wa_id or "").strip(), (user_id or "").strip()
    if not (wa_id or user_id or phone):
        return None
    found = contact_matches(phone=phone, wa_id=wa_id, user_id=user_id)
    if not found and sent_at is not None:
        former = _former_holder(wa_id=wa_id, user_id=user_id, since=sent_at)
        if former is not None:
            return former
    if not found:
        created = _create(wa_id=wa_id, user_id=user_id, phone=phone, profile_name=profile_name, actor=actor)
        if created is not None:
            return created
        found = contact_matches(phone=phone, wa_id=wa_id, user_id=user_id)
        if not found:
            return None
    contact = _merge_all(found, actor=actor, why=_describe(wa_id=wa_id, user_id=user_id, phone=phone))
    _fill_in(contact, wa_id=wa_id, user_id=user_id, profile_name=profile_name)
    return contact


def contacts_adopt_wa_ids(pairs: list[tuple[Contact, str]], *, actor: Actor) -> None:
    """:func:`contact_adopt_wa_id` for many (contact, reported wa_id) pairs, as a batch of sends is
    answered: the common case — a contact with no wa_id yet, given one nobody holds — in one
    UPDATE; everything else (a different wa_id, one another row holds, one a concurrent writer
    took) one by one, through the merge rules.

    Only a contact with neither a time zone nor a phone number is placed by its wa_id
    (``zones.zone_span``), so only those have their span refreshed: a campaign's first sends to
    imported contacts change no span.
    """
    pairs = [(c, (w or "").strip()) for c, w in pairs]
    pairs = [(c, w) for c, w in pairs if w and c.wa_id != w]
    if not pairs:
        return
    counts = Counter(w for _, w in pairs)
    held = set(Contact.objects.filter(wa_id__in=list(counts)).values_list("wa_id", flat=True))
    simple = [(c, w) for c, w in pairs if not c.wa_id and w not in held and counts[w] == 1]
    simple_ids = {c.pk for c, _ in simple}
    rest = [(c, w) for c, w in pairs if c.pk not in simple_ids]
    if simple:
        try:
            with transaction.atomic():
                adopted = update_from_values(
                    Contact,
                    [("wa_id", "text")],
                    [(c.pk, w) for c, w in simple],
                    assignments="wa_id = v.wa_id, updated_at = %s",
                    params=[timezone.now()],
                    where="t.wa_id IS NULL",
                )
                placed_by_wa_id = Contact.objects.filter(pk__in=adopted, time_zone="").filter(
                    Q(phone__isnull=True) | Q(phone="")
                )
                refresh_zone_spans(placed_by_wa_id.values_list("pk", flat=True))
        except IntegrityError:
            adopted = set()  # taken meanwhile: each one through the merge rules
        for contact, wa_id in simple:
            if contact.pk in adopted:
                contact.wa_id = wa_id
            else:  # given a wa_id meanwhile, or the statement failed: through the merge rules
                rest.append((contact, wa_id))
    for contact, wa_id in rest:
        contact_adopt_wa_id(contact=contact, wa_id=wa_id, actor=actor)


def contact_adopt_wa_id(*, contact: Contact, wa_id: str, actor: Actor) -> Contact:
    """Keep the wa_id Meta reported for a message to ``contact``; returns who the person is now.

    Meta's answer to a send names the account the address reached, so a wa_id another live row
    holds proves the two rows are one person: they are merged (the oldest survives) instead of
    being left for staff to notice. The send path can call this with what Meta answered.
    """
    wa_id = (wa_id or "").strip()
    if not wa_id or contact.wa_id == wa_id:
        return contact
    holder = Contact.objects.filter(wa_id=wa_id).first()
    if holder is None:
        try:
            with transaction.atomic():
                Contact.objects.filter(pk=contact.pk).update(wa_id=wa_id, updated_at=timezone.now())
                refresh_zone_spans([contact.pk])  # a contact known by wa_id only is placed by it
        except IntegrityError:
            return contact_adopt_wa_id(contact=contact, wa_id=wa_id, actor=actor)  # taken meanwhile
        contact.wa_id = wa_id
        _zones_on(contact)
        return contact
    people = {c.pk: c for c in (_live(contact), _live(holder))}
    if len(people) == 1:
        return next(iter(people.values()))
    return _merge_all(
        list(people.values()),
        actor=actor,
        why=f"WhatsApp answered a message to contact #{contact.pk} with wa_id {wa_id}, "
        f"which contact #{holder.pk} holds",
    )


def contact_identity_changed(
    *,
    old_wa_id: str = "",
    old_user_id: str = "",
    new_wa_id: str = "",
    new_user_id: str = "",
    actor: Actor,
    evidence: dict,
) -> Contact | None:
    """Meta's ``user_changed_number`` / ``user_changed_user_id``: the same person, a new identity.

    The contact found by the old identity takes the new one (a number change clears what
    belonged to the old number, as a staff phone change does) instead of a second contact being
    created for the new number without consent. When the new identity already belongs to
    another live contact, the two are merged into that one, which holds the current address.
    Replaying the signal changes nothing. None when neither identity is known.
    """
    old = contact_match(wa_id=old_wa_id or None, user_id=old_user_id or None)
    new = contact_match(wa_id=new_wa_id or None, user_id=new_user_id or None)
    if old is None or (new is not None and new.pk == old.pk):
        return new
    if new is not None and new_wa_id and _previous_owner(new, new_user_id=new_user_id):
        # Numbers are recycled: a row that holds the new number with an opt-in is most likely the
        # number's previous owner, and merging would hand their opt-in to this person. So the row
        # gives the number up and keeps its ledger. Its opt-outs go along to the person's row all
        # the same: stopping is always safe, and one may be this person's own STOP sent from the
        # new number before Meta's notice came. Same person after all? Staff merge the two.
        _number_reassigned(new, to=old, wa_id=new_wa_id, actor=actor, evidence=evidence)
        new = None
    if new is not None:
        why = f"WhatsApp reported that {old_wa_id or old_user_id} is now {new_wa_id or new_user_id}"
        # The row holding the new identity survives; if it has no number (a row Meta named by user
        # id only), the merge gives it the old row's. Only when the old row could not give its
        # number away (nothing else would identify it) does the old row survive instead.
        stays_unreachable = not has_address(new) and has_address(old) and not old.user_id
        survivor, merged = (old, new) if stays_unreachable else (new, old)
        return contact_merge(survivor=survivor, merged=merged, actor=actor, reason=why).survivor
    if new_wa_id:
        return contact_change_phone(
            contact=old,
            phone=phone_for_wa_id(new_wa_id),
            actor=actor,
            wa_id=new_wa_id,
            user_id=new_user_id or None,
            evidence=evidence,
        )
    if new_user_id:
        return contact_change_user_id(contact=old, user_id=new_user_id, actor=actor, evidence=evidence)
    return old


def _previous_owner(holder: Contact, *, new_user_id: str) -> bool:
    """Whether ``holder`` looks like the previous owner of a number (not the person who has it now).

    A business-scoped user id is never recycled: the holder of the person's new user id is them.
    Otherwise a holder with an opt-in is treated as someone else, since merging would let their
    opt-in speak for this person; a holder with only opt-outs is merged (that is safe either way).
    """
    if new_user_id and holder.user_id == new_user_id:
        return False
    return holder.consent_events.filter(action=ConsentAction.OPT_IN).exists()


def _number_reassigned(holder: Contact, *, to: Contact, wa_id: str, actor: Actor, evidence: dict) -> None:
    """``holder`` gives up its phone and WhatsApp id, which now belong to ``to``'s person; logged.

    Its opt-outs are recorded on ``to`` as well (merge copies, so the order rule and the import
    rule read them as what they were): a STOP must never leave with a number.
    """
    with transaction.atomic():
        holder = Contact.objects.select_for_update().get(pk=holder.pk)
        former = {"phone": holder.phone, "wa_id": holder.wa_id}
        Contact.objects.filter(pk=holder.pk).update(
            phone=None, wa_id=None, number_reassigned_at=timezone.now(), updated_at=timezone.now()
        )
        refresh_zone_spans([holder.pk])  # no number left: its own time zone, or nothing known
        why = {"number_reassigned": {"from_contact_id": holder.pk, "to_contact_id": to.pk}}
        opt_outs = holder.consent_events.filter(action=ConsentAction.OPT_OUT).order_by("effective_at", "id")
        copied = []
        for opt_out in opt_outs:
            copy = consent_event_copy(
                opt_out, to=to, actor=actor, evidence=why, signal_key=f"reassigned:{opt_out.pk}"
            )
            copied.append([opt_out.pk, copy.pk])
        log_activity(
            actor=actor,
            action="contact.number_reassigned",
            obj=holder,
            details={
                **former,
                "now_with_contact_id": to.pk,
                "new_wa_id": wa_id,
                "opt_outs_copied": copied,
                **evidence,
            },
        )


# --- Helpers ---------------------------------------------------------------------------------------


_GAVE_UP_IDENTITY = ("contact.phone_changed", "contact.number_reassigned")


def _former_holder(*, wa_id: str, user_id: str, since: datetime) -> Contact | None:
    """The contact that gave up this wa_id or user id after ``since``, from the activity log."""
    held = Q()
    if wa_id:
        held |= Q(details__old__wa_id=wa_id) | Q(details__wa_id=wa_id)
    if user_id:
        held |= Q(details__old__user_id=user_id)
    if not held:
        return None
    entry = (
        ActivityLogEntry.objects.filter(held, action__in=_GAVE_UP_IDENTITY, occurred_at__gte=since)
        .order_by("occurred_at", "id")
        .only("object_id")
        .first()
    )
    holder = Contact.objects.filter(pk=entry.object_id).first() if entry is not None else None
    return _live(holder) if holder is not None else None


def _normalized(phone: str | None) -> str | None:
    if not (phone or "").strip():
        return None
    try:
        return normalize_phone(phone)
    except InvalidPhoneNumber:
        forms = equivalent_numbers(phone)  # a form only Meta uses, e.g. +552187654321
        return forms[0] if forms else None


def _live(contact: Contact) -> Contact:
    """The row that stands for the person: ``contact`` itself, or the one it was merged into."""
    seen = {contact.pk}
    while contact.merged_into_id is not None:
        if contact.merged_into_id in seen:  # pragma: no cover - merging refuses cycles
            raise ApplicationError("These contacts were merged into each other.", code="merge_cycle")
        seen.add(contact.merged_into_id)
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


def _merge_all(found: list[Contact], *, actor: Actor, why: str) -> Contact:
    survivor = survivor_of(found)
    for other in found:
        if other.pk == survivor.pk:
            continue
        try:
            survivor = contact_merge(
                survivor=survivor,
                merged=other,
                actor=actor,
                reason=f"{why}: contacts #{survivor.pk} and #{other.pk} are one person",
            ).survivor
        except ApplicationError as exc:
            if exc.code not in _MERGED_MEANWHILE:
                raise
            survivor = _live(Contact.objects.get(pk=survivor.pk))
        logger.info("contacts %s and %s merged: %s", survivor.pk, other.pk, why)
    return survivor


def _describe(*, wa_id: str, user_id: str, phone: str | None) -> str:
    named = [f"wa_id {wa_id}" if wa_id else "", f"user id {user_id}" if user_id else ""]
    named.append(f"phone {phone}" if phone else "")
    return "WhatsApp identity " + ", ".join(n for n in named if n)


def _create(
    *, wa_id: str, user_id: str, phone: str | None, profile_name: str, actor: Actor
) -> Contact | None:
    contact = Contact(
        phone=_normalized(phone) if phone else phone_for_wa_id(wa_id),
        wa_id=wa_id or None,
        user_id=user_id or None,
        whatsapp_profile_name=(profile_name or "")[:200],
    )
    try:
        contact.full_clean(validate_unique=False, validate_constraints=False)
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        return None  # a concurrent delivery created the same person first: the caller looks again
    except ValidationError:
        return None  # identifiers no contact can hold; the raw event still has them
    log_activity(
        actor=actor,
        action="contact.created_from_whatsapp",
        obj=contact,
        details={"wa_id": wa_id, "user_id": user_id},
    )
    return contact


def _fill_in(contact: Contact, *, wa_id: str, user_id: str, profile_name: str) -> None:
    """Identifiers the contact lacks and nobody else holds, and the profile name as last seen.

    The phone too: the number a wa_id stands for, when no row holds any form of it. Without it, a
    person known to us by wa_id alone is not found by staff who type their number, and a second
    row could be added for them beside their STOP.
    """
    changes: dict[str, str] = {}
    if wa_id and not contact.wa_id and not Contact.objects.filter(wa_id=wa_id).exists():
        changes["wa_id"] = wa_id
    number_of = contact.wa_id or changes.get("wa_id")
    phone = phone_for_wa_id(number_of) if number_of and not contact.phone else None
    if phone:
        forms = equivalent_numbers(phone)
        held = Contact.objects.filter(Q(phone__in=forms) | Q(wa_id__in=[f.lstrip("+") for f in forms]))
        if not held.exclude(pk=contact.pk).exists():
            changes["phone"] = phone
    if user_id and not contact.user_id and not Contact.objects.filter(user_id=user_id).exists():
        changes["user_id"] = user_id
    profile_name = (profile_name or "")[:200]
    if profile_name and profile_name != contact.whatsapp_profile_name:
        changes["whatsapp_profile_name"] = profile_name
    if not changes:
        return
    try:
        with transaction.atomic():
            Contact.objects.filter(pk=contact.pk).update(**changes, updated_at=timezone.now())
            if {"phone", "wa_id"} & set(changes):
                refresh_zone_spans([contact.pk])
    except IntegrityError:
        return  # another worker gave the identifier to a row meanwhile; the next message tries again
    for name, value in changes.items():
        setattr(contact, name, value)
    _zones_on(contact)


def _zones_on(contact: Contact) -> None:
    """The zone span on an instance whose identifiers were just written with ``UPDATE`` (the
    database's was refreshed alike: ``contacts.zones``)."""
    contact.zone_earliest, contact.zone_latest = zone_span(
        phone=contact.phone, wa_id=contact.wa_id, time_zone=contact.time_zone
    )
