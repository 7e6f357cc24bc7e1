"""The campaign preview as the admin shows it: figures, bars, links to the excluded contacts.

The numbers are ``messaging.campaigns.preview.campaign_preview``'s, from the eligibility query the
sending uses; this module only turns them into rows a template draws (labels, percentages,
links). The list's column shows the same figures, kept for an hour per campaign (counted when it
is submitted, or when the list first shows it), so a list of pending campaigns over large
segments stays quick; the time they were counted is shown beside them.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.languages import LANGUAGE_CHOICES
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.eligibility import Exclusion
from messaging.campaigns.preview import CampaignPreview, campaign_preview, excluded_contacts

S = CampaignStatus
FIGURES_SECONDS = 3600  # how long the list's figures are reused (their time is shown)
LIVE_COUNTS_PER_LIST = 5  # campaigns counted while the list renders; the rest link to the preview
LANGUAGE_NAMES = dict(LANGUAGE_CHOICES)


def reason_label(reason: str) -> str | None:
    return dict(Exclusion.choices).get(reason)


def excluded_list(campaign: Campaign, reason: str):
    return excluded_contacts(campaign, reason).order_by("pk")


def _pct(count: int, total: int) -> float:
    return round(100 * count / total, 1) if total else 0


def _duration(value) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s" if seconds else "under a second"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def preview_context(campaign: Campaign, *, now=None) -> dict:
    """The preview's rows for ``_figures.html``, or ``{"error": …}`` when it cannot be computed."""
    try:
        preview = campaign_preview(campaign, now=now)
    except ApplicationError as exc:
        return {"error": exc.message}
    return preview_rows(campaign, preview)


def preview_rows(campaign: Campaign, preview: CampaignPreview) -> dict:
    members = preview.audience
    exclusions = [
        {
            "reason": reason.value,
            "label": reason.label,
            "count": preview.excluded.get(reason.value, 0),
            "pct": _pct(preview.excluded.get(reason.value, 0), members),
            "url": reverse("admin:messaging_campaign_excluded", args=[campaign.pk, reason.value]),
        }
        for reason in Exclusion
    ]
    # Eligible, but the schedule leaves no moment for them: skipped when it is sent (no list).
    for count, label in (
        (preview.too_late, "Could only get it after the latest send time"),
        (preview.no_common_hours, "Their possible time zones share no sending hours"),
    ):
        if count:
            exclusions.append(
                {"reason": "", "label": label, "count": count, "pct": _pct(count, members), "url": ""}
            )
    receive = preview.will_receive
    languages = [
        {"label": LANGUAGE_NAMES.get(code, code), "count": count, "pct": _pct(count, receive)}
        for code, count in sorted(preview.languages.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {
        "members": members,
        "receive": receive,
        "receive_pct": _pct(receive, members),
        "excluded_total": members - receive,
        "exclusions": exclusions,
        "languages": languages,
        "timing": _timing(preview),
        "notes": preview.notes,
        "at": timezone.now(),
    }


def _timing(preview: CampaignPreview) -> list[tuple[str, str]]:
    rows = [("First message", _when(preview.first_send_at))]
    if preview.held_quiet_hours:
        rows.append(
            (
                "Held for quiet hours",
                f"{preview.held_quiet_hours:,}, the last until {_when(preview.held_quiet_hours_until)}",
            )
        )
    if preview.held_frequency_cap:
        rows.append(
            (
                "Held by the marketing frequency cap",
                f"{preview.held_frequency_cap:,}, the last until {_when(preview.held_frequency_cap_until)}",
            )
        )
    rows.append(("Rate", f"{preview.rate_per_second:,} messages per second"))
    rows.append(("Sending at that rate", _duration(preview.send_duration)))
    if preview.messaging_limit is None:
        rows.append(("Messaging-limit budget", "unlimited"))
    else:
        rows.append(
            (
                "Messaging-limit budget",
                f"{preview.messaging_limit:,} people per 24 hours, {preview.budget_used:,} used; "
                f"this campaign uses {preview.budget_needed:,}"
                + (
                    f" (and {preview.budget_free:,} more cost nothing: their window is open or they "
                    "were counted already)"
                    if preview.budget_free
                    else ""
                ),
            )
        )
        if preview.budget_days > 1:
            rows.append(
                (
                    "Spread by the budget",
                    f"{preview.first_day:,} in the first 24 hours; "
                    f"{preview.budget_days} periods of 24 hours in all",
                )
            )
    rows.append(("Expected duration", _duration(preview.expected_duration)))
    if preview.last_send_at:
        rows.append(("Last message about", _when(preview.last_send_at)))
    return rows


def _figures_key(campaign: Campaign) -> str:
    # The last change is part of the key: an edit or a transition is counted afresh.
    return f"campaign-figures:{campaign.pk}:{campaign.updated_at.timestamp()}"


def figures(campaign: Campaign) -> dict | None:
    """Receive / excluded counts, counted now and kept for the list (``FIGURES_SECONDS``)."""
    try:
        preview = campaign_preview(campaign)
    except ApplicationError:
        return None
    value = {
        "receive": preview.will_receive,
        "excluded": preview.audience - preview.will_receive,
        "at": timezone.now(),
    }
    cache.set(_figures_key(campaign), value, FIGURES_SECONDS)
    return value


@contextmanager
def live_counts(limit: int):
    """While the list renders: at most ``limit`` campaigns without kept figures are counted;
    the rest link to their preview. A preview over a very large segment takes seconds, and a
    list of many such campaigns must still open."""
    token = _live_left.set([limit])
    try:
        yield
    finally:
        _live_left.reset(token)


_live_left: ContextVar[list[int] | None] = ContextVar("campaign_figures_live_left", default=None)


def figures_cell(campaign: Campaign):
    """The list's column: figures for campaigns awaiting approval, approved or paused."""
    if campaign.status not in (S.PENDING_APPROVAL, S.APPROVED, S.PAUSED):
        return "—"
    value = cache.get(_figures_key(campaign))
    if value is None:
        left = _live_left.get()
        if left is not None and left[0] <= 0:
            url = reverse("admin:messaging_campaign_preview", args=[campaign.pk])
            return format_html('<a href="{}">count</a>', url)
        if left is not None:
            left[0] -= 1
        value = figures(campaign)
    if value is None:
        return "—"
    return format_html(
        '{} / {} <span class="campaign-counted">({})</span>',
        f"{value['receive']:,}",
        f"{value['excluded']:,}",
        f"{timezone.localtime(value['at']):%H:%M}",
    )
