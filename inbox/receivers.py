"""Signal receivers: a conversation follows every message a person sends (``messaging.signals``)."""

from django.dispatch import receiver

from inbox.conversations import record_inbound
from messaging.signals import inbound_message_received


@receiver(inbound_message_received, dispatch_uid="inbox.record_inbound")
def _inbound(sender, *, inbound, **kwargs):
    record_inbound(inbound)
