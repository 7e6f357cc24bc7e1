"""Reached people: the marketing frequency cap and the messaging-limit budget.

Both count what went, or may have gone (a send in progress or of unknown outcome), in SQL
aggregates, never a loop over contacts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, Exists, ExpressionWrapper, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Purpose
from messaging.models import HoldReason, InboundMessage, MessageStatus, MessagingTier, OutboundMessage
from messaging.sending.verdicts import GO, Verdict, hold
from messaging.tiers import tier_limit

WINDOW = timedelta(hours=24)
BUDGET_PERIOD = timedelta(hours=24)


def _reached(since: datetime) -> QuerySet[OutboundMessage]:
    """Messages that reached (or may have reached) someone since ``since``, with ``reached_at``."""
    return OutboundMessage.objects.annotate(reached_at=Coalesce("accepted_at", "claimed_at")).filter(
        Q(accepted_at__gte=since)
        | Q(status__in=[MessageStatus.SENDING, MessageStatus.UNKNOWN], claimed_at__gte=since)
    )


def frequency_cap_verdict(message: OutboundMessage, now: datetime) -> Verdict:
    """At most MARKETING_FREQUENCY_CAP marketing messages per person per MARKETING_FREQUENCY_DAYS."""
    cap = settings.MARKETING_FREQUENCY_CAP
    if not cap or cap <= 0:
        return Verdict(GO)
    period = timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
    recent = (
        _reached(now - period)
        .filter(contact_id=message.contact_id, purpose=Purpose.MARKETING, is_reply=False)
        .exclude(pk=message.pk)
        .order_by("reached_at")
    )
    count = recent.count()
    if count < cap:
        return Verdict(GO)
    # The message may go when enough of the counted ones have left the rolling period.
    oldest_that_must_leave = recent.values_list("reached_at", flat=True)[count - cap]
    return hold(
        HoldReason.FREQUENCY_CAP,
        oldest_that_must_leave + period,
        f"The contact already received {count} marketing messages in "
        f"{settings.MARKETING_FREQUENCY_DAYS} days (at most {cap}).",
    )


def current_messaging_limit() -> int | None:
    """Unique people per 24 h outside a window: the latest tier Meta reported, else the setting."""
    tier = MessagingTier.objects.order_by("-reported_at", "-id").only("limit").first()
    if tier is not None:
        return tier.limit
    return tier_limit(settings.WHATSAPP_MESSAGING_LIMIT)


def reached_outside_window(now: datetime) -> QuerySet[OutboundMessage]:
    """Business-initiated messages of the moving 24 hours that went while the person's window was closed."""
    opened_window = InboundMessage.objects.filter(
        contact_id=OuterRef("contact_id"),
        sent_at__lte=OuterRef("reached_at"),
        sent_at__gt=ExpressionWrapper(OuterRef("reached_at") - WINDOW, output_field=DateTimeField()),
    )
    return _reached(now - BUDGET_PERIOD).filter(is_reply=False).exclude(Exists(opened_window))


def budget_used(now: datetime | None = None) -> int:
    """Unique people reached outside an open window in the moving 24 hours (one COUNT DISTINCT)."""
    now = now or timezone.now()
    return reached_outside_window(now).values("contact_id").distinct().count()


def budget_verdict(message: OutboundMessage, now: datetime) -> Verdict:
    limit = current_messaging_limit()
    if limit is None:
        return Verdict(GO)
    reached = reached_outside_window(now).exclude(pk=message.pk)
    if reached.filter(contact_id=message.contact_id).exists():
        return Verdict(GO)  # already counted today: reaching them again costs nothing
    used = reached.values("contact_id").distinct().count()
    if used < limit:
        return Verdict(GO)
    # The budget frees up when the person reached least recently drops out of the 24 hours.
    first_to_leave = (
        reached.values("contact_id")
        .annotate(last=Max("reached_at"))
        .order_by("last")
        .values_list("last", flat=True)
        .first()
    )
    until = (first_to_leave + BUDGET_PERIOD) if first_to_leave else now + timedelta(minutes=5)
    return hold(
        HoldReason.BUDGET,
        until,
        f"The messaging limit ({limit} people per 24 hours outside an open window) is used up.",
    )
