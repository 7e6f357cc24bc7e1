"""Signal receivers: a conversation follows every message a person sends and every reply they get
(``messaging.signals``)."""

from django.dispatch import receiver

from inbox.conversations import record_answer, record_inbound
from messaging.signals import inbound_message_received, reply_queued


@receiver(inbound_message_received, dispatch_uid="inbox.record_inbound")
def _inbound(sender, *, inbound, **kwargs):
    record_inbound(inbound)


@receiver(reply_queued, dispatch_uid="inbox.record_answer")
def _answered(sender, *, message, **kwargs):
    record_answer(message)
