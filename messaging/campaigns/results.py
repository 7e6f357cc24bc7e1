"""A campaign's progress and results, read from its messages: each figure one aggregate in SQL.

Everything here counts the campaign's ``OutboundMessage`` rows (never its test sends, which are
real messages to staff and no part of the audience) with a constant number of queries whatever
the campaign's size: the progress is one query, the funnel one, the opt-outs one, the failures
and the skip reasons one each. The admin's progress bar polls ``campaign_progress`` every few
seconds, so it reads no more than it shows. docs/campaign-results.md says what each number means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from cloud_api.errors import lookup
from contacts.models import ConsentAction, ConsentEvent, ConsentSource
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.eligibility import Exclusion
from messaging.campaigns.materialise import CampaignSkip
from messaging.campaigns.replies import pressed, replied, reply_window
from messaging.models import HoldReason, MessageStatus, OutboundMessage

M = MessageStatus
# Every state a campaign message can be in, in the order the page shows them.
STATES: tuple[str, ...] = (
    M.QUEUED,
    M.SENDING,
    M.ACCEPTED,
    M.SENT,
    M.DELIVERED,
    M.READ,
    M.FAILED,
    M.SKIPPED,
    M.CANCELLED,
    M.UNKNOWN,
)
# "Needs review" is no status of its own: an unknown outcome past its deadline (the sweeper flags it).
NEEDS_REVIEW = "needs_review"
# Nor is "replied": the funnel's step, by ``campaigns.replies``' rule.
REPLIED = "replied"
# The recipient list's state filter: every state, the unknown ones that need review, those who replied.
STATE_FILTERS: dict[str, str] = {
    **{state: M(state).label for state in STATES},
    NEEDS_REVIEW: "Needs review (unknown past its deadline)",
    REPLIED: "Replied (the funnel's step)",
}
# Meta's statuses only move forward (sent → delivered → read): a message read was also delivered
# and sent, so each step counts the messages that reached it *at least*.
REACHED_SENT = (M.SENT, M.DELIVERED, M.READ)
REACHED_DELIVERED = (M.DELIVERED, M.READ)
# The campaigns whose progress still moves: the page polls while one is in these states.
LIVE_STATUSES = (CampaignStatus.SENDING, CampaignStatus.PAUSED)
# Finished, but statuses and replies keep arriving: the page polls, slower, for the reply window after.
FINISHED_STATUSES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
# How the page polls: quickly while sending or paused, slowly while a finished campaign settles.
FAST, SLOW = "fast", "slow"
RATE_WINDOW = timedelta(seconds=60)


def campaign_messages(campaign: Campaign) -> QuerySet[OutboundMessage]:
    """The campaign's messages to its recipients: test sends never count."""
    return OutboundMessage.objects.filter(campaign=campaign, is_test=False)


# --- Progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every state of ``STATES``
    total: int
    needs_review: int
    budget_held: int  # queued and waiting for the messaging-limit budget
    accepted_last_minute: int
    effective_rate: int  # messages per second: the campaign's cap or the global rate, the lower
    live: bool  # still moving: the page keeps polling
    settling: bool  # finished less than the reply window ago: statuses and replies still come in
    paused: bool
    now: datetime

    @property
    def pace(self) -> str:
        """How the page polls: ``FAST``, ``SLOW`` or not at all (empty)."""
        return FAST if self.live else SLOW if self.settling else ""

    @property
    def current_rate(self) -> float:
        """Messages WhatsApp accepted per second over the last minute."""
        return round(self.accepted_last_minute / RATE_WINDOW.total_seconds(), 2)

    @property
    def remaining(self) -> int:
        return self.counts[M.QUEUED] + self.counts[M.SENDING]

    @property
    def seconds_left(self) -> int | None:
        """At the effective rate; None while paused (nothing goes until it is resumed)."""
        if self.paused and self.remaining:
            return None
        return math.ceil(self.remaining / self.effective_rate)

    @property
    def expected_finish(self) -> datetime | None:
        """None when nothing is left to send, or while paused."""
        seconds = self.seconds_left
        return self.now + timedelta(seconds=seconds) if seconds else None

    @property
    def finish_text(self) -> str:
        """The expected finish in the shop's time zone, as the page shows it."""
        if not self.remaining:
            return "nothing left to send"
        finish = self.expected_finish
        return f"{timezone.localtime(finish):%Y-%m-%d %H:%M:%S}" if finish else "—"

    @property
    def notes(self) -> list[str]:
        """What the expected finish cannot know."""
        notes = []
        if self.paused and self.remaining:
            notes.append("Paused: nothing more goes until it is resumed.")
        if self.budget_held:
            notes.append(
                f"{self.budget_held} message{'s' if self.budget_held != 1 else ''} wait for the "
                "messaging-limit budget: they go as it frees up, so the campaign may finish later."
            )
        return notes

    def as_json(self) -> dict:
        finish = self.expected_finish
        return {
            "counts": {state: self.counts[state] for state in STATES},
            "total": self.total,
            "needs_review": self.needs_review,
            "budget_held": self.budget_held,
            "remaining": self.remaining,
            "current_rate": self.current_rate,
            "effective_rate": self.effective_rate,
            "expected_finish": finish.isoformat() if finish else None,
            "expected_finish_text": self.finish_text,
            "seconds_left": self.seconds_left,
            "notes": self.notes,
            "live": self.live,
            "settling": self.settling,
            "pace": self.pace,
        }


def effective_rate(campaign: Campaign) -> int:
    """The most messages per second the campaign may go at: its own cap or the global rate."""
    rate = settings.WHATSAPP_MESSAGES_PER_SECOND
    return max(min(campaign.rate_cap, rate) if campaign.rate_cap else rate, 1)


def campaign_progress(campaign: Campaign, *, now: datetime | None = None) -> Progress:
    """The count of each state, the unknown ones needing review, the budget holds and the messages
    accepted over the last minute: one aggregate query."""
    now = now or timezone.now()
    figures = campaign_messages(campaign).aggregate(
        total=Count("pk"),
        **{state: Count("pk", filter=Q(status=state)) for state in STATES},
        needs_review=Count("pk", filter=Q(status=M.UNKNOWN, needs_review=True)),
        budget_held=Count("pk", filter=Q(status=M.QUEUED, hold_reason=HoldReason.BUDGET)),
        accepted_last_minute=Count("pk", filter=Q(accepted_at__gt=now - RATE_WINDOW, accepted_at__lte=now)),
    )
    return Progress(
        counts={state: figures[state] for state in STATES},
        total=figures["total"],
        needs_review=figures["needs_review"],
        budget_held=figures["budget_held"],
        accepted_last_minute=figures["accepted_last_minute"],
        effective_rate=effective_rate(campaign),
        live=campaign.status in LIVE_STATUSES,
        settling=settling(campaign, now),
        paused=campaign.status == CampaignStatus.PAUSED,
        now=now,
    )


def settling(campaign: Campaign, now: datetime) -> bool:
    """Finished (completed or cancelled) less than ``CAMPAIGN_REPLY_ATTRIBUTION_HOURS`` ago: WhatsApp's
    delivered and read statuses and the replies the funnel counts still come in, for hours."""
    finished = campaign.finished_at
    return campaign.status in FINISHED_STATUSES and finished is not None and now - finished < reply_window()


# --- The funnel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    sent: int
    delivered: int
    read: int
    replied: int  # messages the person answered (``campaigns.replies``: quoted, or by time)
    pressed: int  # messages whose quick-reply button the person pressed (not the opt-out one)

    def steps(self) -> list[tuple[str, int]]:
        return [
            ("Sent", self.sent),
            ("Delivered", self.delivered),
            ("Read", self.read),
            ("Replied", self.replied),
            ("Pressed a quick-reply button", self.pressed),
        ]


def campaign_funnel(campaign: Campaign) -> Funnel:
    """Sent → delivered → read (each counts those that reached it at least) → replied → button
    pressed: one aggregate query, the replies by ``campaigns.replies``' rule (the segment
    condition's and the recipient list's too). PostgreSQL's JIT is off for every connection
    (config/settings.py): compiling this statement took longer than running it."""
    figures = campaign_messages(campaign).aggregate(
        sent=Count("pk", filter=Q(status__in=REACHED_SENT)),
        delivered=Count("pk", filter=Q(status__in=REACHED_DELIVERED)),
        read=Count("pk", filter=Q(status=M.READ)),
        replied=Count("pk", filter=replied()),
        pressed=Count("pk", filter=pressed()),
    )
    return Funnel(**figures)


# --- Opt-outs the campaign caused -------------------------------------------------------------


@dataclass(frozen=True)
class OptOuts:
    by_button: int  # people who pressed the opt-out button of one of its messages
    within_window: int  # recipients who opted out of its purpose within the window after it was sent
    total: int  # people in either (each counted once)
    window_hours: int


def attribution_window() -> timedelta:
    return timedelta(hours=settings.CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS)


def campaign_opt_outs(campaign: Campaign) -> OptOuts:
    """The people whose opt-out the campaign caused, one aggregate query over its recipients' opt-outs.

    Its button: an opt-out the webhook credited to one of its messages (``optout:<purpose>:<message
    uuid>`` or the template's opt-out button text; ``messaging.webhooks.consent`` puts the
    message's id in the event's evidence). Its time: an opt-out of the campaign's purpose that
    happened (``occurred_at``) within ``CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS`` after the person's
    message was sent. Meta's 131050 refusals are not counted: the person had stopped before.
    """
    window = attribution_window()
    # The evidence's id compared as text (what a JSON key gives on both databases): casting every
    # event's evidence to a number would fail the whole query on one malformed value.
    message_ids = campaign_messages(campaign).annotate(text_id=Cast("pk", CharField())).values("text_id")
    by_button = Q(source=ConsentSource.BUTTON, credited__in=message_ids)
    sent_before = campaign_messages(campaign).filter(
        contact_id=OuterRef("contact_id"),
        sent_at__lte=OuterRef("occurred_at"),
        sent_at__gte=ExpressionWrapper(OuterRef("occurred_at") - window, output_field=DateTimeField()),
    )
    in_window = Q(purpose=campaign.purpose) & Q(Exists(sent_before))
    figures = (
        ConsentEvent.objects.filter(
            action=ConsentAction.OPT_OUT,
            contact_id__in=campaign_messages(campaign).values("contact_id"),
        )
        .annotate(credited=KeyTextTransform("outbound_message_id", "evidence"))
        .aggregate(
            by_button=Count("contact_id", distinct=True, filter=by_button),
            within_window=Count("contact_id", distinct=True, filter=in_window),
            total=Count("contact_id", distinct=True, filter=by_button | in_window),
        )
    )
    return OptOuts(**figures, window_hours=settings.CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS)


def opt_out_caused(purpose: str) -> Exists:
    """``campaign_opt_outs``'s rule for one message (an outer ``OutboundMessage`` row): whether its
    recipient opted out by its button, or out of ``purpose`` within the attribution window after it
    was sent. The circuit breaker counts its window's messages with it (``campaigns.breaker``): one
    look-up by contact per message, where ``campaign_opt_outs`` reads all of a campaign's opt-outs."""
    return Exists(opt_outs_caused(purpose))


def opt_outs_caused(purpose) -> QuerySet[ConsentEvent]:
    """The opt-out events ``opt_out_caused`` looks for, for an outer ``OutboundMessage`` row: the
    compliance proof lists them per message (``compliance.campaign_proof``)."""
    sent_at = OuterRef("sent_at")
    by_button = Q(source=ConsentSource.BUTTON, credited=Cast(OuterRef("pk"), CharField()))
    in_window = Q(
        purpose=purpose,
        occurred_at__gte=sent_at,
        occurred_at__lte=ExpressionWrapper(sent_at + attribution_window(), output_field=DateTimeField()),
    )
    return (
        ConsentEvent.objects.filter(action=ConsentAction.OPT_OUT, contact_id=OuterRef("contact_id"))
        .annotate(credited=KeyTextTransform("outbound_message_id", "evidence"))
        .filter(by_button | in_window)
    )


# --- Failures and skips -----------------------------------------------------------------------


@dataclass(frozen=True)
class FailureGroup:
    code: int | None
    error_class: str
    count: int
    meaning: str


def failure_meaning(code: int | None, error_class: str) -> str:
    """Meta's meaning from the project's one error table (``cloud_api.errors``)."""
    if code is not None:
        row = lookup(code)
        return row.meaning if row else "A code that is not in Meta's table (see the message's error text)."
    if error_class == "marked_failed":
        return "The outcome stayed unknown; staff marked it failed."
    return "No code from WhatsApp (see the message's error text)."


def campaign_failures(campaign: Campaign) -> list[FailureGroup]:
    """The failed messages grouped by Meta's code (and our class), most frequent first: one query."""
    groups = (
        campaign_messages(campaign)
        .filter(status=M.FAILED)
        .order_by()
        .values("error_code", "error_class")
        .annotate(count=Count("pk"))
    )
    return sorted(
        (
            FailureGroup(
                code=g["error_code"],
                error_class=g["error_class"],
                count=g["count"],
                meaning=failure_meaning(g["error_code"], g["error_class"]),
            )
            for g in groups
        ),
        key=lambda g: (-g.count, g.code is None, g.code or 0, g.error_class),
    )


@dataclass(frozen=True)
class SkipGroup:
    reason: str
    count: int
    label: str


def skip_label(reason: str) -> str:
    """The preview's words for an exclusion, materialisation's for its own skips (too late, a
    duplicate address …); a send-time rule's reason (``sending.verdicts.SkipReason``) in words."""
    if not reason:
        return "No reason recorded"
    known = dict(Exclusion.choices).get(reason) or CampaignSkip.TEXT.get(reason)
    return known or reason.replace("_", " ").capitalize()


def campaign_skips(campaign: Campaign) -> list[SkipGroup]:
    """The skipped messages grouped by reason (kept in ``error_class``), most frequent first: one query."""
    groups = (
        campaign_messages(campaign)
        .filter(status=M.SKIPPED)
        .order_by()
        .values("error_class")
        .annotate(count=Count("pk"))
    )
    return sorted(
        (
            SkipGroup(reason=g["error_class"], count=g["count"], label=skip_label(g["error_class"]))
            for g in groups
        ),
        key=lambda g: (-g.count, g.reason),
    )


# --- The recipient list -----------------------------------------------------------------------


def campaign_recipient_messages(campaign: Campaign, *, state: str = "", code: int | None = None) -> QuerySet:
    """The campaign's messages with their contacts, filtered by a ``STATE_FILTERS`` key and a failure
    code, each with whether the person replied; ordered by id (the order they were written in)."""
    messages = campaign_messages(campaign)
    if state == NEEDS_REVIEW:
        messages = messages.filter(status=M.UNKNOWN, needs_review=True)
    elif state == REPLIED:
        messages = messages.filter(replied())
    elif state:
        messages = messages.filter(status=state)
    if code is not None:
        messages = messages.filter(error_code=code)
    return (
        messages.select_related("contact")
        .annotate(replied=ExpressionWrapper(replied(), output_field=BooleanField()))
        .order_by("pk")
    )
