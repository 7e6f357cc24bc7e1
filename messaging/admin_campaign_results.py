"""The campaign admin's progress and results: a JSON progress endpoint, the results page, the CSV.

A mixin of ``CampaignAdmin`` (after ``CampaignViewsMixin``, whose ``_campaign`` and ``_context``
it uses). The change page shows the progress bar rendered on the server, which
``campaign_progress.js`` refreshes from ``progress_view`` while the campaign is sending or paused,
and more slowly for the reply window after it finished (statuses and replies keep coming); the
results page draws the funnel as inline SVG (no library), which the script refreshes from the same
endpoint, and lists the recipients, filtered by state and failure code, as a page or as a streamed
CSV. Every figure comes from
``messaging.campaigns.results``. Bad filters are said on the page (400), an unknown campaign is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Paginator
from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from core.actors import Actor
from core.admin_tools import is_id
from messaging.campaigns.results import (
    STATE_FILTERS,
    STATES,
    Funnel,
    Progress,
    campaign_failures,
    campaign_funnel,
    campaign_opt_outs,
    campaign_progress,
    campaign_recipient_messages,
    campaign_skips,
)
from messaging.campaigns.results_export import campaign_recipients_export
from messaging.models import MessageStatus

EXPORT = "contacts.export_contact"
RECIPIENTS_PER_PAGE = 50
# How often the page asks for the progress while the campaign is sending or paused, and while a
# finished one settles (``results.settling``): every open page asks, so the second is slower.
PROGRESS_POLL_MS = 4000
SETTLING_POLL_MS = 30000
# The results page's query for the progress with the funnel (one aggregate query more).
WITH_FUNNEL = "funnel"
# The funnel chart's geometry (SVG user units).
CHART_WIDTH, LABEL_WIDTH, BAR_HEIGHT, ROW_GAP = 640, 210, 26, 10
BAR_SPACE = CHART_WIDTH - LABEL_WIDTH - 110  # room left for the count after the longest bar


@dataclass(frozen=True)
class FunnelBar:
    label: str
    count: int
    pct: float  # of the messages sent
    y: int
    width: float
    text_y: int
    count_x: float
    first: bool

    @property
    def text(self) -> str:
        """The number beside the bar: the count, with its share of the sent after the first step."""
        return str(self.count) if self.first else f"{self.count} ({self.pct}%)"

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "count": self.count,
            "width": self.width,
            "count_x": self.count_x,
            "text": self.text,
        }


def funnel_chart(funnel: Funnel) -> dict:
    """The funnel's bars, each as wide as its share of the messages sent, for the SVG template."""
    steps = funnel.steps()
    base = funnel.sent
    bars = []
    for index, (label, count) in enumerate(steps):
        share = count / base if base else 0.0
        y = index * (BAR_HEIGHT + ROW_GAP)
        width = round(max(share * BAR_SPACE, 1 if count else 0), 1)
        bars.append(
            FunnelBar(
                label=label,
                count=count,
                pct=round(100 * share, 1),
                y=y,
                width=width,
                text_y=y + BAR_HEIGHT // 2 + 5,
                count_x=LABEL_WIDTH + width + 8,
                first=index == 0,
            )
        )
    description = "; ".join(f"{bar.label}: {bar.count} ({bar.pct}% of sent)" for bar in bars)
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": len(bars) * (BAR_HEIGHT + ROW_GAP),
        "label_width": LABEL_WIDTH,
        "label_x": LABEL_WIDTH - 8,
        "bar_height": BAR_HEIGHT,
        "description": description,
    }


def progress_bar(progress: Progress) -> list[dict]:
    """The bar's segments (each state's share of all messages), in the order the page shows them."""
    total = progress.total
    return [
        {
            "state": state,
            "label": MessageStatus(state).label,
            "count": progress.counts[state],
            "pct": round(100 * progress.counts[state] / total, 2) if total else 0,
        }
        for state in STATES
    ]


class CampaignResultsMixin:
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:campaign_id>/progress/", view(self.progress_view), name="messaging_campaign_progress"),
            path("<int:campaign_id>/results/", view(self.results_view), name="messaging_campaign_results"),
            path(
                "<int:campaign_id>/results/export/",
                view(self.export_recipients_view),
                name="messaging_campaign_results_export",
            ),
            *super().get_urls(),
        ]

    # --- the change page's progress -----------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self._progress_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _progress_context(self, campaign) -> dict:
        progress = campaign_progress(campaign)
        if not progress.total and not progress.live:
            return {}
        return {
            "progress": progress,
            "progress_bar": progress_bar(progress),
            "progress_url": reverse("admin:messaging_campaign_progress", args=[campaign.pk]),
            "progress_poll_ms": PROGRESS_POLL_MS,
            "settling_poll_ms": SETTLING_POLL_MS,
            "results_url": reverse("admin:messaging_campaign_results", args=[campaign.pk]),
        }

    def progress_view(self, request, campaign_id):
        """GET → the counts of each state, the current rate, the expected finish and how to poll on,
        as JSON; with ``?funnel=1`` (the results page) the funnel's bars too. One aggregate query
        each: every open page polls this."""
        campaign = self._campaign(request, campaign_id)
        asked = request.GET.get(WITH_FUNNEL)
        if asked not in (None, "1"):
            return JsonResponse(
                {
                    "error": f"“{asked[:20]}” is not a value of funnel: give funnel=1 for the funnel, "
                    "or leave it out."
                },
                status=400,
            )
        data = campaign_progress(campaign).as_json()
        if asked:
            chart = funnel_chart(campaign_funnel(campaign))
            data["funnel"] = {
                "bars": [bar.as_json() for bar in chart["bars"]],
                "description": chart["description"],
            }
        return JsonResponse(data)

    # --- the results page -------------------------------------------------------------------------

    def results_view(self, request, campaign_id):
        """The funnel, the opt-outs it caused, failures by code, skips by reason, and the recipients."""
        campaign = self._campaign(request, campaign_id)
        state, code, problems = _filters(request)
        page = None
        if not problems:
            paginator = Paginator(
                campaign_recipient_messages(campaign, state=state, code=code), RECIPIENTS_PER_PAGE
            )
            try:
                page = paginator.page(request.GET.get("page") or 1)
            except InvalidPage:
                problems.append(
                    f"“{request.GET.get('page', '')[:20]}” is not a page of this list: pages run from 1 to "
                    f"{paginator.num_pages}."
                )
        progress = campaign_progress(campaign)
        funnel = campaign_funnel(campaign)
        filters = {k: v for k, v in (("state", state), ("code", code)) if v not in ("", None)}
        context = self._context(
            request,
            campaign,
            f"Results of “{campaign}”",
            progress=progress,
            progress_bar=progress_bar(progress),
            progress_url=reverse("admin:messaging_campaign_progress", args=[campaign.pk])
            + f"?{WITH_FUNNEL}=1",
            progress_poll_ms=PROGRESS_POLL_MS,
            settling_poll_ms=SETTLING_POLL_MS,
            funnel=funnel,
            chart=funnel_chart(funnel),
            reply_window_hours=settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS,
            opt_outs=campaign_opt_outs(campaign),
            failures=campaign_failures(campaign),
            skips=campaign_skips(campaign),
            state_filters=STATE_FILTERS,
            state=state,
            code="" if code is None else code,
            problems=problems,
            page=page,
            filter_query=urlencode(filters),
            may_export=_may_export(request),
            export_url=reverse("admin:messaging_campaign_results_export", args=[campaign.pk])
            + (f"?{urlencode(filters)}" if filters else ""),
        )
        return TemplateResponse(
            request, "admin/messaging/campaign/results.html", context, status=400 if problems else 200
        )

    def export_recipients_view(self, request, campaign_id):
        """The recipient list as filtered, as CSV: Editors and Auditors (the contact export's permission)."""
        campaign = self._campaign(request, campaign_id)
        if not _may_export(request):
            raise PermissionDenied(
                "Exporting recipients takes the export permission (Editors and Auditors have it)."
            )
        state, code, problems = _filters(request)
        if problems:
            # Nothing exported: the results page says what is wrong with the filters.
            results = reverse("admin:messaging_campaign_results", args=[campaign.pk])
            return HttpResponseRedirect(f"{results}?{request.GET.urlencode()}")
        export = campaign_recipients_export(
            campaign=campaign, actor=Actor.for_user(request.user), state=state, code=code
        )
        response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = (
            f'attachment; filename="campaign-{campaign.pk}-recipients-{stamp}.csv"'
        )
        return response


def _may_export(request) -> bool:
    return request.user.has_perm(EXPORT)


def _filters(request) -> tuple[str, int | None, list[str]]:
    """The state and failure-code filters of the query string, and what is wrong with them."""
    problems = []
    state = request.GET.get("state", "")
    if state and state not in STATE_FILTERS:
        problems.append(
            f"“{state[:40]}” is not a message state: the state filter takes one of "
            f"{', '.join(STATE_FILTERS)}."
        )
        state = ""
    raw = request.GET.get("code", "")
    code = None
    if raw:
        if is_id(raw):
            code = int(raw)
        else:
            problems.append(
                f"“{raw[:40]}” is not an error code: the code filter takes a number, like 131026."
            )
    return state, code, problems
