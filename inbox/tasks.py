"""Tasks of the support inbox: Meta's mark-as-read (and typing indicator), never in a request.

Safe to repeat: marking a message read twice is harmless at Meta. A failure is logged and left:
the next agent who opens the conversation after a new message marks it again.
"""

from __future__ import annotations

import logging

from cloud_api.backends import get_backend
from cloud_api.outcomes import CloudApiCallFailed
from messaging.models import InboundMessage

logger = logging.getLogger(__name__)


def mark_read(inbound_id: int, typing_indicator: bool = False) -> str:
    """Blue ticks on the person's message (and every earlier one), optionally "typing…"."""
    wamid = InboundMessage.objects.filter(pk=inbound_id).values_list("wamid", flat=True).first()
    if wamid is None:
        return "gone"
    try:
        get_backend().mark_read(wamid, typing_indicator=typing_indicator)
    except CloudApiCallFailed as exc:
        logger.warning("mark as read of inbound message %s failed: %s", inbound_id, exc)
        return "failed"
    return "typing" if typing_indicator else "read"
