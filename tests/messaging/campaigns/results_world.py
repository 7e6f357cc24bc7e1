"""Campaign messages written as rows, for the results tests: the data model, not the dispatcher.

``campaign_message`` writes one ``OutboundMessage`` of a campaign in the state asked, with the
times a message in that state has; ``reply`` and ``button_press`` write the person's answers to it.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from messaging.campaign_models import Campaign
from messaging.models import InboundMessage, MessageKind, MessageStatus, OutboundMessage
from tests.factories import ContactFactory

M = MessageStatus
_numbers = itertools.count(1)
# The times each state has: a read message was also sent and delivered.
_TIMES = {
    M.ACCEPTED: ("accepted_at",),
    M.SENT: ("accepted_at", "sent_at"),
    M.DELIVERED: ("accepted_at", "sent_at", "delivered_at"),
    M.READ: ("accepted_at", "sent_at", "delivered_at", "read_at"),
    M.FAILED: ("accepted_at", "failed_at"),
    M.SKIPPED: ("finished_at",),
    M.CANCELLED: ("finished_at",),
}


def campaign_message(
    campaign: Campaign,
    status: str,
    *,
    contact=None,
    at: datetime | None = None,
    is_test: bool = False,
    **fields,
) -> OutboundMessage:
    """One message of ``campaign`` in ``status`` to ``contact`` (a new one by default), its times ``at``."""
    at = at or timezone.now() - timedelta(hours=1)
    times = {name: at for name in _TIMES.get(status, ())}
    return OutboundMessage.objects.create(
        campaign=campaign,
        contact=contact or ContactFactory(),
        kind=MessageKind.TEMPLATE,
        purpose=campaign.purpose,
        status=status,
        is_test=is_test,
        **{**times, **fields},
    )


def messages(campaign: Campaign, status: str, count: int, **fields) -> list[OutboundMessage]:
    return [campaign_message(campaign, status, **fields) for _ in range(count)]


def answer(message: OutboundMessage, *, type: str = "text", text: str = "Thanks") -> InboundMessage:
    return InboundMessage.objects.create(
        wamid=f"wamid.results.in.{next(_numbers)}",
        contact=message.contact,
        type=type,
        text=text,
        payload={"type": type},
        in_reply_to=message,
        sent_at=timezone.now(),
    )


# Transaction bookkeeping, not a reading of data.
_BOOKKEEPING = ("SAVEPOINT", "RELEASE SAVEPOINT")


def reads(captured) -> list[str]:
    """The statements of a ``CaptureQueriesContext`` that read data: savepoints left out."""
    return [q["sql"] for q in captured if not q["sql"].upper().startswith(_BOOKKEEPING)]
