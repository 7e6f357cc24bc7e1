"""A due campaign's recipients written as messages: one ``INSERT … SELECT``, at most once.

When an approved campaign starts, every member of its frozen rules — evaluated now, against
current consent and data — becomes one ``OutboundMessage`` linked to the campaign, in ONE
statement whatever the audience (a million members is a million rows: a Python loop would take
minutes and hold the transaction open all along). The SELECT is ``eligibility.recipients_of``,
the query the preview counts from, so what the preview promised is what is written:

- a member who may receive it is ``queued`` with the approved version of its language, its
  ``next_attempt_at`` the moment its zone class gets it (``schedule.class_timing``: a local-time
  schedule per class, quiet hours for marketing — then held with ``quiet_hours``);
- an excluded member is ``skipped`` with the preview's reason (``error_class``) and wording;
- a member whose message could go only after ``latest_send_at`` is ``skipped`` "too late", one
  whose possible zones share no sending hours ``skipped`` for that;
- two members with the same WhatsApp address (``rules.recipient_address``) are one phone: the
  lowest id among those who would get it is queued, the others ``skipped`` ``duplicate_address``.

**At most once.** The partial unique constraint ``campaign_once_per_contact`` and ``ON CONFLICT DO
NOTHING`` (PostgreSQL and SQLite alike): a second materialisation — a task run twice, two workers —
inserts nothing, and on PostgreSQL the second waits for the first's commit and then finds its rows.

**Parameters are bound per batch, not here.** A message's parameters come from the frozen bindings
and the contact's data (``bindings.build_parameters``, Python). Doing that for every member at
materialisation would be the loop over a million contacts this module exists to avoid; the rows get
``parameters = {}`` and ``rendered_text = ''`` and the dispatcher binds each claimed batch with
:func:`campaign_message_parameters` (one query for its contacts) as it builds the payloads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, DateTimeField, F, Func, Q, Value, When
from django.db.models.functions import Concat
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from contacts.models import Contact, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.campaigns.bindings import build_parameters
from messaging.campaigns.eligibility import Audience, Exclusion, campaign_audience, recipients_of
from messaging.campaigns.languages import campaign_content
from messaging.campaigns.media import header_media_parameter
from messaging.campaigns.preview import earliest_moment, frequency_cap_release, frequency_capped
from messaging.campaigns.schedule import ClassTiming, class_timing, zone_class_conditions, zone_classes_of
from messaging.campaigns.workflow import campaign_complete, campaign_start
from messaging.models import HoldReason, MessageKind, MessageStatus, OutboundMessage
from messaging.sending.enqueue import dispatch_after_commit
from messaging.sending.verdicts import SkipReason
from templates_app.rendering import render_message

DISPATCHER = Actor.system("campaign dispatcher")
RANDOM_HEX_32 = "lower(hex(randomblob(16)))"


class CampaignSkip:
    """Why a member who passed every exclusion is still skipped (``error_class``), with the wording."""

    TOO_LATE = "too_late"
    NO_COMMON_HOURS = SkipReason.NO_COMMON_SENDING_HOURS
    DUPLICATE_ADDRESS = "duplicate_address"

    TEXT = {
        TOO_LATE: "Could only get it after the latest send time.",
        NO_COMMON_HOURS: "Their possible time zones share no sending hours.",
        DUPLICATE_ADDRESS: "Another contact has the same WhatsApp number; that one gets it.",
    }


# The class a contact's zone span puts it in, as a code the INSERT reads (schedule.ClassTiming).
GO, HELD, LATE, NEVER = "go", "held", "late", "never"


@dataclass(frozen=True)
class MaterialiseResult:
    """The campaign's messages after materialising, by state and by skip reason.

    ``inserted`` is what this call wrote (0 when another call had written them); the counts are the
    campaign's rows, whoever wrote them."""

    inserted: int
    queued: int
    held_quiet_hours: int  # part of ``queued``
    skipped: dict[str, int] = field(default_factory=dict)  # error_class → count

    @property
    def total(self) -> int:
        return self.queued + sum(self.skipped.values())


def campaign_start_and_materialise(campaign: Campaign, *, now: datetime | None = None) -> MaterialiseResult:
    """approved → sending and its messages, in ONE transaction: a crash leaves an approved campaign
    without rows or a sending one with all of them. A campaign none of whose members is queued
    (all excluded, or overdue: every one too late) completes at once."""
    now = now or timezone.now()
    with transaction.atomic():
        started = campaign_start(campaign=campaign, actor=DISPATCHER, now=now)
        result = campaign_materialise(campaign=started, now=now)
        if result.queued == 0:
            campaign_complete(campaign=started, actor=DISPATCHER)
        else:
            dispatch_after_commit()
    return result


def campaign_materialise(*, campaign: Campaign, now: datetime | None = None) -> MaterialiseResult:
    """Write the sending campaign's messages (module docstring); a fixed number of statements."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked until the commit: a second materialisation waits here, then finds the rows.
        current = (
            Campaign.objects.select_for_update(of=("self",)).select_related("template").get(pk=campaign.pk)
        )
        frozen = current.frozen if isinstance(current.frozen, dict) else {}
        if current.status != CampaignStatus.SENDING or not frozen.get("rules") or not frozen.get("languages"):
            raise ApplicationError(
                f"“{current.name}” is {CampaignStatus(current.status).label.lower()}: only a started "
                "campaign with its approved (frozen) content gets its messages.",
                code="campaign_not_sending",
                details={"status": current.status},
            )
        inserted = 0
        # Written once, whole (one statement in one transaction): rows mean it is done.
        if not OutboundMessage.objects.filter(campaign_id=current.pk, is_test=False).exists():
            sql, params = _insert_sql(current, now=now)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.rowcount
    return _result(current, inserted=inserted)


# --- the statement ---------------------------------------------------------------------------------


def _timings(campaign: Campaign, recipients, *, now: datetime, marketing: bool) -> dict:
    """Each zone class among the members → its timing (one ``SELECT DISTINCT`` on the zone spans)."""
    return {
        zones: class_timing(campaign, zones, now=now, marketing=marketing)
        for zones in zone_classes_of(recipients)
    }


def _fate(timing: ClassTiming) -> str:
    if timing.go_at is None:
        return NEVER
    if timing.too_late:
        return LATE
    return HELD if timing.held_quiet_hours else GO


def _cap_too_late(campaign: Campaign, *, now: datetime, marketing: bool) -> list[When]:
    """Members at the marketing frequency cap who are free again only after ``latest_send_at``: too
    late, as the preview counts them (at the campaign's first moment). The rest of the cap is the
    claim's to apply, with the messages sent by then."""
    cap = settings.MARKETING_FREQUENCY_CAP
    if not (marketing and cap and cap > 0 and campaign.latest_send_at is not None):
        return []
    first_moment = earliest_moment(campaign, now=now)
    period = timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
    release = frequency_cap_release(first_moment)
    freed_too_late = GreaterThan(release, campaign.latest_send_at - period)
    late = Q(pk__in=frequency_capped(first_moment)) & Q(freed_too_late)
    return [When(late, then=Value(LATE))]


def address_expression() -> Case:
    """``messaging.sending.rules.recipient_address`` in SQL: ``+`` and the WhatsApp id, else the phone."""
    return Case(
        When(
            Q(wa_id__isnull=False) & ~Q(wa_id=""),
            then=Concat(Value("+"), Func(F("wa_id"), Value("+"), function="LTRIM")),
        ),
        default=F("phone"),
        output_field=CharField(),
    )


def _selected(campaign: Campaign, audience: Audience, *, now: datetime) -> tuple[str, list]:
    """The members (``recipients_of``) with their exclusion, language, address, send time and fate."""
    marketing = audience.purpose == Purpose.MARKETING
    members = recipients_of(audience, now=now)
    timings = _timings(campaign, members, now=now, marketing=marketing)
    # A class that joined between the two statements (a contact created meanwhile) goes at the
    # latest moment any class goes; the claim asks quiet hours again.
    fallback = max((t.go_at for t in timings.values() if t.go_at is not None), default=now)
    go_at = Case(
        *[
            When(q, then=Value(at))
            for q, at in zone_class_conditions({z: t.go_at for z, t in timings.items()})
        ],
        default=Value(fallback),
        output_field=DateTimeField(),
    )
    fate = Case(
        *_cap_too_late(campaign, now=now, marketing=marketing),
        *[
            When(q, then=Value(code))
            for q, code in zone_class_conditions({z: _fate(t) for z, t in timings.items()})
        ],
        default=Value(GO),
        output_field=CharField(),
    )
    query = (
        members.annotate(m_address=address_expression(), m_go_at=go_at, m_fate=fate)
        .order_by()
        .values("id", "exclusion", "send_language", "m_address", "m_go_at", "m_fate")
    )
    sql, params = query.query.sql_with_params()
    return sql, list(params)


def _insert_sql(campaign: Campaign, *, now: datetime) -> tuple[str, list]:
    """``INSERT INTO outbound (…) SELECT … FROM (members) ON CONFLICT DO NOTHING``.

    Every column of ``OutboundMessage`` is written: the ones that vary per member as SQL, the rest
    as their model default (so a column added later with a default needs nothing here)."""
    audience = campaign_audience(campaign)
    selected, selected_params = _selected(campaign, audience, now=now)
    content = campaign_content(campaign)
    params: list = []

    def p(value) -> str:
        params.append(value)
        return "%s"

    reasons = {**{reason.value: reason.label for reason in Exclusion}, **CampaignSkip.TEXT}
    languages = sorted(content.languages.items())
    # Each column's SQL is written when its turn comes (the columns' order), so its parameters
    # are appended in the order their placeholders appear.
    per_member = {
        # How Django stores a UUIDField: PostgreSQL's uuid type; on SQLite 32 hex digits.
        "public_id": lambda: "gen_random_uuid()" if connection.vendor == "postgresql" else RANDOM_HEX_32,
        "contact_id": lambda: "d.id",
        "kind": lambda: p(MessageKind.TEMPLATE.value),
        "purpose": lambda: p(audience.purpose),
        "template_version_id": lambda: (
            "CASE d.send_language "
            + " ".join(f"WHEN {p(code)} THEN {p(item.version_id)}" for code, item in languages)
            + f" ELSE {p(content.default.version_id)} END"
        ),
        "campaign_id": lambda: p(campaign.pk),
        "status": lambda: (
            f"CASE WHEN d.reason IS NULL THEN {p(MessageStatus.QUEUED.value)} "
            f"ELSE {p(MessageStatus.SKIPPED.value)} END"
        ),
        "hold_reason": lambda: (
            f"CASE WHEN d.reason IS NULL AND d.m_fate = {p(HELD)} "
            f"THEN {p(HoldReason.QUIET_HOURS.value)} ELSE {p('')} END"
        ),
        "next_attempt_at": lambda: "CASE WHEN d.reason IS NULL THEN d.m_go_at END",
        "error_class": lambda: f"COALESCE(d.reason, {p('')})",
        "error_text": lambda: (
            "CASE d.reason "
            + " ".join(f"WHEN {p(code)} THEN {p(text)}" for code, text in reasons.items())
            + f" ELSE {p('')} END"
        ),
        "finished_at": lambda: f"CASE WHEN d.reason IS NOT NULL THEN {p(now)} END",
        "actor_kind": lambda: p(DISPATCHER.kind),
        "actor_ref": lambda: p(DISPATCHER.ref),
        "actor_label": lambda: p(DISPATCHER.label),
        "created_at": lambda: p(now),
        "updated_at": lambda: p(now),
    }
    columns, values = [], []
    for model_field in OutboundMessage._meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(connection.ops.quote_name(model_field.column))
        if model_field.attname in per_member:
            values.append(per_member[model_field.attname]())
        else:
            default = model_field.get_db_prep_save(model_field.get_default(), connection)
            values.append(p(default))
    # The reason a member who passed every exclusion is still skipped: its class's timing, then
    # being the second of an address among those who would get it.
    timing_reason = (
        f"CASE WHEN s.exclusion IS NOT NULL THEN s.exclusion "
        f"WHEN s.m_fate = '{NEVER}' THEN '{CampaignSkip.NO_COMMON_HOURS}' "
        f"WHEN s.m_fate = '{LATE}' THEN '{CampaignSkip.TOO_LATE}' END"
    )
    sql = (
        f"INSERT INTO {connection.ops.quote_name(OutboundMessage._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM ("
        f"SELECT r.*, COALESCE(r.pre_reason, CASE WHEN r.rank_at_address > 1 "
        f"THEN '{CampaignSkip.DUPLICATE_ADDRESS}' END) AS reason FROM ("
        f"SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.m_address, t.pre_reason ORDER BY t.id) "
        f"AS rank_at_address FROM ("
        f"SELECT s.*, {timing_reason} AS pre_reason FROM ({selected}) s"
        f") t) r) d WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )
    # The outer SELECT list's placeholders come first in the text, the members query's after.
    return sql, [*params, *selected_params]


def _result(campaign: Campaign, *, inserted: int) -> MaterialiseResult:
    rows = (
        OutboundMessage.objects.filter(campaign_id=campaign.pk, is_test=False)
        .order_by()
        .values("status", "hold_reason", "error_class")
        .annotate(n=Count("pk"))
    )
    queued = held = 0
    skipped: dict[str, int] = {}
    for row in rows:
        if row["status"] == MessageStatus.SKIPPED:
            skipped[row["error_class"]] = skipped.get(row["error_class"], 0) + row["n"]
        elif row["status"] == MessageStatus.QUEUED:
            queued += row["n"]
            held += row["n"] if row["hold_reason"] == HoldReason.QUIET_HOURS else 0
    return MaterialiseResult(inserted=inserted, queued=queued, held_quiet_hours=held, skipped=skipped)


# --- parameters, per claimed batch -----------------------------------------------------------------


def campaign_message_parameters(
    messages: Iterable[OutboundMessage],
) -> dict[int, tuple[dict, str] | ApplicationError]:
    """Each campaign message's parameters and rendered text, bound from its campaign's frozen
    bindings and its contact's data as they are now (the contacts the messages carry — the
    dispatcher's claim reads them after locking them — or else one query; the campaigns in
    another).

    For the dispatcher, per claimed batch (module docstring). A message that cannot be bound — a
    value without a fallback gone since materialisation, a media header not uploaded yet
    (``media.campaign_media_ensure`` runs first) — maps to the ``ApplicationError`` saying why,
    not to a tuple. Messages of no campaign are left out: ``send_message`` bound theirs.
    """
    batch = [m for m in messages if m.campaign_id is not None]
    if not batch:
        return {}
    campaigns = Campaign.objects.in_bulk({m.campaign_id for m in batch})
    # The dispatcher's claim read the contacts a moment ago, after locking them: those serve.
    contacts = {m.contact_id: m.contact for m in batch if OutboundMessage.contact.is_cached(m)}
    missing = {m.contact_id for m in batch} - contacts.keys()
    if missing:
        contacts.update(Contact.objects.in_bulk(missing))
    contents = {pk: campaign_content(c) for pk, c in campaigns.items()}
    bound: dict[int, tuple[dict, str] | ApplicationError] = {}
    for message in batch:
        campaign, content = campaigns[message.campaign_id], contents[message.campaign_id]
        item = next(
            (i for i in content.languages.values() if i.version_id == message.template_version_id),
            content.default,
        )
        try:
            media = header_media_parameter(campaign, item, required=True)
            parameters = build_parameters(
                content, item, contact=contacts[message.contact_id], header_media=media
            )
        except ApplicationError as error:
            bound[message.pk] = error
            continue
        text = render_message(components=item.components, parameters=parameters).as_text()
        bound[message.pk] = (parameters, text)
    return bound
