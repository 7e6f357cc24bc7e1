"""The circuit breaker: a sending campaign whose recent sends fail, or make people opt out, pauses itself.

One bad template (a wrong variable, a message people did not expect) can burn the number's quality
rating long before anyone reads the results page. So after each batch the dispatcher asks, for the
campaigns it sent, whether the campaign's **window** — its last ``CAMPAIGN_BREAKER_WINDOW`` messages
that got an answer since it last started or resumed — shows

- a **failure rate** above ``CAMPAIGN_BREAKER_FAILURE_RATE``: messages ``failed`` with an error code
  from WhatsApp (refused on send, or reported failed by a status webhook), out of the window; or
- an **opt-out rate** above ``CAMPAIGN_BREAKER_OPT_OUT_RATE``: the window's recipients who opted out
  because of it (its opt-out button, or an opt-out of its purpose within
  ``CAMPAIGN_OPT_OUT_ATTRIBUTION_HOURS`` after their message was sent — the results page's
  attribution, ``results.opt_outs_caused``), out of the window,

once the window holds at least ``CAMPAIGN_BREAKER_MIN_SAMPLE`` messages. "Got an answer" means
accepted, sent, delivered or read (WhatsApp took it) or failed with WhatsApp's code; queued,
sending, unknown, skipped and cancelled messages, and failures of our own making (no code: a
variable that could not be bound, an unknown outcome marked failed by staff), are no evidence
about the template. The window is ordered by when WhatsApp answered (accepted, else failed).
Counting only since the latest start or resume means an Approver who resumes a tripped campaign
gets a fresh sample rather than the same numbers tripping it again at the next batch.

A trip is ``campaign_pause`` by the system with the numbers in the reason and in the transition's
``details`` (``cause: "breaker"``), and its authors and approver are told (``notices``). It never
resumes by itself: a person decides whether the template was at fault.

Cost: one aggregate query per campaign checked, whatever the campaign's size (the window is the
subquery's sort; each message's opt-out one look-up by its contact). The dispatcher calls
``campaigns_breaker_tick`` after each batch, which checks a campaign at most once every
``CHECK_SECONDS`` per process (docs/campaign-dispatch.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, DateTimeField, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus, CampaignTransition
from messaging.campaigns.notices import campaign_self_pause_notify
from messaging.campaigns.results import campaign_messages, opt_out_caused
from messaging.campaigns.workflow import campaign_pause
from messaging.models import MessageStatus, OutboundMessage

M = MessageStatus
CAUSE = "breaker"
# WhatsApp took these: each is evidence that the template goes.
TAKEN = (M.ACCEPTED, M.SENT, M.DELIVERED, M.READ)
FAILED_BY_WHATSAPP = Q(status=M.FAILED, error_code__isnull=False)
ANSWERED = Q(status__in=TAKEN) | FAILED_BY_WHATSAPP
# A campaign is checked at most once in this many seconds per dispatcher process (campaigns_breaker_tick):
# at the default 80 messages/s that is every ~160 sends, less than the window.
CHECK_SECONDS = 2.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_last_checked: dict[int, float] = {}


@dataclass(frozen=True)
class Window:
    answered: int
    failed: int
    opted_out: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.answered if self.answered else 0.0

    @property
    def opt_out_rate(self) -> float:
        return self.opted_out / self.answered if self.answered else 0.0


def campaigns_breaker_tick(campaign_ids: Iterable[int]) -> list[Campaign]:
    """The dispatcher's hook after each batch: ``campaign_breaker_check`` for the campaigns not checked
    in this process within ``CHECK_SECONDS`` (a batch is about a second of the rate: a check every
    other batch or so, and never more when batches come faster). The check's one query reads the
    campaign's answered messages (about 4 ms at 5,000, 25 ms at 50,000 on PostgreSQL here), so
    checking every batch would cost a large campaign a few percent of a dispatcher."""
    now = time.monotonic()
    for pk in [pk for pk, at in _last_checked.items() if now - at >= CHECK_SECONDS]:
        del _last_checked[pk]  # only the campaigns checked within the last CHECK_SECONDS are kept
    due = [pk for pk in set(campaign_ids) if pk not in _last_checked]
    for pk in due:
        _last_checked[pk] = now
    return campaign_breaker_check(due) if due else []


def campaign_breaker_check(campaign_ids: Iterable[int]) -> list[Campaign]:
    """Pause each sending campaign among ``campaign_ids`` whose window passes a threshold; the ones paused."""
    paused = []
    sending = Campaign.objects.filter(pk__in=set(campaign_ids), status=CampaignStatus.SENDING)
    for campaign in sending.only("pk", "name", "purpose", "status"):  # not the large frozen document
        window = campaign_breaker_window(campaign)
        reason = trip_reason(window)
        if reason and _pause(campaign, window, reason):
            paused.append(campaign)
    return paused


def campaign_breaker_window(campaign: Campaign) -> Window:
    """The counts of the campaign's window: one aggregate query over its messages."""
    figures = _window_messages(campaign).aggregate(
        answered=Count("pk"),
        failed=Count("pk", filter=FAILED_BY_WHATSAPP),
        opted_out=Count("contact_id", distinct=True, filter=Q(opt_out_caused(campaign.purpose))),
    )
    return Window(**figures)


def trip_reason(window: Window) -> str:
    """Why the window trips the breaker, in words with the numbers ('' = it does not)."""
    if window.answered < settings.CAMPAIGN_BREAKER_MIN_SAMPLE:
        return ""
    reasons = []
    if window.failure_rate > settings.CAMPAIGN_BREAKER_FAILURE_RATE:
        reasons.append(
            f"{percent(window.failure_rate)} of its last {window.answered} sends failed "
            f"(threshold {percent(settings.CAMPAIGN_BREAKER_FAILURE_RATE)})"
        )
    if window.opt_out_rate > settings.CAMPAIGN_BREAKER_OPT_OUT_RATE:
        reasons.append(
            f"{percent(window.opt_out_rate)} of the recipients of its last {window.answered} sends "
            f"opted out (threshold {percent(settings.CAMPAIGN_BREAKER_OPT_OUT_RATE)})"
        )
    return "Paused by the circuit breaker: " + "; ".join(reasons) + "." if reasons else ""


def percent(rate: float) -> str:
    """0.23 → '23 %', 0.025 → '2.5 %'."""
    return f"{round(rate * 100, 1):g} %"


def _window_messages(campaign: Campaign) -> QuerySet[OutboundMessage]:
    """The campaign's last ``CAMPAIGN_BREAKER_WINDOW`` answered messages since it last went ``sending``."""
    since = (
        CampaignTransition.objects.filter(campaign_id=campaign.pk, to_status=CampaignStatus.SENDING)
        .order_by("-occurred_at", "-id")
        .values("occurred_at")[:1]
    )
    latest = (
        campaign_messages(campaign)
        .filter(ANSWERED)
        .annotate(answered_at=Coalesce("accepted_at", "failed_at"))
        .filter(answered_at__gte=Coalesce(Subquery(since), Value(_EPOCH), output_field=DateTimeField()))
        .order_by("-answered_at", "-pk")
        .values("pk")[: settings.CAMPAIGN_BREAKER_WINDOW]
    )
    return OutboundMessage.objects.filter(pk__in=latest)


def _pause(campaign: Campaign, window: Window, reason: str) -> bool:
    details = {
        "cause": CAUSE,
        "answered": window.answered,
        "failed": window.failed,
        "opted_out": window.opted_out,
        "failure_threshold": settings.CAMPAIGN_BREAKER_FAILURE_RATE,
        "opt_out_threshold": settings.CAMPAIGN_BREAKER_OPT_OUT_RATE,
    }
    actor = Actor.system("Circuit breaker")
    try:
        paused = campaign_pause(campaign=campaign, actor=actor, reason=reason, details=details)
    except ApplicationError as exc:
        if exc.code != "campaign_wrong_status":
            raise
        return False  # someone paused, cancelled or completed it meanwhile: nothing left to do
    campaign_self_pause_notify(campaign=paused, cause=CAUSE)
    return True
