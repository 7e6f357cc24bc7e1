"""Segment conditions about the messages we sent, registered with the contacts segment engine.

``contacts`` may not import ``messaging``, so the engine keeps a registry
(``contacts.segments.registry``) and ``MessagingConfig.ready`` adds these kinds to it. The
dispatch issue adds its own (read or replied to a campaign, pressed one of its buttons) here.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q

from contacts.segments.registry import INT, ConditionKind, FieldSpec, register
from messaging.models import MessageStatus, OutboundMessage

MAX_DAYS = 36500
# A message counts as received once WhatsApp reported it sent; delivered and read come after.
RECEIVED_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


def _compile_received(values, context) -> Q:
    since = context.now - timedelta(days=values["days"])
    messages = OutboundMessage.objects.filter(
        contact_id=OuterRef("pk"), status__in=RECEIVED_STATUSES, sent_at__gte=since
    )
    return Q(Exists(messages))


RECEIVED_MESSAGE_WITHIN_DAYS = ConditionKind(
    name="received_message_within_days",
    label="Received a message from us within N days",
    help="A message of ours was sent to the contact (sent, delivered or read) within the last N days.",
    fields=(FieldSpec("days", "Days", INT, min=1, max=MAX_DAYS),),
    compile=_compile_received,
    describe=lambda v: "received a message",
)


def register_segment_kinds() -> None:
    register(RECEIVED_MESSAGE_WITHIN_DAYS)
