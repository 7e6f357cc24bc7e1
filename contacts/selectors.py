"""Reads for contacts and consent."""

from datetime import datetime, timedelta

from django.db.models import Exists, Max, Q, QuerySet

from contacts.models import (
    WHATSAPP_SOURCES,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    CurrentConsent,
)
from contacts.phones import equivalent_numbers

# Meta's timestamps are whole seconds: an opt-out within this much before the latest event may
# really have come after it, so it wins (the order rule, docs/consent.md).
OPT_OUT_PRECEDENCE = timedelta(seconds=1)
DECIDING_ORDER = ("-effective_at", "-recorded_at", "-id")


def _from_source(*sources: str) -> Q:
    """Events from these sources, or copies a merge carried over of events from them.

    Copies made before ``carried_source`` existed name their original's source in the evidence.
    """
    return (
        Q(source__in=sources)
        | Q(source=ConsentSource.MERGE, carried_source__in=sources)
        | Q(source=ConsentSource.MERGE, carried_source="", evidence__original_source__in=sources)
    )


# The two kinds of event the import rule is about, whichever row they were first recorded on.
IMPORTED_OPT_IN = Q(action=ConsentAction.OPT_IN) & _from_source(ConsentSource.IMPORT)
WHATSAPP_OPT_OUT = Q(action=ConsentAction.OPT_OUT) & _from_source(*WHATSAPP_SOURCES)


def origin_of(event: ConsentEvent) -> str:
    """Where an event's consent first came from: its source, or for a merge's copy the original's."""
    if event.source == ConsentSource.MERGE and not event.carried_source:
        legacy = (event.evidence or {}).get("original_source")
        return legacy if legacy in ConsentSource.values else event.source
    return event.carried_source or event.source


def deciding_event(*, contact: Contact, purpose: str, at: datetime | None = None) -> ConsentEvent | None:
    """The event that decides the contact's consent for ``purpose`` (now, or as known at ``at``).

    The order rule: each event counts from its *effective time*, the earlier of when it happened
    and when it was recorded. Take the latest effective time T; an opt-out effective within one
    second before T wins; otherwise the latest event decides (ties: the later recorded). With
    ``at``, only events recorded by then count: the state as it was known at that instant.

    The import rule comes first: once the person has opted out on WhatsApp (a keyword, the
    button, Meta's signal), import opt-ins for the purpose no longer count at all — a file cannot
    speak for someone who told us themselves. Copies a merge carried over count as their original
    source, so no path (a merge by staff, by the matcher, by Meta's number change) gets around it.
    Three queries, each on the (contact, purpose, effective time) index.
    """
    events = ConsentEvent.objects.filter(contact=contact, purpose=purpose)
    if at is not None:
        events = events.filter(recorded_at__lte=at)
    events = events.exclude(IMPORTED_OPT_IN, Exists(events.filter(WHATSAPP_OPT_OUT)))
    latest = events.aggregate(t=Max("effective_at"))["t"]
    if latest is None:
        return None
    close_opt_out = (
        events.filter(action=ConsentAction.OPT_OUT, effective_at__gt=latest - OPT_OUT_PRECEDENCE)
        .order_by(*DECIDING_ORDER)
        .first()
    )
    return close_opt_out or events.order_by(*DECIDING_ORDER).first()


def decide_among(events: list[tuple[str, str, datetime, datetime, float]]) -> str | None:
    """The order rule of ``deciding_event`` over events held in memory; the consent state it gives.

    Each event is ``(action, origin, effective time, recorded at, id)`` — ``origin`` as
    ``origin_of`` gives it. The merge preview uses this for copies not recorded yet; a test holds
    it to ``deciding_event``.
    """
    if any(a == ConsentAction.OPT_OUT and origin in WHATSAPP_SOURCES for a, origin, *_ in events):
        events = [e for e in events if not (e[0] == ConsentAction.OPT_IN and e[1] == ConsentSource.IMPORT)]
    if not events:
        return None
    latest = max(effective for _, _, effective, _, _ in events)
    close_opt_outs = [
        e for e in events if e[0] == ConsentAction.OPT_OUT and e[2] > latest - OPT_OUT_PRECEDENCE
    ]
    action = max(close_opt_outs or events, key=lambda e: (e[2], e[3], e[4]))[0]
    return ConsentStatus.OPTED_IN if action == ConsentAction.OPT_IN else ConsentStatus.OPTED_OUT


def latest_whatsapp_opt_out(*, contact: Contact, purpose: str) -> ConsentEvent | None:
    """The person's latest opt-out made on WhatsApp for the purpose (carried copies too), or None."""
    return (
        ConsentEvent.objects.filter(WHATSAPP_OPT_OUT, contact=contact, purpose=purpose)
        .order_by(*DECIDING_ORDER)
        .first()
    )


def contact_answers_to(*, contact: Contact, wa_id: str = "", user_id: str = "") -> bool:
    """Whether the wa_id or user id is the contact's own address (any form of its number).

    Not merely one that leads to it: a merged-away row keeps its identifiers and the matcher
    follows them to the survivor, but that number may be someone else's by now.
    """
    wa_id, user_id = (wa_id or "").strip(), (user_id or "").strip()
    if user_id and contact.user_id == user_id:
        return True
    if user_id and contact.merged_from.filter(user_id=user_id).exists():
        # A business-scoped user id is never given to anyone else: still this person. (Merging
        # re-points rows merged into the merged row, so every merged-away row points here directly.)
        return True
    if not wa_id.isdigit():
        return False
    own = {form for number in (contact.phone, contact.wa_id) for form in equivalent_numbers(number)}
    return bool(own & set(equivalent_numbers("+" + wa_id)))


def consent_status(event: ConsentEvent | None) -> str | None:
    """The consent state a deciding event stands for (None: nothing recorded)."""
    if event is None:
        return None
    return ConsentStatus.OPTED_IN if event.action == ConsentAction.OPT_IN else ConsentStatus.OPTED_OUT


def current_consent(*, contact: Contact, purpose: str) -> CurrentConsent | None:
    return CurrentConsent.objects.select_related("event").filter(contact=contact, purpose=purpose).first()


def has_opt_in(*, contact: Contact, purpose: str) -> bool:
    return CurrentConsent.objects.filter(
        contact=contact, purpose=purpose, status=ConsentStatus.OPTED_IN
    ).exists()


def consent_history(*, contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's ledger, newest first by effective time (the order rule's order)."""
    return (
        ConsentEvent.objects.filter(contact=contact)
        .select_related("wording", "actor_user")
        .order_by(*DECIDING_ORDER)
    )


def contacts_by_consent(
    queryset: QuerySet[Contact], *, purpose: str, status: str | None
) -> QuerySet[Contact]:
    """Contacts in a consent state for a purpose; ``status=None`` means no event recorded yet.

    Indexed on current consent's (purpose, status, contact): the admin's consent filters use it.
    """
    if status is None:
        return queryset.exclude(consents__purpose=purpose)
    return queryset.filter(consents__purpose=purpose, consents__status=status)
