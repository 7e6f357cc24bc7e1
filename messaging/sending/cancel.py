"""Withdrawing queued messages before they go (a survey the person ended, …).

Only a message still ``queued`` is cancelled — one the dispatcher has claimed is past recall, and
the send-time rules decide it — so the UPDATE is conditional, and what it did not cancel is left
exactly as it was. Cancelled messages are final and were never sent (docs/sending.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from messaging.models import HoldReason, MessageStatus, OutboundMessage
from messaging.signals import announce_states_of


def messages_cancel_queued(*, message_ids: Iterable[int], reason: str, detail: str) -> list[int]:
    """Cancel those of ``message_ids`` still queued; returns the ids cancelled.

    The queued rows are locked first (the dispatcher's claim skips locked rows), so none of them
    can be claimed between the read and the UPDATE.
    """
    ids = list(message_ids)
    if not ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        cancelled = list(
            OutboundMessage.objects.select_for_update()
            .filter(pk__in=ids, status=MessageStatus.QUEUED)
            .values_list("pk", flat=True)
        )
        OutboundMessage.objects.filter(pk__in=cancelled).update(
            status=MessageStatus.CANCELLED,
            hold_reason=HoldReason.NONE,
            next_attempt_at=None,
            error_class=reason[:32],
            error_text=detail,
            finished_at=now,
            updated_at=now,
        )
        announce_states_of(cancelled, MessageStatus.CANCELLED)
    return cancelled
