"""Messaging's part of a contact merge: its messages follow the person to the surviving row.

``contacts`` announces merges with signals (``contacts.signals``) because it may not import
``messaging``; these receivers are connected in ``MessagingConfig.ready``.
"""

from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from messaging.models import InboundMessage, OutboundMessage

OUTBOUND = "outbound messages"
INBOUND = "inbound messages"


def move_messages(sender, *, survivor: Contact, merged: Contact, **kwargs) -> dict[str, int]:
    """Re-point every message of ``merged`` to ``survivor`` (one UPDATE each) and keep the later window.

    Queued messages then go to the survivor's address with the survivor's consent, both read at
    send time; sent ones keep the consent event that authorised them (the proof), whichever row
    that event is on.
    """
    now = timezone.now()
    outbound = OutboundMessage.objects.filter(contact_id=merged.pk).update(
        contact_id=survivor.pk, updated_at=now
    )
    inbound = InboundMessage.objects.filter(contact_id=merged.pk).update(contact_id=survivor.pk)
    if merged.last_inbound_at is not None:
        moved = (
            Contact.objects.filter(pk=survivor.pk)
            .filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=merged.last_inbound_at))
            .update(last_inbound_at=merged.last_inbound_at, updated_at=now)
        )
        if moved:
            survivor.last_inbound_at = merged.last_inbound_at
    return {OUTBOUND: outbound, INBOUND: inbound}


def count_messages(sender, *, survivor: Contact, merged: Contact, **kwargs) -> dict[str, int]:
    """What ``move_messages`` would move, for the merge's confirmation page."""
    return {
        OUTBOUND: OutboundMessage.objects.filter(contact_id=merged.pk).count(),
        INBOUND: InboundMessage.objects.filter(contact_id=merged.pk).count(),
    }
