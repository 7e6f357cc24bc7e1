"""The send-time rules (docs/sending.md): may this message go now, wait, or never go?

One selector, :func:`send_time_verdict`, answers for one message at one instant. The dispatch
task asks it when it claims a message; the campaign preview and the campaign dispatch ask the
same function, so what the preview promises is what the sender does.

Business-initiated messages: consent for their purpose (the deciding event becomes the
message's proof), quiet hours and the frequency cap (marketing only), the messaging-limit budget
(only when the person's window is closed), the halt. Replies: only the window and the halt.
Every message: its contact must not be merged away, and a MARKETING template never goes to a US
number while Meta does not deliver those. Counts are aggregates in SQL, never loops over contacts.

Consent is read with its proof (:func:`consent_verdict`): the current-consent row *and* the event
it names, compared with each other, so a row that disagrees with its event never authorises a
message. The dispatch asks :func:`recheck_before_request` once more after the limiter's wait.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import ConsentAction, Contact, CurrentConsent, Purpose
from contacts.phones import InvalidPhoneNumber, parse_phone, time_zones_for_phone
from contacts.selectors import consent_status
from messaging.models import (
    HoldReason,
    InboundMessage,
    MessageKind,
    MessageStatus,
    MessagingTier,
    OutboundMessage,
)
from messaging.sending.halt import active_halt
from templates_app.models import Category as TemplateCategory
from templates_app.models import TemplateStatus
from templates_app.sending import sendability

WINDOW = timedelta(hours=24)
BUDGET_PERIOD = timedelta(hours=24)
# A paused template is looked at again after this long (Meta pauses for 3 or 6 hours).
TEMPLATE_PAUSE_RECHECK = timedelta(hours=1)

GO, HOLD, SKIP = "go", "hold", "skip"

logger = logging.getLogger(__name__)


class SkipReason:
    """Why a message may never go; stored in ``error_class`` of the skipped message."""

    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    WINDOW_CLOSED = "window_closed"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    NO_WHATSAPP_ADDRESS = "no_whatsapp_address"
    TEMPLATE_NOT_SENDABLE = "template_not_sendable"
    TEMPLATE_PARAMETERS_INVALID = "template_parameters_invalid"
    NO_COMMON_SENDING_HOURS = "no_common_sending_hours"
    CONSENT_PROOF_MISMATCH = "consent_proof_mismatch"
    CONTACT_MERGED = "contact_merged"
    US_MARKETING_BLOCKED = "us_marketing_blocked"


@dataclass(frozen=True)
class Verdict:
    action: str  # GO, HOLD or SKIP
    reason: str = ""  # a HoldReason for HOLD, a SkipReason for SKIP
    until: datetime | None = None  # HOLD: the earliest time it may go (None: until released)
    detail: str = ""  # for people
    authorising_event_id: int | None = None  # GO of a business-initiated message: the proof
    template_version_id: int | None = None  # GO of a template: the approved version it goes with
    purpose: str = ""  # GO of a business-initiated message: the purpose whose consent authorised it

    @property
    def go(self) -> bool:
        return self.action == GO

    @property
    def held(self) -> bool:
        return self.action == HOLD

    @property
    def skipped(self) -> bool:
        return self.action == SKIP


def _hold(reason: str, until: datetime | None, detail: str) -> Verdict:
    return Verdict(HOLD, reason=reason, until=until, detail=detail)


def _skip(reason: str, detail: str) -> Verdict:
    return Verdict(SKIP, reason=reason, detail=detail)


# --- The selector ---------------------------------------------------------------------------


def send_time_verdict(message: OutboundMessage, now: datetime | None = None) -> Verdict:
    """Whether ``message`` may go at ``now``: go, hold (reason, until) or skip (reason)."""
    now = now or timezone.now()
    contact = message.contact

    if contact.merged_into_id is not None:
        return merged_verdict(contact)
    if contact.not_on_whatsapp_since is not None:
        return _skip(SkipReason.NOT_ON_WHATSAPP, "WhatsApp reported that this number is not on WhatsApp.")
    if not recipient_address(contact):
        return _skip(SkipReason.NO_WHATSAPP_ADDRESS, "The contact has no phone number or WhatsApp id.")
    window_is_open = window_open(contact, now)
    if (message.is_reply or message.kind != MessageKind.TEMPLATE) and not window_is_open:
        return _skip(
            SkipReason.WINDOW_CLOSED,
            "The person's 24-hour window closed before the message could go; "
            "only an approved template can reach them now.",
        )

    purpose = message.purpose
    template_purpose_now = _template_purpose_now(message) if message.kind == MessageKind.TEMPLATE else ""
    event_id = None
    if message.is_business_initiated:
        purpose = template_purpose_now or purpose
        consent = consent_verdict(contact_id=contact.pk, purpose=purpose)
        if not consent.go:
            return consent
        event_id = consent.authorising_event_id
    if template_purpose_now == Purpose.MARKETING and us_marketing_blocked(contact):
        return _skip(SkipReason.US_MARKETING_BLOCKED, US_MARKETING_DETAIL)

    version_id = None
    if message.kind == MessageKind.TEMPLATE:
        verdict = _template_verdict(message, now)
        if not verdict.go:
            return verdict
        version_id = verdict.template_version_id

    halt = active_halt()
    if halt is not None and halt.holds(message):
        return _hold(HoldReason.HALT, None, f"Sending is halted: {halt.reason}")

    if message.is_business_initiated:
        if purpose == Purpose.MARKETING:
            verdict = quiet_hours_verdict(contact, now)
            if not verdict.go:
                return verdict
            verdict = frequency_cap_verdict(message, now)
            if not verdict.go:
                return verdict
        if not window_is_open:
            verdict = budget_verdict(message, now)
            if not verdict.go:
                return verdict

    return Verdict(GO, authorising_event_id=event_id, template_version_id=version_id, purpose=purpose)


def recheck_before_request(message: OutboundMessage) -> Verdict:
    """Asked again right before the request leaves, after the limiter's wait: what can change
    while a message waits for its slot and must still win — a merge, and (business-initiated
    messages) consent, read with its proof. Cheap: the contact's row and one join.

    The caller holds the contact's row lock (the one ``record_consent`` takes), so an opt-out
    being recorded now is either seen here or committed only after the attempt is written.
    GO carries the consent event that authorises the message *now*: the proof.
    """
    contact = Contact.objects.only("pk", "merged_into_id").get(pk=message.contact_id)
    if contact.merged_into_id is not None:
        return merged_verdict(contact)
    if not message.is_business_initiated:
        return Verdict(GO, purpose=message.purpose)
    return consent_verdict(contact_id=contact.pk, purpose=message.purpose)


# --- Consent, with its proof ----------------------------------------------------------------


def consent_verdict(*, contact_id: int, purpose: str) -> Verdict:
    """GO with the authorising event when the contact's current consent for ``purpose`` is an
    opt-in *and* the event it names is that contact's opt-in for that purpose; else SKIP.

    The current-consent row is a cache of the ledger's order rule. It authorises nothing on its
    own: a row whose status, contact or purpose disagrees with its event (a bug, a hand edit in
    the database) is refused with ``consent_proof_mismatch`` — never sent with an opt-out as its
    "proof". One query, one join. (On PostgreSQL a constraint trigger refuses such rows too.)
    """
    row = (
        CurrentConsent.objects.filter(contact_id=contact_id, purpose=purpose)
        .select_related("event")
        .only("status", "since", "event__action", "event__purpose", "event__contact_id")
        .first()
    )
    if row is None:
        return _skip(SkipReason.NO_CONSENT, f"No {purpose} opt-in is recorded for this contact.")
    problem = _proof_problem(row, contact_id=contact_id, purpose=purpose)
    if problem:
        logger.error(
            "current consent %s (contact %s, %s) disagrees with its event: %s",
            row.pk,
            contact_id,
            purpose,
            problem,
        )
        return _skip(
            SkipReason.CONSENT_PROOF_MISMATCH,
            f"The contact's current {purpose} consent disagrees with the consent event it names "
            f"({problem}); nothing is sent without its proof. Recompute it from the ledger.",
        )
    if row.event.action != ConsentAction.OPT_IN:
        return _skip(
            SkipReason.OPTED_OUT, f"The contact opted out of {purpose} messages on {row.since:%Y-%m-%d}."
        )
    return Verdict(GO, authorising_event_id=row.event_id, purpose=purpose)


def _proof_problem(row: CurrentConsent, *, contact_id: int, purpose: str) -> str:
    event = row.event
    if event.contact_id != contact_id:
        return f"event {event.pk} belongs to another contact"
    if event.purpose != purpose:
        return f"event {event.pk} is about {event.purpose}, not {purpose}"
    if consent_status(event) != row.status:
        what = "an opt-in" if event.action == ConsentAction.OPT_IN else "an opt-out"
        return f"the row says {row.status} but event {event.pk} is {what}"
    return ""


# --- Merged contacts and US marketing -------------------------------------------------------


def merged_verdict(contact: Contact) -> Verdict:
    """A merged-away row is never a recipient: the survivor stands for the person (docs/sending.md)."""
    survivor = Contact.objects.filter(pk=contact.merged_into_id).first()
    return _skip(
        SkipReason.CONTACT_MERGED,
        f"The contact was merged into {survivor or f'contact {contact.merged_into_id}'} "
        f"(#{contact.merged_into_id}); send to that contact instead.",
    )


US_MARKETING_DETAIL = (
    "WhatsApp does not deliver MARKETING templates to US numbers (it answers 131049); "
    "lift WHATSAPP_US_MARKETING_BLOCKED once Meta delivers them again."
)


def us_marketing_blocked(contact: Contact) -> bool:
    """A MARKETING template to this contact would be refused: the number Meta sends to is in the
    US (libphonenumber's region US — not every +1: Canada, Puerto Rico or Guam are regions of
    their own) and ``WHATSAPP_US_MARKETING_BLOCKED`` is on."""
    if not settings.WHATSAPP_US_MARKETING_BLOCKED:
        return False
    address = recipient_address(contact)
    if not address:
        return False
    try:
        return parse_phone(address).region == "US"
    except InvalidPhoneNumber:
        return False  # not a number we can place; Meta will say what it is


# --- Window and address ---------------------------------------------------------------------


def window_open(contact: Contact, now: datetime | None = None) -> bool:
    """The 24-hour customer service window: open while the person's last message is under 24 h old."""
    now = now or timezone.now()
    return contact.last_inbound_at is not None and now - contact.last_inbound_at < WINDOW


def recipient_address(contact: Contact) -> str:
    """Meta's ``to``: the WhatsApp id Meta reported (it can differ from the phone), else the phone.

    Always with ``+``: without it Meta prepends the business number's country code.
    """
    if contact.wa_id:
        return "+" + contact.wa_id.lstrip("+")
    return contact.phone or ""


# --- Template -------------------------------------------------------------------------------


def template_purpose(*categories: str) -> str:
    """Marketing consent when any of the categories is MARKETING, else service consent.

    Meta may re-categorise a template (``template_category_update``): that changes the template's
    category, not the versions', and the message then goes as marketing.
    """
    return Purpose.MARKETING if TemplateCategory.MARKETING in categories else Purpose.SERVICE


def _template_purpose_now(message: OutboundMessage) -> str:
    template = message.template_version.template
    template.refresh_from_db(fields=["status", "approved_version", "category"])
    categories = [message.template_version.category, template.category]
    if template.approved_version_id is not None:
        categories.append(template.approved_version.category)
    purpose = template_purpose(*categories)
    return Purpose.MARKETING if message.purpose == Purpose.MARKETING else purpose


def _template_verdict(message: OutboundMessage, now: datetime) -> Verdict:
    template = message.template_version.template
    template.refresh_from_db(fields=["status", "approved_version"])
    if template.status == TemplateStatus.PAUSED:
        return _hold(
            HoldReason.TEMPLATE_PAUSED,
            now + TEMPLATE_PAUSE_RECHECK,
            f"The template {template} is paused by WhatsApp; the message waits until it is approved again.",
        )
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        return _skip(
            SkipReason.TEMPLATE_NOT_SENDABLE,
            f"The template {template} is no longer approved ({template.status}).",
        )
    if template.approved_version_id != message.template_version_id:
        # Meta always sends the template's current approved content: the parameters must fit it.
        result = sendability(template, message.parameters)
        if not result.ok:
            return _skip(SkipReason.TEMPLATE_PARAMETERS_INVALID, result.reason)
    return Verdict(GO, template_version_id=template.approved_version_id)


# --- Quiet hours ----------------------------------------------------------------------------

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@functools.lru_cache(maxsize=8)
def parse_sending_hours(value: str) -> tuple[time, time] | None:
    """``"09:00-20:00"`` → (start, end); empty → None (no quiet hours).

    An ``end`` before ``start`` spans midnight."""
    if not (value or "").strip():
        return None
    match = _HOURS.match(value)
    if not match:
        raise ImproperlyConfigured(f"MARKETING_SENDING_HOURS must look like 09:00-20:00, got {value!r}.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MARKETING_SENDING_HOURS has an impossible time: {value!r}.") from exc


def contact_time_zones(contact: Contact) -> tuple[str, ...]:
    """The contact's zone, else every zone phonenumbers gives for the number, else the site's zone."""
    if contact.time_zone:
        return (contact.time_zone,)
    number = contact.phone or (("+" + contact.wa_id.lstrip("+")) if contact.wa_id else "")
    zones = ()
    if number:
        try:
            zones = time_zones_for_phone(number)
        except Exception:  # an unparsable wa_id: fall back to the site's zone
            zones = ()
    return zones or (settings.TIME_ZONE,)


def _inside(moment: datetime, zone: ZoneInfo, hours: tuple[time, time]) -> bool:
    start, end = hours
    local = moment.astimezone(zone).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_verdict(contact: Contact, now: datetime) -> Verdict:
    """Marketing goes only when it is inside the sending hours in *every* zone the person may be in."""
    hours = parse_sending_hours(settings.MARKETING_SENDING_HOURS)
    if hours is None:
        return Verdict(GO)
    zones = [ZoneInfo(name) for name in contact_time_zones(contact)]
    if all(_inside(now, zone, hours) for zone in zones):
        return Verdict(GO)
    until = next_common_sending_time(zones, hours, now)
    names = ", ".join(z.key for z in zones)
    if until is None:
        return _skip(
            SkipReason.NO_COMMON_SENDING_HOURS,
            f"The number's time zones ({names}) share no sending hours; set the contact's time zone.",
        )
    return _hold(HoldReason.QUIET_HOURS, until, f"Quiet hours at the recipient ({names}).")


def next_common_sending_time(
    zones: list[ZoneInfo], hours: tuple[time, time], now: datetime, days: int = 3
) -> datetime | None:
    """The earliest instant after ``now`` inside the sending hours in every zone (None if none soon).

    The common window, if any, opens when the last of the zones opens, so the candidates are
    each zone's local opening times over the next few days.
    """
    start = hours[0]
    candidates = set()
    for zone in zones:
        today = now.astimezone(zone).date()
        for offset in range(-1, days + 1):
            day = date.fromordinal(today.toordinal() + offset)
            candidate = datetime.combine(day, start, tzinfo=zone)
            if candidate > now:
                candidates.add(candidate.astimezone(UTC))
    for candidate in sorted(candidates):
        if all(_inside(candidate, zone, hours) for zone in zones):
            return candidate
    return None


# --- Reached people: the frequency cap and the budget count what may have gone -----------------


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
    return _hold(
        HoldReason.FREQUENCY_CAP,
        oldest_that_must_leave + period,
        f"The contact already received {count} marketing messages in "
        f"{settings.MARKETING_FREQUENCY_DAYS} days (at most {cap}).",
    )


TIER_LIMITS = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
    "UNLIMITED": None,
}


def tier_limit(value: str) -> int | None:
    """A tier name (``TIER_250``, ``TIER_2K``, ``TIER_UNLIMITED``) or a number → the limit (None: none)."""
    text = (value or "").strip().upper()
    if text in TIER_LIMITS:
        return TIER_LIMITS[text]
    if text.isdigit():
        return int(text)
    raise ImproperlyConfigured(f"Unknown WhatsApp messaging limit {value!r}; use e.g. TIER_250 or TIER_2K.")


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
    return _hold(
        HoldReason.BUDGET,
        until,
        f"The messaging limit ({limit} people per 24 hours outside an open window) is used up.",
    )


__all__ = [
    "GO",
    "HOLD",
    "SKIP",
    "SkipReason",
    "Verdict",
    "budget_used",
    "consent_verdict",
    "current_messaging_limit",
    "merged_verdict",
    "recheck_before_request",
    "recipient_address",
    "send_time_verdict",
    "us_marketing_blocked",
    "window_open",
]
