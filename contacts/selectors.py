"""Reads for contacts and consent."""

from django.db.models import QuerySet

from contacts.models import ConsentEvent, ConsentStatus, Contact, CurrentConsent


def current_consent(*, contact: Contact, purpose: str) -> CurrentConsent | None:
    return CurrentConsent.objects.select_related("event").filter(contact=contact, purpose=purpose).first()


def has_opt_in(*, contact: Contact, purpose: str) -> bool:
    return CurrentConsent.objects.filter(
        contact=contact, purpose=purpose, status=ConsentStatus.OPTED_IN
    ).exists()


def consent_history(*, contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's ledger, newest first, in the order that decides current consent."""
    return (
        ConsentEvent.objects.filter(contact=contact)
        .select_related("wording", "actor_user")
        .order_by("-occurred_at", "-recorded_at", "-id")
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
