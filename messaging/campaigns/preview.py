"""What a campaign will do before anyone approves it: who gets it, who does not and why, when.

:func:`campaign_preview` asks :func:`eligibility.campaign_recipients` — the query the dispatcher
sends from — for its counts in ONE aggregate query, grouped by exclusion reason, template language
and zone class (a few hundred groups at most). Each group's zone class then gets its moment and
quiet-hours verdict in Python (``schedule``), so the holds and the "too late" count come without a
second pass over the contacts. Conditional counts in the same query give what depends on each
contact's own history: the marketing frequency cap (``reach.frequency_cap_verdict`` set-based),
an open 24-hour window or a person already counted in the messaging-limit budget.

Approximations, stated where they are shown: the frequency cap and the budget are evaluated at the
campaign's first moment (for a local-time schedule, the earliest any clock reaches it), with the
messages known now; a person held by quiet hours and by the cap counts in both holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from contacts.models import Contact, Purpose
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.eligibility import (
    Exclusion,
    campaign_audience,
    campaign_recipients,
    recipients_of,
)
from messaging.campaigns.schedule import (
    ClassTiming,
    class_timing,
    known_zone_classes,
    moment_expression,
    scheduled_moment,
    zone_class,
)
from messaging.sending.reach import (
    BUDGET_PERIOD,
    WINDOW,
    _reached,
    budget_used,
    current_messaging_limit,
    reached_outside_window,
)


@dataclass(frozen=True)
class CampaignPreview:
    """The preview's figures. ``audience`` = ``eligible`` + the excluded; ``eligible`` =
    ``will_receive`` + ``too_late`` + ``no_common_hours``; the holds are part of ``will_receive``."""

    audience: int
    eligible: int
    will_receive: int
    excluded: dict[str, int]  # Exclusion value → count, every reason in the order checked
    languages: dict[str, int]  # template language → recipients who get it in that language
    first_send_at: datetime
    last_send_at: datetime | None  # the last scheduled moment or end of a quiet-hours hold
    held_quiet_hours: int
    held_quiet_hours_until: datetime | None  # when the last of them may go
    held_frequency_cap: int
    held_frequency_cap_until: datetime | None
    too_late: int  # could go only after latest_send_at: skipped
    no_common_hours: int  # their zones share no sending hours: skipped
    rate_per_second: int
    send_duration: timedelta  # will_receive at the rate
    messaging_limit: int | None  # people per 24 h outside an open window; None: unlimited
    budget_used: int  # already used in the 24 hours before the first moment
    budget_free: int  # recipients who cost nothing: window open, or already counted
    budget_needed: int  # recipients who use the budget
    first_day: int  # recipients who can get it in the first 24 hours
    budget_days: int  # the number of 24-hour periods the sending spreads over
    expected_duration: timedelta
    zone_classes: int = 0  # distinct zone spans among the eligible (for the curious)
    notes: list[str] = field(default_factory=list)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


def campaign_preview(campaign: Campaign, *, now: datetime | None = None) -> CampaignPreview:
    """The campaign's figures at ``now`` (default: the current time); see the module docstring."""
    now = now or timezone.now()
    audience = campaign_audience(campaign)
    marketing = audience.purpose == Purpose.MARKETING
    first_moment = earliest_moment(campaign, now=now)
    rows = _grouped_counts(
        recipients_of(audience, now=now), campaign, now=now, first_moment=first_moment, marketing=marketing
    )
    return _summarise(campaign, rows, now=now, first_moment=first_moment, marketing=marketing)


# --- the one query ---------------------------------------------------------------------------------


def earliest_moment(campaign: Campaign, *, now: datetime) -> datetime:
    """The first moment any clock reaches the campaign (no query: over every zone class)."""
    return min(scheduled_moment(campaign, c, now=now) for c in known_zone_classes())


def frequency_capped(at: datetime) -> QuerySet:
    """Contact ids at the marketing frequency cap at ``at`` (``reach.frequency_cap_verdict``:
    at least MARKETING_FREQUENCY_CAP business-initiated marketing messages reached in the period)."""
    cap = settings.MARKETING_FREQUENCY_CAP
    return (
        _recent_marketing(at)
        .values("contact_id")
        .annotate(reached=Count("pk"))
        .filter(reached__gte=cap)
        .values("contact_id")
    )


def frequency_cap_release(at: datetime) -> Subquery:
    """For a capped contact (``OuterRef("pk")``), the reach time of the cap-th newest counted
    message: the contact may get marketing again one period after it (``frequency_cap_verdict``'s
    "oldest that must leave")."""
    cap = settings.MARKETING_FREQUENCY_CAP
    counted = _recent_marketing(at).filter(contact_id=OuterRef("pk")).order_by("-reached_at")
    return Subquery(counted.values("reached_at")[cap - 1 : cap])


def _recent_marketing(at: datetime):
    period = timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
    return _reached(at - period).filter(purpose=Purpose.MARKETING, is_reply=False)


def _cap_applies(marketing: bool) -> bool:
    return marketing and bool(settings.MARKETING_FREQUENCY_CAP) and settings.MARKETING_FREQUENCY_CAP > 0


def _grouped_counts(
    recipients: QuerySet[Contact],
    campaign: Campaign,
    *,
    now: datetime,
    first_moment: datetime,
    marketing: bool,
) -> list[dict]:
    # Free of the budget: their window is open at their moment, or they were already reached
    # outside a window in the 24 hours before it (reach.Budget lets both through).
    window_open = _window_open_q(campaign, now=now, first_moment=first_moment)
    already_counted = Q(pk__in=reached_outside_window(first_moment).values("contact_id"))
    counts = {"n": Count("pk"), "free": Count("pk", filter=window_open | already_counted)}
    if _cap_applies(marketing):
        capped = Q(pk__in=frequency_capped(first_moment))
        release = frequency_cap_release(first_moment)
        counts.update(capped=Count("pk", filter=capped), cap_last=Max(release, filter=capped))
        if campaign.latest_send_at is not None:
            period = timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
            late = capped & Q(GreaterThan(release, campaign.latest_send_at - period))
            counts["cap_late"] = Count("pk", filter=late)
    return list(
        recipients.order_by()
        .values("exclusion", "send_language", "zone_earliest", "zone_latest")
        .annotate(**counts)
    )


def _window_open_q(campaign: Campaign, *, now: datetime, first_moment: datetime) -> Q:
    """The 24-hour window is open at the contact's moment (``rules.window_open``). Only someone who
    wrote in the last 24 hours can qualify (the cheap test first)."""
    recent = Q(last_inbound_at__gt=now - WINDOW)
    if campaign.schedule_kind != "local":
        return recent & Q(last_inbound_at__gt=first_moment - WINDOW)
    return recent & Q(GreaterThan(F("last_inbound_at"), moment_expression(campaign, now=now, shift=-WINDOW)))


# --- from groups to figures ------------------------------------------------------------------------


def _summarise(
    campaign: Campaign, rows: list[dict], *, now: datetime, first_moment: datetime, marketing: bool
) -> CampaignPreview:
    excluded = {reason.value: 0 for reason in Exclusion}
    languages: dict[str, int] = {}
    timings: dict[tuple[str, str], ClassTiming] = {}
    t = _Tally()
    for row in rows:
        n = row["n"]
        t.audience += n
        if row["exclusion"] is not None:
            excluded[row["exclusion"]] += n
            continue
        t.eligible += n
        pair = (row["zone_earliest"], row["zone_latest"])
        if pair not in timings:
            timings[pair] = class_timing(campaign, zone_class(*pair), now=now, marketing=marketing)
        timing = timings[pair]
        if timing.go_at is None:
            t.no_common_hours += n
            continue
        if timing.too_late:
            t.too_late += n
            continue
        late = row.get("cap_late", 0)
        receive = n - late
        t.too_late += late
        t.will_receive += receive
        languages[row["send_language"]] = languages.get(row["send_language"], 0) + receive
        t.free += min(row["free"], receive)
        t.first = _earlier(t.first, timing.moment)
        t.last = _later(t.last, timing.go_at)
        if timing.held_quiet_hours:
            t.held_quiet += receive
            t.quiet_until = _later(t.quiet_until, timing.go_at)
        capped = row.get("capped", 0) - late
        if capped > 0:
            t.held_cap += capped
            t.cap_until = _later(t.cap_until, row["cap_last"])
    figures = _figures(
        campaign, t, excluded=excluded, languages=languages, first_moment=first_moment, classes=len(timings)
    )
    figures.notes.extend(_notes(t, now=now, first_moment=first_moment, marketing=marketing))
    return figures


def _notes(t: _Tally, *, now: datetime, first_moment: datetime, marketing: bool) -> list[str]:
    """What the figures cannot say by themselves, for the people reading them."""
    notes = []
    if t.no_common_hours:
        notes.append(
            f"{t.no_common_hours:,} recipients have numbers spanning time zones that share no sending "
            "hours: they are skipped unless their contact's time zone is set."
        )
    if t.will_receive and first_moment > now + timedelta(minutes=1):
        what = "The frequency cap and the messaging-limit budget are" if marketing else "The budget is"
        notes.append(
            f"{what} counted with the messages sent so far, as at the first send time; messages sent "
            "before then can change them."
        )
    return notes


@dataclass
class _Tally:
    audience: int = 0
    eligible: int = 0
    will_receive: int = 0
    too_late: int = 0
    no_common_hours: int = 0
    held_quiet: int = 0
    held_cap: int = 0
    free: int = 0
    first: datetime | None = None
    last: datetime | None = None
    quiet_until: datetime | None = None
    cap_until: datetime | None = None


def _earlier(a, b):
    return b if a is None or (b is not None and b < a) else a


def _later(a, b):
    return b if a is None or (b is not None and b > a) else a


def _figures(campaign, t: _Tally, *, excluded, languages, first_moment, classes) -> CampaignPreview:
    rate = min(
        campaign.rate_cap or settings.WHATSAPP_MESSAGES_PER_SECOND, settings.WHATSAPP_MESSAGES_PER_SECOND
    )
    limit = current_messaging_limit()
    used = budget_used(first_moment) if limit is not None else 0
    needed = t.will_receive - t.free
    if limit is None:
        first_day, days, last_day = t.will_receive, 1, t.will_receive
    else:
        today = min(needed, max(limit - used, 0))
        left = needed - today
        first_day = t.free + today
        days = 1 + math.ceil(left / limit) if left else 1
        last_day = left - (days - 2) * limit if days > 1 else first_day
    send = timedelta(seconds=math.ceil(t.will_receive / rate))
    first = t.first or first_moment
    duration = max(send, (t.last - first) if t.last else timedelta(0))
    if days > 1:
        duration = max(duration, (days - 1) * BUDGET_PERIOD + timedelta(seconds=math.ceil(last_day / rate)))
    cap_until = t.cap_until + timedelta(days=settings.MARKETING_FREQUENCY_DAYS) if t.cap_until else None
    return CampaignPreview(
        audience=t.audience,
        eligible=t.eligible,
        will_receive=t.will_receive,
        excluded=excluded,
        languages=dict(sorted(languages.items())),
        first_send_at=first,
        last_send_at=t.last,
        held_quiet_hours=t.held_quiet,
        held_quiet_hours_until=t.quiet_until if t.held_quiet else None,
        held_frequency_cap=t.held_cap,
        held_frequency_cap_until=cap_until if t.held_cap else None,
        too_late=t.too_late,
        no_common_hours=t.no_common_hours,
        rate_per_second=rate,
        send_duration=send,
        messaging_limit=limit,
        budget_used=used,
        budget_free=t.free,
        budget_needed=needed,
        first_day=first_day,
        budget_days=days,
        expected_duration=duration,
        zone_classes=classes,
    )


# --- lists behind the figures ----------------------------------------------------------------------


def excluded_contacts(campaign: Campaign, reason: str) -> QuerySet[Contact]:
    """The members excluded for ``reason`` (an ``Exclusion`` value): the preview's links."""
    if reason not in Exclusion.values:
        raise ApplicationError(
            f"“{reason}” is not a reason a contact is excluded from a campaign; one of "
            + ", ".join(Exclusion.values)
            + ".",
            code="campaign_exclusion_unknown",
            field="reason",
        )
    return campaign_recipients(campaign).filter(exclusion=reason)


def sample_recipients(campaign: Campaign, n: int = 3) -> list[Contact]:
    """A few contacts who will receive the campaign, one per template language first (for the
    chat bubbles), each annotated with ``send_language``."""
    if n <= 0:
        return []
    recipients = campaign_recipients(campaign).filter(exclusion__isnull=True).order_by("pk")
    audience = campaign_audience(campaign)
    chosen: list[Contact] = []
    for language in (audience.default_language, *audience.languages):
        if len(chosen) >= n:
            break
        if any(c.send_language == language for c in chosen):
            continue
        found = recipients.filter(send_language=language).first()
        if found is not None:
            chosen.append(found)
    if len(chosen) < n:
        chosen += list(recipients.exclude(pk__in=[c.pk for c in chosen])[: n - len(chosen)])
    return chosen
