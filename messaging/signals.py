"""Signals that tell apps above ``messaging`` (the API's callbacks, the inbox) what happened to messages.

``messaging`` may not import them, so the news travels as a signal. Every one is sent inside the
transaction of the change, so a receiver that writes (the callback outbox) commits or rolls back
with it. Campaign and staff messages announce nothing: the writers filter on ``actor_kind``, in
Python, on messages they have already loaded, so the dispatcher's hot path costs no query for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

from core.actors import Actor

# ``message_ids`` (messages an API key sent) moved to ``state``, the status the writer set; a
# receiver reads the rows as they are now and acts only on those in that state (a row a concurrent
# writer moved elsewhere was not this writer's change).
message_states_changed = Signal()

# ``inbound`` (an ``InboundMessage`` just saved, not a system message) arrived from its contact.
inbound_message_received = Signal()

# ``message`` (an ``OutboundMessage`` just queued as a reply) answers its ``reply_to``: whoever
# queued it (an agent, a survey, the STOP confirmation), the person has been answered. Sent right
# after the message's INSERT, in the caller's transaction when there is one.
reply_queued = Signal()


def announce_states(messages: Iterable, state: str) -> None:
    """Announce that these loaded messages moved to ``state``; only those an API key sent."""
    ids = [message.pk for message in messages if message.actor_kind == Actor.API_KEY]
    if ids:
        message_states_changed.send(sender=None, message_ids=ids, state=state)


def announce_states_of(message_ids: Iterable[int], state: str) -> None:
    """The same for messages not loaded (a set-based writer's ids): receivers filter in SQL."""
    ids = list(message_ids)
    if ids:
        message_states_changed.send(sender=None, message_ids=ids, state=state)
