"""Identity changes: a contact's phone number or business-scoped user id changes.

A new number clears what belonged to the old one (its WhatsApp id and user id), so messages go
to the new number and not to whoever has the old one now; consent stays with the person, who is
the contact (docs/contacts.md, "Phone changes"). Staff (the admin's save) and Meta's identity
signals (``contacts.matching``) both go through here.

A staff test number's contact is the exception to "consent stays": its opt-in was recorded by an
Administrator for one staff phone, and a test send goes wherever the contact's number points. So
its number changes only for an Administrator (``contacts.change_testnumber``) or WhatsApp's own
notice, and the test number is deactivated with it (``test_number_address_change``).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, TestNumber
from contacts.phones import equivalent_numbers, normalize_phone
from contacts.services import log_activity
from contacts.zones import refresh_zone_spans, zone_span
from core.actors import Actor
from core.errors import ApplicationError

TEST_NUMBER_PERMISSION = "contacts.change_testnumber"


def contact_change_phone(
    *,
    contact: Contact,
    phone: str | None,
    actor: Actor,
    wa_id: str | None = None,
    user_id: str | None = None,
    evidence: dict | None = None,
) -> Contact:
    """Give the contact a new phone number; what Meta told us about the old number goes with it.

    The send address prefers the wa_id Meta reported (``messaging.sending.rules
    .recipient_address``), so a wa_id left over from the old number would keep every message
    going there — to whoever has that number now. A different number therefore clears the
    wa_id, the business-scoped user id (Meta issues a new one with a new number) and
    ``not_on_whatsapp_since``; the same number in another form (Brazil's ninth digit, Mexico's
    1) keeps them. Meta's ``user_changed_number`` passes the new ``wa_id``/``user_id`` it reports,
    which are set instead. Consent stays: it belongs to the person, who is this contact. The
    change is logged as ``contact.phone_changed`` with the old and new values. Queued messages
    need nothing: their address and consent are read at send time.
    """
    with transaction.atomic():
        current = Contact.objects.select_for_update().get(pk=contact.pk)
        change = _phone_change(current, phone, wa_id=wa_id, user_id=user_id)
        if change is None:
            return contact
        test_number_address_change(contact=current, actor=actor, phone=change["phone"], wa_id=change["wa_id"])
        Contact.objects.filter(pk=current.pk).update(**change, updated_at=timezone.now())
        refresh_zone_spans([current.pk])
        old = {name: getattr(current, name) for name in ("phone", "wa_id", "user_id")}
        unreachable = current.not_on_whatsapp_since
        details = {
            "old": {**old, "not_on_whatsapp_since": unreachable.isoformat() if unreachable else None},
            "new": {name: change[name] for name in ("phone", "wa_id", "user_id")},
            "cleared": [
                name
                for name in ("wa_id", "user_id", "not_on_whatsapp_since")
                if getattr(current, name) is not None and change[name] is None
            ],
        }
        if evidence:
            details["evidence"] = evidence
        log_activity(actor=actor, action="contact.phone_changed", obj=current, details=details)
    for name, value in change.items():
        setattr(contact, name, value)
    contact.zone_earliest, contact.zone_latest = zone_span(
        phone=contact.phone, wa_id=contact.wa_id, time_zone=contact.time_zone
    )
    return contact


def contact_phone_change_check(
    *, contact: Contact, phone: str | None, actor: Actor | None = None
) -> str | None:
    """Raise the ApplicationError ``contact_change_phone`` would raise for ``actor``; the
    normalised number if not. ``actor`` None is judged as staff without the test-number permission.

    Writes nothing: the admin's form calls it to show the problem on the phone field.
    """
    current = Contact.objects.get(pk=contact.pk)
    change = _phone_change(current, phone, wa_id=None, user_id=None)
    if change is None:
        return current.phone
    _test_number_in_the_way(current, actor=actor, phone=change["phone"], wa_id=change["wa_id"])
    return change["phone"]


def test_number_address_change(
    *, contact: Contact, actor: Actor, phone: str | None = None, wa_id: str | None = None
) -> TestNumber | None:
    """Before ``contact``'s number becomes ``phone`` / ``wa_id`` (None: not given): its active staff
    test number, deactivated, or None when it has none or the number stays the same (another form).

    The staff member's opt-in must not travel to a number an Administrator never added: a person
    without ``contacts.change_testnumber`` (an Editor) or an API key is refused
    (``test_number_phone_locked``); for an Administrator, or WhatsApp's notice that the person
    changed number, the change goes through and the test number stops taking test sends until an
    Administrator adds the new number with its owner's opt-in. Call it under the contact's lock,
    in the transaction that changes the number (the phone change and ``contacts.merging``).
    """
    number = _test_number_in_the_way(contact, actor=actor, phone=phone, wa_id=wa_id)
    if number is None:
        return None
    TestNumber.objects.filter(pk=number.pk, active=True).update(active=False)
    number.active = False
    log_activity(
        actor=actor,
        action="test_number.deactivated",
        obj=number,
        details={
            "reason": "the contact's number changed",
            "old": {"phone": contact.phone, "wa_id": contact.wa_id},
            "new": {"phone": phone, "wa_id": wa_id},
        },
    )
    return number


def _test_number_in_the_way(contact: Contact, *, actor: Actor | None, phone, wa_id) -> TestNumber | None:
    """The active test number a move of the contact's number to ``phone`` / ``wa_id`` would carry
    along (None: none, or the same number in another form); refused unless ``actor`` may."""
    known = {f for n in (contact.phone, contact.wa_id) for f in equivalent_numbers(n)}
    new = {f for n in (phone, wa_id) for f in equivalent_numbers(n)}
    if new <= known:
        return None
    number = TestNumber.objects.filter(contact_id=contact.pk, active=True).first()
    if number is None:
        return None
    allowed = actor is not None and (
        actor.kind == Actor.SYSTEM
        or (actor.kind == Actor.USER and actor.user.has_perm(TEST_NUMBER_PERMISSION))
    )
    if allowed:
        return number
    raise ApplicationError(
        f"{contact} is the staff test number “{number.label}”: its opt-in was recorded for "
        f"{contact.phone or contact.wa_id} only, and test sends would go to the new number on it. Only an "
        "Administrator may change its number (the test number is then deactivated until it is added "
        "again with the new number's opt-in).",
        code="test_number_phone_locked",
        field="phone",
    )


def contact_change_user_id(
    *, contact: Contact, user_id: str, actor: Actor, evidence: dict | None = None
) -> Contact:
    """Meta's ``user_changed_user_id``: the person's business-scoped user id changed, nothing else."""
    user_id = (user_id or "").strip()
    if not user_id:
        raise ApplicationError("The new user id is empty.", code="user_id_required", field="user_id")
    with transaction.atomic():
        current = Contact.objects.select_for_update().get(pk=contact.pk)
        _refuse_merged(current)
        if current.user_id == user_id:
            return contact
        _refuse_taken(current, "user_id", user_id, Contact.objects.filter(user_id=user_id))
        Contact.objects.filter(pk=current.pk).update(user_id=user_id, updated_at=timezone.now())
        log_activity(
            actor=actor,
            action="contact.user_id_changed",
            obj=current,
            details={"old": current.user_id, "new": user_id, "evidence": evidence or {}},
        )
    contact.user_id = user_id
    return contact


def _phone_change(current: Contact, phone, *, wa_id, user_id) -> dict | None:
    """The fields a phone change writes, or None when nothing changes; refuses with a reason."""
    _refuse_merged(current)
    new_phone = normalize_phone(phone) if (phone or "").strip() else None
    if new_phone == current.phone and wa_id in (None, current.wa_id) and user_id in (None, current.user_id):
        return None
    if new_phone is None and not wa_id:
        raise ApplicationError(
            "A contact needs a phone number: without it, WhatsApp's id for the old number would stay "
            "the address. To stop messages to this person, record an opt-out instead.",
            code="phone_required",
            field="phone",
        )
    known_forms = {f for n in (current.phone, current.wa_id) for f in equivalent_numbers(n)}
    same_number = new_phone in known_forms
    knew_no_number = current.phone is None and current.wa_id is None
    change = {
        "phone": new_phone,
        "wa_id": wa_id if wa_id is not None else (current.wa_id if same_number else None),
        "user_id": user_id
        if user_id is not None
        else (current.user_id if same_number or knew_no_number else None),
        "not_on_whatsapp_since": current.not_on_whatsapp_since if same_number else None,
    }
    if all(getattr(current, name) == value for name, value in change.items()):
        return None
    if change["phone"] and change["phone"] != current.phone:
        forms = equivalent_numbers(change["phone"])
        holders = Contact.objects.filter(Q(phone__in=forms) | Q(wa_id__in=[f.lstrip("+") for f in forms]))
        # Rows merged into this contact are the same person; only the unique column itself is
        # refused for them.
        holders = holders.exclude(Q(merged_into=current) & ~Q(phone=change["phone"]))
        _refuse_taken(current, "phone", change["phone"], holders)
    for name in ("wa_id", "user_id"):
        if change[name] and change[name] != getattr(current, name):
            _refuse_taken(current, name, change[name], Contact.objects.filter(**{name: change[name]}))
    return change


def _refuse_merged(current: Contact) -> None:
    if current.merged_into_id is not None:
        raise ApplicationError(
            f"{current} was merged into contact #{current.merged_into_id}; change that contact instead.",
            code="contact_merged",
        )


def _refuse_taken(current: Contact, field: str, value: str, holders) -> None:
    other = holders.exclude(pk=current.pk).order_by("pk").first()
    if other is None:
        return
    merged_note = f", which was merged into contact #{other.merged_into_id}" if other.merged_into_id else ""
    raise ApplicationError(
        f"{value} already belongs to contact #{other.pk} ({other}){merged_note}. If they are one "
        "person, merge the two contacts instead.",
        code=f"{field}_taken",
        field=field,
    )


# Named after its entity ("test_number_…"): never collect it as a test where imported.
test_number_address_change.__test__ = False
