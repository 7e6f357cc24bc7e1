"""send_message: the consent, window, template and parameter rules, then a queued message."""

from contacts.models import Contact
from core.actors import Actor
from messaging.models import InboundMessage, OutboundMessage
from templates_app.models import MessageTemplate


def send_message(
    *,
    contact: Contact,
    actor: Actor,
    template: MessageTemplate | None = None,
    parameters: dict | None = None,
    text: str | None = None,
    reply_to: InboundMessage | None = None,
    is_reply: bool = False,
) -> OutboundMessage:
    """Queue one message, or refuse with an ``ApplicationError`` whose ``code`` says why.

    Exactly one of ``template`` (with ``parameters``) or ``text`` (free-form). ``is_reply`` marks a
    message answering the person inside their open window (support inbox, STOP confirmation):
    it needs no opt-in. Everything else is business-initiated and needs a current opt-in for its
    purpose (MARKETING → marketing; UTILITY, AUTHENTICATION → service). Free-form only inside
    the 24-hour window. Enqueued with ``transaction.on_commit``.
    """
    raise NotImplementedError
