"""Writes for contacts: recording consent, consent wordings, the activity log, identity changes.

``record_consent`` is the only writer of the consent ledger and of current consent: the admin,
the REST API, the webhook (keywords, buttons, Meta's signals) and imports all call it.
``contact_change_phone`` is the one way a contact's number changes (the admin's form and Meta's
``user_changed_number`` both go through it). Merging lives in ``contacts.merging``, matching in
``contacts.matching``.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from contacts.ledger_chain import link_event
from contacts.models import (
    ON_THEIR_BEHALF_SOURCES,
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentWording,
    Contact,
    CurrentConsent,
    Purpose,
)
from contacts.selectors import (
    OPT_OUT_PRECEDENCE,
    consent_status,
    contact_answers_to,
    deciding_event,
    latest_whatsapp_opt_out,
)
from core.actors import Actor
from core.errors import ApplicationError

# Clocks disagree a little; an event "from the future" beyond this is a typing mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Evidence keys that only say where an event was typed in, not what the person did.
_EVIDENCE_STAMPS = frozenset({"recorded_in"})
# The refusal of an opt-in sent from an address that only leads to the contact (a merged-away row's).
OPT_IN_FROM_ANOTHER_ADDRESS = "opt_in_from_another_address"


def log_activity(*, actor: Actor, action: str, obj=None, details: dict | None = None) -> ActivityLogEntry:
    """Append one entry to the activity log. Every issue logs its staff and system actions here."""
    entry = activity_entry(actor=actor, action=action, obj=obj, details=details)
    entry.save()
    return entry


def log_activities(entries: list[ActivityLogEntry]) -> None:
    """Append many entries (each from :func:`activity_entry`) in one INSERT: a set-based writer's log."""
    ActivityLogEntry.objects.bulk_create(entries)


def activity_entry(*, actor: Actor, action: str, obj=None, details: dict | None = None) -> ActivityLogEntry:
    """An activity log entry, not yet saved: :func:`log_activity` saves one, :func:`log_activities` many."""
    entry = ActivityLogEntry(action=action, details=details or {})
    entry.set_actor(actor)
    if obj is not None:
        entry.object_type = obj._meta.label_lower
        entry.object_id = str(obj.pk)
        entry.object_repr = str(obj)[:200]
    return entry


def consent_wording_create(*, purpose: str, language: str, text: str, actor: Actor) -> ConsentWording:
    """Add the next version of the wording for (purpose, language); earlier versions stay as they were."""
    if not (text or "").strip():
        raise ApplicationError("The wording text is empty.", code="wording_empty", field="text")
    with transaction.atomic():
        # Serialise version numbers per (purpose, language): the unique constraint backs this up.
        latest = ConsentWording.objects.filter(purpose=purpose, language=language).aggregate(
            v=Max("version")
        )["v"]
        wording = ConsentWording(
            purpose=purpose,
            language=language,
            version=(latest or 0) + 1,
            text=text.strip(),
            created_by=actor.user if actor.is_staff_user else None,
        )
        _full_clean(wording)
        wording.save()
        log_activity(
            actor=actor, action="consent_wording.created", obj=wording, details={"version": wording.version}
        )
    return wording


def record_consent(
    *,
    contact: Contact,
    purpose: str,
    action: str,
    source: str,
    actor: Actor,
    occurred_at: datetime | None = None,
    wording: ConsentWording | None = None,
    wording_text: str = "",
    evidence: dict | None = None,
    signal_key: str = "",
    carried_source: str = "",
    sent_from: dict[str, str] | None = None,
) -> ConsentEvent:
    """Append one consent event and bring the contact's current consent for the purpose up to date.

    Current consent follows the order rule (``contacts.selectors.deciding_event``). A
    ``signal_key`` names the signal recorded (an inbound message, a ``user_preferences`` item…):
    the database keeps one event per key and purpose, so a replayed or concurrently processed
    signal returns the event already recorded instead of adding a second. A merged-away contact's
    consent is recorded on the contact it was merged into.

    Opting back in (docs/consent.md): after an opt-out, an opt-in someone records for the person
    (an import, staff, the API, a web form or checkout reported to us) needs the date it happened
    — ``occurred_at`` given, after the opt-out — and the person's own evidence; an import never
    opts in someone who opted out on WhatsApp. Checked under the contact's lock, so it is the
    opt-out recorded last that counts. ``sent_from`` (``wa_id``/``user_id``) is the address an
    opt-in the person sent came from (a START): it counts only from the contact's own address,
    not from one a merged-away row keeps, which may be someone else's number by now; such a
    refusal is logged for staff (``consent.opt_in_refused``). ``carried_source`` is for merges.
    """
    now = timezone.now()
    given_at = occurred_at
    occurred_at = occurred_at or now
    _check_consent_input(
        purpose=purpose,
        action=action,
        source=source,
        occurred_at=occurred_at,
        now=now,
        wording=wording,
        wording_text=wording_text,
        evidence=evidence,
    )
    if carried_source and (
        source != ConsentSource.MERGE
        or carried_source not in ConsentSource.values
        or carried_source == ConsentSource.MERGE
    ):
        raise ApplicationError(
            f"“{carried_source}” cannot be the carried source of a {source} event: only a merge's "
            "copy names the source of the event it copies.",
            code="invalid_carried_source",
            field="carried_source",
        )
    if contact.pk is None:
        raise ApplicationError("Save the contact before recording consent.", code="contact_unsaved")
    signal_key = (signal_key or "")[:200]

    refusal = None
    with transaction.atomic():
        # One writer at a time per person, so two events recorded together cannot leave current
        # consent pointing at the older one.
        contact = _lock_survivor(contact)
        if signal_key:
            existing = ConsentEvent.objects.filter(signal_key=signal_key, purpose=purpose).first()
            if existing is not None:
                return existing
        if action == ConsentAction.OPT_IN:
            refusal = _opt_in_refusal(
                contact,
                purpose=purpose,
                source=source,
                occurred_at=given_at,
                now=now,
                evidence=evidence,
                sent_from=sent_from,
            )
        if refusal is None:
            event = _append_event(
                contact,
                purpose=purpose,
                action=action,
                source=source,
                actor=actor,
                occurred_at=occurred_at,
                now=now,
                wording=wording,
                wording_text=wording_text,
                evidence=evidence,
                signal_key=signal_key,
                carried_source=carried_source,
            )
    if refusal is not None:
        logged = signal_key and ActivityLogEntry.objects.filter(
            action="consent.opt_in_refused", object_id=str(contact.pk), details__signal_key=signal_key
        )
        if refusal.code == OPT_IN_FROM_ANOTHER_ADDRESS and not (logged and logged.exists()):
            # Once per signal: a replayed START is refused again but not logged again.
            log_activity(
                actor=actor,
                action="consent.opt_in_refused",
                obj=contact,
                details={
                    "reason": refusal.code,
                    "purpose": purpose,
                    "source": source,
                    "sent_from": sent_from,
                    "signal_key": signal_key,
                    "evidence": evidence or {},
                },
            )
        raise refusal
    return event


def _append_event(
    contact: Contact,
    *,
    purpose,
    action,
    source,
    actor,
    occurred_at,
    now,
    wording,
    wording_text,
    evidence,
    signal_key,
    carried_source,
) -> ConsentEvent:
    """The insert, chain link and current consent of ``record_consent``, under its lock on ``contact``."""
    event = ConsentEvent(
        contact=contact,
        purpose=purpose,
        action=action,
        source=source,
        wording=wording,
        wording_text=(wording_text or "").strip(),
        evidence=evidence or {},
        occurred_at=occurred_at,
        recorded_at=now,
        signal_key=signal_key,
        carried_source=carried_source,
    )
    event.set_actor(actor)
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        # The same signal, recorded by a concurrent worker for another contact row.
        existing = ConsentEvent.objects.filter(signal_key=signal_key, purpose=purpose).first()
        if not signal_key or existing is None:
            raise
        return existing
    # Its link in the contact's chain, in the same transaction and under the same lock.
    link_event(event)
    refresh_current_consent(contact=contact, purpose=purpose)
    if actor.kind != Actor.SYSTEM:
        log_activity(
            actor=actor,
            action="consent.recorded",
            obj=contact,
            details={
                "event_id": event.pk,
                "purpose": purpose,
                "action": action,
                "source": source,
                "occurred_at": occurred_at.isoformat(),
            },
        )
    return event


def record_opt_out_everywhere(
    *, contact: Contact, source: str, actor: Actor, occurred_at=None, evidence=None, signal_key: str = ""
) -> list[ConsentEvent]:
    """Opt out of every purpose at once ("STOP ALL"), in one transaction (one event per purpose)."""
    with transaction.atomic():
        return [
            record_consent(
                contact=contact,
                purpose=purpose,
                action=ConsentAction.OPT_OUT,
                source=source,
                actor=actor,
                occurred_at=occurred_at,
                evidence=evidence,
                signal_key=signal_key,
            )
            for purpose in Purpose.values
        ]


def refresh_current_consent(*, contact: Contact, purpose: str) -> CurrentConsent | None:
    """Point current consent at the deciding event (the order rule). Call under the contact's lock."""
    event = deciding_event(contact=contact, purpose=purpose)
    if event is None:
        CurrentConsent.objects.filter(contact=contact, purpose=purpose).delete()
        return None
    current, _ = CurrentConsent.objects.update_or_create(
        contact=contact,
        purpose=purpose,
        defaults={"event": event, "status": consent_status(event), "since": event.effective_at},
    )
    return current


def _lock_survivor(contact: Contact) -> Contact:
    """Lock the contact's row, following ``merged_into`` to the row that stands for the person now."""
    seen = set()
    while True:
        locked = Contact.objects.select_for_update().only("pk", "merged_into_id").get(pk=contact.pk)
        if locked.merged_into_id is None:
            return contact if contact.pk == locked.pk else Contact.objects.get(pk=locked.pk)
        if locked.merged_into_id in seen:  # pragma: no cover - merging refuses cycles
            raise ApplicationError("These contacts were merged into each other.", code="merge_cycle")
        seen.add(locked.pk)
        contact = Contact(pk=locked.merged_into_id)


def consent_opt_in_check(
    *, contact: Contact, purpose: str, source: str, occurred_at: datetime | None, evidence: dict | None
) -> None:
    """Raise the ApplicationError ``record_consent`` would raise for this opt-in under the
    opting-back-in rule; writes nothing. The admin's opt-in form calls it to show the refusal on
    the field it is about, before anything is recorded.
    """
    refusal = _opt_in_refusal(
        contact,
        purpose=purpose,
        source=source,
        occurred_at=occurred_at,
        now=timezone.now(),
        evidence=evidence,
        sent_from=None,
    )
    if refusal is not None:
        raise refusal


def _opt_in_refusal(
    contact: Contact, *, purpose, source, occurred_at, now, evidence, sent_from
) -> ApplicationError | None:
    """Why an opt-in may not be recorded (docs/consent.md, "Opting back in"); None if it may.

    ``occurred_at`` is the time the caller gave (None: not given). ``contact`` is the survivor.
    """
    if sent_from is not None and not contact_answers_to(
        # Its identifiers as they are now, under the lock (the caller's instance may be older).
        contact=Contact.objects.only("phone", "wa_id", "user_id").get(pk=contact.pk),
        wa_id=sent_from.get("wa_id") or "",
        user_id=sent_from.get("user_id") or "",
    ):
        return ApplicationError(
            f"This opt-in came from {sent_from.get('wa_id') or sent_from.get('user_id') or 'an address'}, "
            f"which is not the address of {contact} (#{contact.pk}) but one a contact merged into it "
            "kept: that number may belong to someone else now. Nothing was recorded; if it is the "
            "person, record their opt-in with its evidence.",
            code=OPT_IN_FROM_ANOTHER_ADDRESS,
        )
    if source not in ON_THEIR_BEHALF_SOURCES:
        return None  # the person themselves (START, an opt-in link), or a merge's copy
    label = Purpose(purpose).label
    if source == ConsentSource.IMPORT:
        stop = latest_whatsapp_opt_out(contact=contact, purpose=purpose)
        if stop is not None:
            return ApplicationError(
                f"{contact} opted out of {label} on WhatsApp ({_describe_event(stop)}): an import "
                "never opts them in again. They can opt in again themselves, by sending START or "
                "through an opt-in link; or record their own new opt-in, one person at a time, with "
                "its date and evidence (source: staff, web form or checkout).",
                code="opt_in_import_after_whatsapp_opt_out",
                field="source",
            )
    deciding = deciding_event(contact=contact, purpose=purpose)
    if deciding is None or deciding.action != ConsentAction.OPT_OUT:
        return None
    opted_out = f"{contact} opted out of {label} ({_describe_event(deciding)})"
    if occurred_at is None:
        return ApplicationError(
            f"{opted_out}. To record that they opted in again, enter when they opted in again "
            "(after the opt-out).",
            code="opt_in_date_required",
            field="occurred_at",
        )
    if min(occurred_at, now) < deciding.effective_at + OPT_OUT_PRECEDENCE:
        return ApplicationError(
            f"{opted_out}. This opt-in is dated {_local(occurred_at)}, not after the opt-out: it "
            "would not change their consent. Enter when they opted in again.",
            code="opt_in_not_after_opt_out",
            field="occurred_at",
        )
    if not _says_what_they_did(evidence):
        return ApplicationError(
            f"{opted_out}. An opt-in recorded for them needs their own evidence of the new opt-in: "
            "what the person did and when (e.g. “signed the in-store form on 2026-11-30”), or a "
            "reference such as a form or ticket number.",
            code="opt_in_evidence_required",
            field="evidence",
        )
    return None


def _describe_event(event: ConsentEvent) -> str:
    source = ConsentSource(event.carried_source or event.source).label
    return f"{source}, {_local(event.effective_at)}"


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _says_what_they_did(evidence) -> bool:
    """Evidence beyond a stamp of where it was typed in: a non-empty value under some other key."""

    def says_something(value) -> bool:
        # Words or a reference: at least one letter or digit (invisible characters, whitespace,
        # punctuation, a bare number or a flag say nothing about what the person did).
        if isinstance(value, str):
            return any(ch.isalnum() for ch in value)
        if isinstance(value, dict):
            return any(says_something(v) for v in value.values())
        if isinstance(value, list):
            return any(says_something(v) for v in value)
        return False

    return isinstance(evidence, dict) and any(
        says_something(value) for key, value in evidence.items() if key not in _EVIDENCE_STAMPS
    )


def _check_consent_input(
    *, purpose, action, source, occurred_at, now, wording, wording_text, evidence
) -> None:
    _check_choice(purpose, Purpose, "purpose")
    _check_choice(action, ConsentAction, "action")
    _check_choice(source, ConsentSource, "source")
    if timezone.is_naive(occurred_at):
        raise ApplicationError(
            "The time of consent needs a time zone.", code="naive_datetime", field="occurred_at"
        )
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ApplicationError(
            "The time of consent is in the future; enter when the person actually gave or withdrew it.",
            code="occurred_in_future",
            field="occurred_at",
        )
    if action == ConsentAction.OPT_IN and wording is None and not (wording_text or "").strip():
        raise ApplicationError(
            "An opt-in needs the wording the person agreed to: pick a consent wording or enter the text.",
            code="wording_required",
            field="wording",
        )
    if wording is not None and wording.purpose != purpose:
        raise ApplicationError(
            f"The wording “{wording}” is for {wording.get_purpose_display()}, not {Purpose(purpose).label}.",
            code="wording_purpose_mismatch",
            field="wording",
        )
    if evidence is not None and not isinstance(evidence, dict):
        raise ApplicationError("Evidence must be a JSON object.", code="evidence_invalid", field="evidence")


def _check_choice(value: str, choices, field: str) -> None:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ApplicationError(
            f"“{value}” is not a valid {field}; use one of: {allowed}.", code=f"invalid_{field}", field=field
        )


def _full_clean(instance, exclude: Iterable[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ApplicationError(" ".join(messages), code="invalid", field=field) from exc
