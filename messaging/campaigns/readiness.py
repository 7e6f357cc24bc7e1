"""Is a campaign complete enough to be submitted, or approved: every problem, each with its code.

Submitting and approving run the same checks, because the world moves while a campaign waits for
its Approver: the template may be paused or edited at Meta, the segment emptied, the send time
passed. Only the schedule is read differently: a send time that passed while the campaign waited
is not a fault of the campaign, it starts at approval; a latest send time that passed is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from contacts.segments.services import segment_count
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, HeaderMediaSource, ScheduleKind
from messaging.campaigns.bindings import binding_problems, offer_problems
from messaging.campaigns.languages import campaign_template_check, template_languages
from messaging.campaigns.media import header_media_problems
from templates_app.components import MEDIA_HEADER_FORMATS, header_format, header_of

# Clocks run from UTC-12 to UTC+14: a local time comes first at +14 and last at -12.
_EARLIEST_CLOCK = timedelta(hours=14)
_LATEST_CLOCK = timedelta(hours=12)
# How far ahead a campaign is scheduled, at most (and how long ago a time may lie when approving):
# beyond, a date is a typing slip — and the calendar's edges (9999-12-31, 0001-01-01) overflow
# the ±14 h arithmetic of local times and every conversion to another zone.
SCHEDULE_HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    field: str | None = None


@dataclass
class Readiness:
    """What the checks found: the purpose the template asks consent for, and what is wrong."""

    purpose: str = ""
    languages: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def refuse(self, campaign: Campaign, *, doing: str) -> None:
        """Raise one error naming every problem; its code is the first problem's."""
        if not self.problems:
            return
        first = self.problems[0]
        raise ApplicationError(
            f"“{campaign.name}” cannot be {doing}: " + " ".join(p.message for p in self.problems),
            code=first.code,
            field=first.field,
            details={
                "problems": [{"code": p.code, "message": p.message, "field": p.field} for p in self.problems]
            },
        )


def campaign_readiness(
    campaign: Campaign, *, now: datetime | None = None, approving: bool = False
) -> Readiness:
    """Every reason the campaign may not go forward now (submit, or ``approving``)."""
    now = now or timezone.now()
    result = Readiness()
    try:
        result.purpose = campaign_template_check(campaign.template)
        result.languages = template_languages(campaign.template)
    except ApplicationError as exc:
        result.problems.append(Problem(exc.code, exc.message, exc.field or "template"))
    if result.languages:
        result.problems += _binding_problems(campaign)
        result.problems += _offer_problems(campaign, now=now)
        result.problems += _media_problems(campaign, result.languages)
    result.problems += _audience_problems(campaign)
    result.problems += schedule_problems(campaign, now=now, approving=approving)
    result.problems += _rate_problems(campaign)
    return result


def _binding_problems(campaign: Campaign) -> list[Problem]:
    return [Problem("campaign_bindings_invalid", text, "bindings") for text in binding_problems(campaign)]


def _offer_problems(campaign: Campaign, *, now: datetime) -> list[Problem]:
    """A limited-time offer whose end, written as a text, has passed, comes before the campaign's
    first send, or lies too far ahead: every message would fail."""
    problems = offer_problems(campaign, now=now, starts_at=earliest_send(campaign, now=now))
    return [Problem(code, text, "bindings") for code, text in problems]


def earliest_send(campaign: Campaign, *, now: datetime) -> datetime:
    """When the campaign's first message can go: now, its send time, or the first time zone's
    local time (``schedule_problems`` says whether the schedule itself is complete)."""
    if campaign.schedule_kind == ScheduleKind.AT and campaign.send_at is not None:
        return max(campaign.send_at, now)
    if campaign.schedule_kind == ScheduleKind.LOCAL:
        bounds = local_instant_bounds(campaign)
        if bounds is not None:
            return max(bounds[0], now)
    return now


def _audience_problems(campaign: Campaign) -> list[Problem]:
    segment = campaign.segment
    segment.refresh_from_db(fields=["archived", "rules", "version"])
    if segment.archived:
        return [
            Problem(
                "campaign_segment_archived",
                f"The segment “{segment}” is archived; pick a live segment.",
                "segment",
            )
        ]
    try:
        members = segment_count(segment)
    except ApplicationError as exc:
        return [Problem(exc.code, f"The segment “{segment}” cannot be read: {exc.message}", "segment")]
    if members == 0:
        return [
            Problem(
                "campaign_audience_empty",
                f"The segment “{segment}” has no members: nobody would get it.",
                "segment",
            )
        ]
    return []


def _rate_problems(campaign: Campaign) -> list[Problem]:
    ceiling = settings.WHATSAPP_MESSAGES_PER_SECOND
    if campaign.rate_cap is not None and campaign.rate_cap > ceiling:
        return [
            Problem(
                "campaign_rate_cap_too_high",
                f"The rate cap of {campaign.rate_cap} messages per second is above the global rate "
                f"({ceiling}); leave it empty to send at the global rate.",
                "rate_cap",
            )
        ]
    return []


# --- header media ----------------------------------------------------------------------------------


def media_formats(languages: dict) -> dict[str, str]:
    """The header format of each language's approved content ('' = none or text)."""
    formats = {}
    for language, row in languages.items():
        kind = header_format(header_of(row.approved_version.components))
        formats[language] = kind if kind in MEDIA_HEADER_FORMATS else ""
    return formats


def _media_problems(campaign: Campaign, languages: dict) -> list[Problem]:
    """A media template needs a link or a file, a text template neither; the link's or the file's
    type and size against Meta's limits are the media module's to judge."""
    formats = media_formats(languages)
    kinds = set(formats.values())
    if len(kinds) > 1:
        shown = ", ".join(f"{lang}: {kind.lower() or 'none'}" for lang, kind in sorted(formats.items()))
        return [
            Problem(
                "campaign_header_formats_differ",
                f"The template's languages have different headers ({shown}); one campaign sends one header.",
                "template",
            )
        ]
    kind = kinds.pop() if kinds else ""
    source = campaign.header_media_source
    if not kind:
        if source:
            return [
                Problem(
                    "campaign_media_unexpected",
                    "The template has no media header: remove the header media.",
                    "header_media_source",
                )
            ]
        return []
    given = (source == HeaderMediaSource.LINK and campaign.header_media_link) or (
        source == HeaderMediaSource.UPLOAD and (campaign.header_media_file or campaign.header_media_id)
    )
    if not given:
        return [
            Problem(
                "campaign_media_missing",
                f"The template has a {kind.lower()} header: give a link to the {kind.lower()} or upload one.",
                "header_media_source",
            )
        ]
    return _media_file_problems(campaign, kind)


def _media_file_problems(campaign: Campaign, kind: str) -> list[Problem]:
    return [
        Problem("campaign_media_invalid", text, "header_media_file")
        for text in header_media_problems(campaign, kind=kind)
    ]


# --- schedule --------------------------------------------------------------------------------------


def local_instant_bounds(campaign: Campaign) -> tuple[datetime, datetime] | None:
    """The first and the last instant any clock shows the campaign's local date and time."""
    if campaign.local_date is None or campaign.local_time is None:
        return None
    wall = datetime.combine(campaign.local_date, campaign.local_time).replace(tzinfo=UTC)
    try:
        return wall - _EARLIEST_CLOCK, wall + _LATEST_CLOCK
    except OverflowError:  # the calendar's edges; schedule_problems refuses such a date first
        return None


def first_send_at(campaign: Campaign) -> datetime | None:
    """When sending could begin at the earliest, whoever the recipients: the send time, the first
    clock anywhere to reach a local time (UTC+14), or None for "as soon as it is approved".

    ``messaging.campaigns.schedule.first_send_at`` is the same for the campaign's members (their
    zones); approval freezes that one (``frozen["schedule"]["first_send_at"]``)."""
    if campaign.schedule_kind == ScheduleKind.AT:
        return campaign.send_at
    if campaign.schedule_kind == ScheduleKind.LOCAL:
        bounds = local_instant_bounds(campaign)
        return bounds[0] if bounds else None
    return None


def due_at(campaign: Campaign) -> datetime | None:
    """When an approved campaign is due: the first send time approval froze (its members' first
    local moment, never before the approval), else its schedule's, or its approval if later — a
    campaign approved after its scheduled time starts at approval. None before approval."""
    if campaign.approved_at is None:
        return None
    frozen = ((campaign.frozen or {}).get("schedule") or {}).get("first_send_at")
    start = datetime.fromisoformat(frozen) if frozen else first_send_at(campaign)
    return max(start, campaign.approved_at) if start is not None else campaign.approved_at


def schedule_range_problems(campaign: Campaign, *, now: datetime) -> list[Problem]:
    """Times more than ``SCHEDULE_HORIZON`` ahead (``campaign_schedule_too_far``) or ago
    (``campaign_schedule_past``, approving too): the send time, the local day, the latest send time.
    Compared as they are, never converted: a conversion at the calendar's edge overflows."""
    kind = campaign.schedule_kind
    moments = [
        ("send_at", "send time", campaign.send_at if kind == ScheduleKind.AT else None),
        ("local_date", "day", campaign.local_date if kind == ScheduleKind.LOCAL else None),
        ("latest_send_at", "latest send time", campaign.latest_send_at),
    ]
    ahead, ago = now + SCHEDULE_HORIZON, now - SCHEDULE_HORIZON
    problems = []
    for field_name, what, moment in moments:
        if moment is None:
            continue
        too_far = moment > (ahead if isinstance(moment, datetime) else ahead.date())
        too_old = moment < (ago if isinstance(moment, datetime) else ago.date())
        if too_far:
            problems.append(
                Problem(
                    "campaign_schedule_too_far",
                    f"The {what} {moment:%Y-%m-%d} is more than a year ahead: a campaign is scheduled "
                    "at most a year in advance.",
                    field_name,
                )
            )
        elif too_old:
            problems.append(
                Problem(
                    "campaign_schedule_past",
                    f"The {what} {moment:%Y-%m-%d} is more than a year ago; choose a later one.",
                    field_name,
                )
            )
    return problems


def schedule_problems(campaign: Campaign, *, now: datetime, approving: bool) -> list[Problem]:
    out_of_range = schedule_range_problems(campaign, now=now)
    if out_of_range:
        return out_of_range
    kind = campaign.schedule_kind
    if kind == ScheduleKind.AT:
        if campaign.send_at is None:
            return [Problem("campaign_schedule_missing", "Choose the time to send it.", "send_at")]
        if campaign.send_at <= now and not approving:
            return [
                Problem(
                    "campaign_schedule_past",
                    f"The send time {_shown(campaign.send_at)} has passed; choose a later one.",
                    "send_at",
                )
            ]
    elif kind == ScheduleKind.LOCAL:
        bounds = local_instant_bounds(campaign)
        if bounds is None:
            return [
                Problem(
                    "campaign_schedule_missing",
                    "Choose the day and the time on each recipient's clock.",
                    "local_date" if campaign.local_date is None else "local_time",
                )
            ]
        if bounds[1] <= now and not approving:
            return [
                Problem(
                    "campaign_schedule_past",
                    f"{campaign.local_date:%Y-%m-%d} {campaign.local_time:%H:%M} has passed in every time "
                    "zone; choose a later day.",
                    "local_date",
                )
            ]
    latest = campaign.latest_send_at
    if latest is None:
        return []
    if latest <= now:
        return [
            Problem(
                "campaign_latest_passed",
                f"The latest send time {_shown(latest)} has passed: nobody could receive it now; "
                + ("reject it so a new schedule can be set." if approving else "choose a later one."),
                "latest_send_at",
            )
        ]
    start = earliest_send(campaign, now=now)
    if latest <= start:
        return [
            Problem(
                "campaign_latest_before_start",
                f"The latest send time {_shown(latest)} is not after the send time {_shown(start)}.",
                "latest_send_at",
            )
        ]
    return []


def _shown(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
