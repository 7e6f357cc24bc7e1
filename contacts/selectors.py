"""Reads for contacts and consent."""

from datetime import datetime, timedelta

from django.db.models import Max, QuerySet

from contacts.models import ConsentAction, ConsentEvent, ConsentStatus, Contact, CurrentConsent

# Meta's timestamps are whole seconds: an opt-out within this much before the latest event may
# really have come after it, so it wins (the order rule, docs/consent.md).
OPT_OUT_PRECEDENCE = timedelta(seconds=1)
DECIDING_ORDER = ("-effective_at", "-recorded_at", "-id")


def deciding_event(*, contact: Contact, purpose: str, at: datetime | None = None) -> ConsentEvent | None:
    """The event that decides the contact's consent for ``purpose`` (now, or as known at ``at``).

    The order rule: each event counts from its *effective time*, the earlier of when it happened
    and when it was recorded. Take the latest effective time T; an opt-out effective within one
    second before T wins; otherwise the latest event decides (ties: the later recorded). With
    ``at``, only events recorded by then count: the state as it was known at that instant.
    """
    events = ConsentEvent.objects.filter(contact=contact, purpose=purpose)
    if at is not None:
        events = events.filter(recorded_at__lte=at)
    latest = events.aggregate(t=Max("effective_at"))["t"]
    if latest is None:
        return None
    close_opt_out = (
        events.filter(action=ConsentAction.OPT_OUT, effective_at__gt=latest - OPT_OUT_PRECEDENCE)
        .order_by(*DECIDING_ORDER)
        .first()
    )
    return close_opt_out or events.order_by(*DECIDING_ORDER).first()


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
