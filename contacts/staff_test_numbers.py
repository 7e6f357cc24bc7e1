"""Staff test numbers: the phones campaign test sends go to (``contacts.TestNumber``).

Administrators alone add and deactivate them: a number an Editor could add would be a way round
the audience rules and the four-eyes approval. Each number's opt-in is recorded like anyone
else's (the ledger, source "staff", with the owner's confirmation as evidence), so a test send
passes the one consent check. A number that already is a customer's contact becomes a test
number only when the Administrator confirms it: it then leaves every segment (the compiler
excludes test numbers, active or not) and no campaign reaches it as a customer again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from contacts.matching import contact_match
from contacts.models import ConsentAction, ConsentSource, Contact, Purpose, TestNumber
from contacts.phones import normalize_phone
from contacts.services import consent_opt_in_check, log_activity, record_consent
from core.actors import Actor
from core.errors import ApplicationError

LABEL_MAX_LENGTH = TestNumber._meta.get_field("label").max_length
WORDING = "Yes, send {purpose} campaign test messages of this business to this staff phone on WhatsApp."


@dataclass(frozen=True)
class TestNumberPlan:
    """What adding a number will do: the phone (E.164), and the contact it already is, if any."""

    __test__ = False  # not a test class (pytest collects Test* names)

    phone: str
    contact: Contact | None
    test_number: TestNumber | None  # the deactivated test number it would bring back

    @property
    def is_customer(self) -> bool:
        return self.contact is not None and self.test_number is None


def _evidence(confirmation: str) -> dict:
    return {"recorded_in": "admin: staff test numbers", "confirmation": (confirmation or "").strip()}


def _require(actor: Actor, permission: str, doing: str) -> None:
    if not (actor.kind == Actor.USER and actor.user is not None and actor.user.has_perm(permission)):
        raise ApplicationError(
            f"Only Administrators may {doing} staff test numbers.", code="permission_denied"
        )


def test_number_add_check(
    *, phone: str, label: str, purposes: Iterable[str], evidence: str, confirm_customer: bool = False
) -> TestNumberPlan:
    """Every refusal ``test_number_add`` would raise, before anything is written; the plan if none.

    A number that is a customer's contact is refused (``test_number_is_customer``, on the field
    ``confirm_customer``) until ``confirm_customer``: the message says what it changes.
    """
    if not (label or "").strip():
        raise ApplicationError(
            "Give the phone a label, e.g. “Anna's work phone”.", code="invalid", field="label"
        )
    if len(label.strip()) > LABEL_MAX_LENGTH:
        raise ApplicationError(
            f"The label is longer than {LABEL_MAX_LENGTH} characters.", code="invalid", field="label"
        )
    purposes = list(purposes or [])
    if not purposes or any(purpose not in Purpose.values for purpose in purposes):
        raise ApplicationError(
            "Choose what the owner agreed to receive: marketing, service or both (a campaign's test send "
            "needs the opt-in of its purpose).",
            code="test_number_purpose_required",
            field="purposes",
        )
    if not any(ch.isalnum() for ch in evidence or ""):
        raise ApplicationError(
            "Say how the owner confirmed it, e.g. “confirmed by the owner in person on 2026-12-01”.",
            code="test_number_evidence_required",
            field="evidence",
        )
    number = normalize_phone((phone or "").strip())
    contact = contact_match(phone=number)
    existing = TestNumber.objects.filter(contact=contact).first() if contact is not None else None
    if existing is not None and existing.active:
        raise ApplicationError(
            f"{number} already is the test number “{existing.label}”.",
            code="test_number_duplicate",
            field="phone",
        )
    plan = TestNumberPlan(phone=number, contact=contact, test_number=existing)
    if contact is not None:
        for purpose in purposes:
            try:  # the opting-back-in rule, for a number whose owner opted out before
                consent_opt_in_check(
                    contact=contact,
                    purpose=purpose,
                    source=ConsentSource.STAFF,
                    occurred_at=timezone.now(),
                    evidence=_evidence(evidence),
                )
            except ApplicationError as exc:
                exc.field = "evidence"
                raise
    if plan.is_customer and not confirm_customer:
        raise ApplicationError(
            f"{number} is the contact {contact} (#{contact.pk}), who may be a customer. As a test number "
            "they leave every segment and no campaign reaches them as a customer any more (their "
            "consent history stays). Tick the confirmation to make this contact a test number.",
            code="test_number_is_customer",
            field="confirm_customer",
        )
    return plan


def test_number_add(
    *,
    phone: str,
    label: str,
    purposes: Iterable[str],
    evidence: str,
    actor: Actor,
    confirm_customer: bool = False,
) -> TestNumber:
    """Add a staff test number with its owner's opt-in, or bring back a deactivated one.

    The contact is created when nobody has the number; the opt-in for each purpose is recorded
    through ``record_consent`` (source staff, the Administrator as actor, ``evidence`` as the
    owner's confirmation), in one transaction with the test number.
    """
    _require(actor, "contacts.add_testnumber", "add")
    purposes = list(purposes or [])
    plan = test_number_add_check(
        phone=phone, label=label, purposes=purposes, evidence=evidence, confirm_customer=confirm_customer
    )
    label = label.strip()
    now = timezone.now()
    with transaction.atomic():
        contact = plan.contact
        if contact is None:
            contact = Contact(phone=plan.phone, first_name=label[:150])
            contact.full_clean()
            contact.save()
        if plan.test_number is not None:
            number = plan.test_number
            number.label, number.active = label, True
            number.save(update_fields=["label", "active"])
        else:
            number = TestNumber.objects.create(contact=contact, label=label, added_by=actor.user)
        for purpose in purposes:
            record_consent(
                contact=contact,
                purpose=purpose,
                action=ConsentAction.OPT_IN,
                source=ConsentSource.STAFF,
                actor=actor,
                occurred_at=now,
                wording_text=WORDING.format(purpose=purpose),
                evidence=_evidence(evidence),
            )
        log_activity(
            actor=actor,
            action="test_number.reactivated" if plan.test_number is not None else "test_number.added",
            obj=number,
            details={
                "phone": plan.phone,
                "contact": contact.pk,
                "purposes": purposes,
                "was_customer": plan.is_customer,
            },
        )
    return number


def test_number_deactivate(*, test_number: TestNumber, actor: Actor) -> bool:
    """No more test sends to it; the row stays (past test sends name it) and it stays out of
    segments. False when it was inactive already (nothing changed)."""
    _require(actor, "contacts.change_testnumber", "deactivate")
    with transaction.atomic():
        changed = TestNumber.objects.filter(pk=test_number.pk, active=True).update(active=False) == 1
        if changed:
            test_number.active = False
            log_activity(actor=actor, action="test_number.deactivated", obj=test_number)
    return changed


# Services named after their entity start with "test_": never collect them as tests where imported.
test_number_add_check.__test__ = False
test_number_add.__test__ = False
test_number_deactivate.__test__ = False
