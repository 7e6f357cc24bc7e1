"""The campaign preview as the admin shows it: figures, bars, links to the excluded contacts.

The numbers are ``messaging.campaigns.preview.campaign_preview``'s, from the eligibility query the
sending uses; this module only turns them into rows a template draws (labels, percentages,
links). Counting a segment of a million contacts takes many seconds, so the campaign's page and
the list (the Approvers' queue) show the figures last counted for the campaign as it is — by the
preview page, or in the background after submission — with the time they were counted, and
link to a fresh count; they never count while rendering.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.languages import LANGUAGE_CHOICES
from contacts.models import Segment
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.eligibility import Exclusion
from messaging.campaigns.preview import CampaignPreview, campaign_preview, excluded_contacts
from templates_app.models import MessageTemplate

S = CampaignStatus
KEPT_SECONDS = 7 * 24 * 3600  # how long counted figures are shown (with the time they were counted)
COUNTED_STATUSES = (S.PENDING_APPROVAL, S.APPROVED, S.PAUSED)
COUNT_TASK = "messaging.admin_campaign_preview.count_preview"
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
    """The preview counted now: its rows for ``_figures.html`` (kept for the campaign's page and
    the list, ``kept_preview``), or ``{"error": …}`` when it cannot be computed."""
    try:
        preview = campaign_preview(campaign, now=now)
    except ApplicationError as exc:
        return {"error": exc.message}
    rows = preview_rows(campaign, preview)
    cache.set(_kept_key(campaign), rows, KEPT_SECONDS)
    return rows


def kept_preview(campaign: Campaign) -> dict | None:
    """The rows last counted for the campaign as it is now (its content, schedule and segment),
    or None. Counting a segment of a million contacts takes many seconds: the list and the
    campaign's page show these, with the time they were counted, and link to a fresh count."""
    return cache.get(_kept_key(campaign))


def _kept_key(campaign: Campaign) -> str:
    """What the figures depend on besides the contacts themselves: a save that changes none of it
    (a submission, an approval: what approval freezes is what was counted) keeps them; an edit of
    the bindings, schedule, template or segment asks for a new count."""
    segment = Segment.objects.filter(pk=campaign.segment_id).values_list("version", flat=True).first()
    template = MessageTemplate.objects.filter(pk=campaign.template_id).values_list(
        "approved_version_id", "status"
    )
    parts = [
        campaign.template_id,
        list(template.first() or ()),
        campaign.segment_id,
        segment,
        campaign.bindings,
        campaign.schedule_kind,
        campaign.send_at,
        campaign.local_date,
        campaign.local_time,
        campaign.latest_send_at,
        campaign.rate_cap,
    ]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"campaign-preview:{campaign.pk}:{digest}"


def count_preview(campaign_id: int) -> None:
    """The django-q2 task counting a submitted campaign's preview for the Approvers' queue. Safe
    to run twice (it only keeps figures); a campaign gone or finished is left alone."""
    campaign = Campaign.objects.select_related("template", "segment").filter(pk=campaign_id).first()
    if campaign is not None and campaign.status in COUNTED_STATUSES:
        preview_context(campaign)


def count_preview_later(campaign: Campaign) -> None:
    """Count the preview in the background once the transaction commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            COUNT_TASK, campaign.pk, task_name=f"campaign {campaign.pk}: preview", group="campaigns"
        )
    )


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


def figures_cell(campaign: Campaign):
    """The list's column: the kept figures of campaigns awaiting approval, approved or paused —
    never counted here (one large segment would hold the list for many seconds)."""
    if campaign.status not in COUNTED_STATUSES:
        return "—"
    url = reverse("admin:messaging_campaign_preview", args=[campaign.pk])
    kept = kept_preview(campaign)
    if kept is None or "error" in kept:
        return format_html('<a href="{}" class="campaign-count">count</a>', url)
    return format_html(
        '<a href="{}" title="counted {}">{} / {}</a> <span class="campaign-counted">({})</span>',
        url,
        _when(kept["at"]),
        f"{kept['receive']:,}",
        f"{kept['excluded_total']:,}",
        _when(kept["at"]),
    )
