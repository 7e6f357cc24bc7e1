"""Whether the person answered a campaign message: the one rule the funnel, the recipient list, its
CSV and the segment condition "replied to a campaign" all use (docs/campaign-results.md, "Replied").

Most people who write back do not quote the message they answer, so quoting alone misses most
replies. An inbound message from the recipient — their contact, or a row merged into it — is a
reply to a campaign message when it

- quotes it (WhatsApp's reply context, ``in_reply_to``), whenever it arrives; or
- quotes none of our messages, was sent no earlier than the campaign message was sent and at most
  ``CAMPAIGN_REPLY_ATTRIBUTION_HOURS`` after, and no other campaign message reached the same person
  in between (last touch: the latest campaign message sent before it takes it, the later of two sent
  in the same second by id). So an inbound message counts for at most one campaign message.

An inbound message recorded as a consent signal (a STOP or START keyword, the opt-out button:
``messaging.webhooks.consent`` keys its event ``wamid:<wamid>``) is not a reply: opt-outs are
counted as opt-outs, apart. Nor is Meta's ``system`` message (the person changed their number).

Everything is an ``EXISTS`` for an outer ``OutboundMessage`` row, so each caller counts or filters
with one statement, never a loop over recipients. The probes are index look-ups: a quote by the
``in_reply_to`` foreign key's index, an unquoted message by ``inbound_contact_idx`` (contact,
sent_at) over the window, the rows merged into the contact by ``merged_into``'s index, the later
campaign message by ``outbound_contact_idx``, the consent signal by the unique (signal_key, purpose)
index.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat

from contacts.models import ConsentEvent
from messaging.models import InboundMessage, OutboundMessage

# What an inbound quick-reply press of a template is (``InboundMessage.type``).
BUTTON_PRESS = "button"
# ``messaging.webhooks.consent.inbound_signal_key``'s prefix: the consent event an inbound message records.
SIGNAL_PREFIX = "wamid:"
# Meta's own messages about the person (a changed number): Meta speaking, not the person.
SYSTEM = "system"


def reply_window() -> timedelta:
    return timedelta(hours=settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS)


def answers() -> QuerySet[InboundMessage]:
    """Inbound messages the person wrote that are no consent signal (a keyword or the opt-out
    button); Meta's ``system`` messages are not the person writing."""
    signal = ConsentEvent.objects.exclude(signal_key="").filter(
        signal_key=Concat(Value(SIGNAL_PREFIX), OuterRef("wamid"))
    )
    return InboundMessage.objects.exclude(type=SYSTEM).filter(~Exists(signal))


def quoting_answers() -> QuerySet[InboundMessage]:
    """The answers that quote the outer campaign message."""
    return answers().filter(in_reply_to=OuterRef("pk"))


def _unquoted_in_window() -> Q:
    """For an inbound message inside an outer campaign message's query: it quotes none of our
    messages and arrived within the window after the campaign message, before any later one."""
    message_sent = OuterRef(OuterRef("sent_at"))
    later = OutboundMessage.objects.filter(
        contact_id=OuterRef(OuterRef("contact_id")),
        campaign__isnull=False,
        is_test=False,
        sent_at__lte=OuterRef("sent_at"),
    ).filter(Q(sent_at__gt=message_sent) | Q(sent_at=message_sent, pk__gt=OuterRef(OuterRef("pk"))))
    return Q(
        in_reply_to__isnull=True,
        sent_at__gte=OuterRef("sent_at"),
        sent_at__lte=ExpressionWrapper(OuterRef("sent_at") + reply_window(), output_field=DateTimeField()),
    ) & ~Q(Exists(later))


def replied() -> Q:
    """Whether the recipient of the outer campaign message replied to it (the module's rule).

    Three ``EXISTS`` rather than one with ``OR``s inside, so each is one index-driven probe: the
    quote, the contact's own unquoted messages, those of the rows merged into it.
    """
    by_time = _unquoted_in_window()
    own = answers().filter(by_time, contact_id=OuterRef("contact_id"))
    merged = answers().filter(by_time, contact__merged_into_id=OuterRef("contact_id"))
    return Q(Exists(quoting_answers())) | Q(Exists(own)) | Q(Exists(merged))


def pressed(label: str = "") -> Q:
    """Whether the recipient pressed a quick-reply button of the outer campaign message (or the one
    labelled ``label``, case-insensitively): a press always quotes the message. The opt-out button
    is a consent signal, so it is not a press here either."""
    presses = quoting_answers().filter(type=BUTTON_PRESS)
    if label:
        presses = presses.filter(text__iexact=label)
    return Q(Exists(presses))
