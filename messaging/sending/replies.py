"""What makes a message a reply, for every rule that treats replies differently.

A reply needs no opt-in, skips quiet hours, the frequency cap and the budget, and goes through a
halt started by hand (docs/sending.md), because the person started the conversation. So "reply" is
never taken from a flag alone: it is a message that answers an inbound message (``reply_to``) and
is no MARKETING template. ``send_message`` checks the rest when it queues one (the inbound message
is the contact's and was sent inside the window), and the database refuses a reply without its
inbound message or with the marketing purpose (constraints on ``OutboundMessage``). The send-time
rules, the last check before the request and ``HaltInfo.holds`` all ask :func:`is_reply`, so an
object that says ``is_reply`` without the rest — one the database would refuse, built in memory —
is treated as business-initiated: it needs consent and waits during any halt.
"""

from __future__ import annotations

from contacts.models import Purpose
from messaging.models import OutboundMessage


def is_reply(message: OutboundMessage) -> bool:
    """Whether ``message`` goes as a reply: flagged, answering an inbound message, not marketing."""
    return bool(message.is_reply and message.reply_to_id is not None and message.purpose != Purpose.MARKETING)
