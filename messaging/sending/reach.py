"""Reached people: the marketing frequency cap and the messaging-limit budget.

Both count what went, or may have gone (a send in progress or of unknown outcome), in SQL
aggregates, never a loop over contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class FrequencyCap:
    """At most MARKETING_FREQUENCY_CAP marketing messages per person per MARKETING_FREQUENCY_DAYS,
    for a batch of messages asked in order (one query for the whole batch, on first use).

    A message let through here counts against the next one for the same person in the batch, as
    it will have gone by then; the messages being asked are not counted from the database (they
    are the ones deciding).
    """

    def __init__(self, messages: Sequence[OutboundMessage], now: datetime):
        self.now = now
        self.cap = settings.MARKETING_FREQUENCY_CAP or 0
        self.period = timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
        self._messages = messages
        self._reached: dict[int, list[datetime]] | None = None

    def _load(self) -> dict[int, list[datetime]]:
        if self._reached is None:
            contact_ids = {m.contact_id for m in self._messages}
            asked = [m.pk for m in self._messages if m.pk is not None]
            rows = (
                _reached(self.now - self.period)
                .filter(contact_id__in=contact_ids, purpose=Purpose.MARKETING, is_reply=False)
                .exclude(pk__in=asked)
                .values_list("contact_id", "reached_at")
            )
            self._reached = {}
            for contact_id, reached_at in rows:
                self._reached.setdefault(contact_id, []).append(reached_at)
        return self._reached

    def verdict(self, message: OutboundMessage) -> Verdict:
        if self.cap <= 0:
            return Verdict(GO)
        reached = self._load().setdefault(message.contact_id, [])
        count = len(reached)
        if count < self.cap:
            reached.append(self.now)
            return Verdict(GO)
        # The message may go when enough of the counted ones have left the rolling period.
        oldest_that_must_leave = sorted(reached)[count - self.cap]
        return hold(
            HoldReason.FREQUENCY_CAP,
            oldest_that_must_leave + self.period,
            f"The contact already received {count} marketing messages in "
            f"{settings.MARKETING_FREQUENCY_DAYS} days (at most {self.cap}).",
        )


def frequency_cap_verdict(message: OutboundMessage, now: datetime) -> Verdict:
    """:class:`FrequencyCap` for one message."""
    return FrequencyCap([message], now).verdict(message)


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


class Budget:
    """The messaging-limit budget for a batch of messages whose person's window is closed, asked in
    order: a person already reached in the moving 24 hours costs nothing; each new one takes a unit
    while units are left. A constant number of queries for the batch, only when a limit applies.
    """

    def __init__(self, messages: Sequence[OutboundMessage], now: datetime):
        self.now = now
        self._messages = messages
        self._loaded = False
        self.limit: int | None = None
        self.used = 0
        self._counted: set[int] = set()
        self._reached: QuerySet[OutboundMessage] | None = None
        self._free_at: datetime | None = None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self.limit = current_messaging_limit()
        if self.limit is None:
            return
        asked = [m.pk for m in self._messages if m.pk is not None]
        self._reached = reached_outside_window(self.now).exclude(pk__in=asked)
        self.used = self._reached.values("contact_id").distinct().count()
        contact_ids = {m.contact_id for m in self._messages}
        self._counted = set(
            self._reached.filter(contact_id__in=contact_ids).values_list("contact_id", flat=True).distinct()
        )

    def verdict(self, message: OutboundMessage) -> Verdict:
        self._load()
        if self.limit is None or message.contact_id in self._counted:
            return Verdict(GO)  # no limit, or already counted today: reaching them again costs nothing
        if self.used < self.limit:
            self.used += 1
            self._counted.add(message.contact_id)
            return Verdict(GO)
        return hold(
            HoldReason.BUDGET,
            self._frees_up(),
            f"The messaging limit ({self.limit} people per 24 hours outside an open window) is used up.",
        )

    def _frees_up(self) -> datetime:
        """When the person reached least recently drops out of the 24 hours (asked once)."""
        if self._free_at is None:
            first_to_leave = (
                self._reached.values("contact_id")
                .annotate(last=Max("reached_at"))
                .order_by("last")
                .values_list("last", flat=True)
                .first()
            )
            fallback = self.now + timedelta(minutes=5)
            self._free_at = (first_to_leave + BUDGET_PERIOD) if first_to_leave else fallback
        return self._free_at
