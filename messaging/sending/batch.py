"""The batch dispatcher: every queued message leaves through here, a batch at a time.

One batch is about one second of the global rate (at most ``DISPATCH_BATCH_MAX``). Its steps,
each committed before the next, so a crash anywhere leaves a state the sweeper can read:

1. **Claim** (one transaction, :func:`claim_batch`): the due ``queued`` rows are locked with
   ``SKIP LOCKED`` — single sends (API, admin, replies, test sends) first, then messages of
   campaigns that are ``sending`` (a paused campaign's messages stay where they are) — and their
   contacts' rows ``FOR SHARE`` (``record_consent`` takes them ``FOR UPDATE``: an opt-out being
   recorded is either seen here or waits for this claim). The send-time rules answer for the whole
   batch in a constant number of queries (``rules.send_time_verdicts``); the rules lock row is
   taken only when a frequency cap or the budget applies to one of them, so that two workers
   never both spend the last unit. Held messages go back to ``queued`` with their reason, the
   ones that may never go become ``skipped``, the rest ``sending`` with ``claimed_at`` = the
   batch's token and the consent event that allowed them. A few statements per batch.
2. **Attempts** (one transaction per sub-batch of about a quarter second of rate,
   :func:`start_attempts`), just before its requests leave: the contacts are locked again and a
   merge and consent are asked again for the sub-batch (``rules.consent_verdicts``), so an
   opt-out recorded after the claim still wins; the halt is read again; then one ``pending``
   ``SendAttempt`` per message, conditional on the claim still standing. "Sending with no
   attempt" proves nothing left; "sending with a pending attempt" means a request may have.
3. **Send**: slots for the sub-batch from the global limiter (and the campaign's own cap), then
   concurrent requests through the backend's ``send_many``, each leaving at its slot.
4. **Outcomes**: acceptances are recorded in bulk (attempt, message, the contact's wa_id where
   Meta reported one it lacked, statuses that arrived first); refusals, retries and unknown
   outcomes one by one through the one error table (``failures``, ``states``), as they are rare.

The one-message forms (``dispatch.claim_message``, ``dispatch.start_attempt``,
``dispatch.send_queued``) are batches of one, so every rule and guard has one implementation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from cloud_api.backends import get_backend
from cloud_api.outcomes import Accepted, SendOutcome
from contacts.models import Contact, Purpose
from core.bulk_sql import update_from_values
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus
from messaging.models import (
    AttemptOutcome,
    HoldReason,
    InboundMessage,
    MessageStatus,
    OutboundMessage,
    RateLimiterSlot,
    SendAttempt,
)
from messaging.sending import limiter
from messaging.sending.halt import active_halt
from messaging.sending.reach import current_messaging_limit
from messaging.sending.replies import is_reply
from messaging.sending.rules import (
    Verdict,
    recheck_before_requests,
    send_time_verdicts,
    window_open,
)
from messaging.sending.verdicts import SkipReason
from messaging.signals import announce_states
from templates_app.components import FrozenComponents
from templates_app.models import Category as TemplateCategory
from templates_app.models import TemplateVersion

logger = logging.getLogger(__name__)

DISPATCH_BATCH_MAX = 1000
SUB_BATCH_SECONDS = 0.25
# Claims of business-initiated messages to which a cap or the budget applies are serialised on
# this row, so two workers cannot both spend the last unit of the budget or the frequency cap.
RULES_LOCK_KEY = "claim:send-time-rules"


@dataclass
class Batch:
    """What one claim took: the messages now ``sending`` under ``token``, and what it decided."""

    token: datetime
    claimed: list[OutboundMessage] = field(default_factory=list)
    held: int = 0
    skipped: int = 0
    verdicts: dict[int, Verdict] = field(default_factory=dict)  # message id → a hold or skip verdict

    def __bool__(self) -> bool:
        return bool(self.claimed or self.held or self.skipped)


def batch_size() -> int:
    """About one second of the global rate, at most ``DISPATCH_BATCH_MAX``."""
    return max(1, min(DISPATCH_BATCH_MAX, math.ceil(settings.WHATSAPP_MESSAGES_PER_SECOND)))


def sub_batch_size() -> int:
    return max(1, math.ceil(settings.WHATSAPP_MESSAGES_PER_SECOND * SUB_BATCH_SECONDS))


def due_q(now: datetime) -> Q:
    return Q(status=MessageStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


# Test sends belong to a campaign that is not sending; they go like any single send.
SINGLE_SENDS = Q(campaign__isnull=True) | Q(is_test=True)
# A campaign's messages go only while it is sending: paused, its messages simply stay queued.
CAMPAIGN_SENDING = Q(campaign__isnull=False, is_test=False, campaign__status=CampaignStatus.SENDING)


# --- 1. Claim ----------------------------------------------------------------------------------


def claim_batch(
    *, limit: int | None = None, now: datetime | None = None, ids: Sequence[int] | None = None
) -> Batch:
    """Claim up to ``limit`` due messages (only ``ids`` when given), deciding each by the rules."""
    now = now or timezone.now()
    limit = limit or batch_size()
    batch = Batch(token=now)
    with transaction.atomic():
        locked = _lock_due(limit, now, ids)
        if not locked:
            return batch
        messages = _load_locked(locked)
        if _rules_lock_needed(messages, now):
            _lock_rules()
        verdicts = send_time_verdicts(messages, now)
        go: list[tuple[OutboundMessage, Verdict]] = []
        holds: dict[tuple, list[int]] = defaultdict(list)
        skips: dict[tuple, list[int]] = defaultdict(list)
        for message, verdict in zip(messages, verdicts, strict=True):
            if verdict.go:
                go.append((message, verdict))
                continue
            batch.verdicts[message.pk] = verdict
            group = holds if verdict.held else skips
            group[(verdict.reason, verdict.until, verdict.detail)].append(message.pk)
        for (reason, until, _detail), message_ids in holds.items():
            batch.held += _hold(message_ids, reason=reason, until=until, now=now)
        for (reason, _until, detail), message_ids in skips.items():
            batch.skipped += skip_messages(message_ids, reason=reason, detail=detail, now=now)
        if skips:
            skipped = (m for m in messages if m.pk in batch.verdicts and batch.verdicts[m.pk].skipped)
            announce_states(skipped, MessageStatus.SKIPPED)
        batch.claimed = _mark_sending(go, now)
    return batch


def _lock_due(limit: int, now: datetime, ids: Sequence[int] | None) -> list[int]:
    """Lock due rows, single sends first; a campaign's messages only while it is sending."""
    due = OutboundMessage.objects.filter(due_q(now))
    if ids is not None:
        due = due.filter(pk__in=list(ids))

    def lock(queryset, count: int) -> list[int]:
        return list(
            queryset.select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:count]
        )

    locked = lock(due.filter(SINGLE_SENDS), limit)
    if len(locked) < limit:
        locked += lock(due.filter(CAMPAIGN_SENDING), limit - len(locked))
    return locked


def _load_locked(ids: list[int]) -> list[OutboundMessage]:
    """The locked messages with their contacts, read after locking the contacts (``FOR SHARE``:
    an opt-out or a merge being recorded for one of them is committed before, or waits). Their
    template versions and campaigns are read once each, not once per message (a version's
    components and a campaign's frozen document are large), the components as
    ``FrozenComponents``; and the wamids of the inbound messages the replies answer."""
    lock_contacts_for_share(
        OutboundMessage.objects.filter(pk__in=ids).values_list("contact_id", flat=True).distinct()
    )
    order = {pk: index for index, pk in enumerate(ids)}
    messages = sorted(
        OutboundMessage.objects.filter(pk__in=ids).select_related("contact"), key=lambda m: order[m.pk]
    )
    versions = TemplateVersion.objects.select_related("template").in_bulk(
        {m.template_version_id for m in messages if m.template_version_id}
    )
    for version in versions.values():  # its structure read once for the batch, not per message
        version.components = FrozenComponents(version.components)
    campaigns = Campaign.objects.in_bulk({m.campaign_id for m in messages if m.campaign_id})
    # The wamids the replies quote (``context``), read once for the batch.
    answered = InboundMessage.objects.only("wamid").in_bulk({m.reply_to_id for m in messages} - {None})
    for message in messages:
        if message.template_version_id:
            message.template_version = versions[message.template_version_id]
        if message.campaign_id:
            message.campaign = campaigns[message.campaign_id]
        if message.reply_to_id:
            message.reply_to = answered[message.reply_to_id]
    return messages


def lock_contacts_for_share(contact_ids: Iterable[int]) -> None:
    """``FOR SHARE`` on these contacts' rows, in id order (no deadlock between two batches).

    ``record_consent`` and merges lock a contact ``FOR UPDATE``, which waits for this lock and
    which this lock waits for. SQLite has one writer at a time, which already serialises them.
    """
    ids = sorted(set(contact_ids))
    if not ids or connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE", [ids])


def _rules_lock_needed(messages: Sequence[OutboundMessage], now: datetime) -> bool:
    """Whether a frequency cap or the budget may count one of these messages, so the claim must be
    serialised with other workers' (once per batch, for the claim's transaction only): a marketing
    message while a cap is set, or a business-initiated one to a closed window while a messaging
    limit applies. Replies and service messages inside a window never wait for the lock."""
    business = [m for m in messages if not is_reply(m)]
    if settings.MARKETING_FREQUENCY_CAP and any(_may_be_marketing(m) for m in business):
        return True
    closed = any(not window_open(m.contact, now) for m in business)
    return closed and current_messaging_limit() is not None


def _may_be_marketing(message: OutboundMessage) -> bool:
    if message.purpose == Purpose.MARKETING:
        return True
    version = message.template_version
    return version is not None and TemplateCategory.MARKETING in (version.category, version.template.category)


def _lock_rules() -> None:
    RateLimiterSlot.objects.get_or_create(key=RULES_LOCK_KEY)
    RateLimiterSlot.objects.select_for_update().filter(key=RULES_LOCK_KEY).exists()


def _hold(message_ids: list[int], *, reason: str, until: datetime | None, now: datetime) -> int:
    """Back to ``queued`` (from ``queued``: a claim's held messages) with the reason until ``until``."""
    return OutboundMessage.objects.filter(pk__in=message_ids, status=MessageStatus.QUEUED).update(
        hold_reason=reason, next_attempt_at=until, claimed_at=None, updated_at=now
    )


def skip_messages(
    message_ids: list[int],
    *,
    reason: str,
    detail: str,
    now: datetime,
    expected: Iterable[str] = (MessageStatus.QUEUED,),
    claimed_at: datetime | None = None,
) -> int:
    """Never sent and never will be: ``skipped`` with the reason and its text (one UPDATE)."""
    claim = {"claimed_at": claimed_at} if claimed_at is not None else {}
    return OutboundMessage.objects.filter(pk__in=message_ids, status__in=list(expected), **claim).update(
        status=MessageStatus.SKIPPED,
        hold_reason=HoldReason.NONE,
        next_attempt_at=None,
        error_class=reason,
        error_text=detail,
        finished_at=now,
        updated_at=now,
    )


def _mark_sending(go: list[tuple[OutboundMessage, Verdict]], now: datetime) -> list[OutboundMessage]:
    """``queued → sending`` for the allowed messages, each with its proof, in one statement."""
    if not go:
        return []
    rows = [
        (
            message.pk,
            verdict.authorising_event_id,
            verdict.purpose or message.purpose,
            verdict.template_version_id or message.template_version_id,
        )
        for message, verdict in go
    ]
    claimed = update_from_values(
        OutboundMessage,
        (("event", "bigint"), ("purpose", "text"), ("version", "bigint")),
        rows,
        assignments=(
            "status = %s, claimed_at = %s, hold_reason = '', next_attempt_at = NULL, updated_at = %s, "
            "authorising_event_id = CAST(v.event AS bigint), purpose = v.purpose, "
            "template_version_id = CAST(v.version AS bigint)"
        ),
        params=[MessageStatus.SENDING, now, now],
        where="t.status = %s",
        where_params=[MessageStatus.QUEUED],
    )
    for message, verdict in go:
        if message.pk in claimed:
            message.status = MessageStatus.SENDING
            message.claimed_at = now
            message.authorising_event_id = verdict.authorising_event_id
            message.purpose = verdict.purpose or message.purpose
    _follow_approved_versions([(m, v) for m, v in go if m.pk in claimed])
    return [message for message, _ in go if message.pk in claimed]


def _follow_approved_versions(go: list[tuple[OutboundMessage, Verdict]]) -> None:
    """A message goes with its template's approved version now (Meta sends that one): where it
    changed since the message was queued, the new versions are read in one query."""
    changed = [
        (m, v.template_version_id)
        for m, v in go
        if v.template_version_id and v.template_version_id != m.template_version_id
    ]
    if not changed:
        return
    versions = TemplateVersion.objects.select_related("template").in_bulk({pk for _, pk in changed})
    for message, version_id in changed:
        message.template_version = versions[version_id]


# --- 2. Attempts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    message: OutboundMessage
    attempt: SendAttempt


def start_attempts(messages: Sequence[OutboundMessage], *, token: datetime) -> tuple[list[Started], int]:
    """One pending attempt per message whose claim still stands and that may still go; returns
    them and how many were skipped (a merge or an opt-out since the claim) or held (a halt)."""
    now = timezone.now()
    stopped = 0
    with transaction.atomic():
        ids = [m.pk for m in messages]
        lock_contacts_for_share(m.contact_id for m in messages)
        current = {
            row["pk"]: row
            for row in OutboundMessage.objects.filter(
                pk__in=ids, status=MessageStatus.SENDING, claimed_at=token
            ).values("pk", "contact__merged_into_id", "campaign__status")
        }
        standing = [m for m in messages if m.pk in current]
        # A campaign paused, sent back or cancelled since the claim (by staff, the breaker, Meta's
        # verdict on its template): its messages not sent yet go back to the queue — or are
        # cancelled with it — and nothing leaves.
        stopped_campaign = {
            m.pk: current[m.pk]["campaign__status"]
            for m in standing
            if m.campaign_id and not m.is_test and current[m.pk]["campaign__status"] != CampaignStatus.SENDING
        }
        if stopped_campaign:
            stopped += _return_from_stopped_campaigns(stopped_campaign, token=token, now=now)
            standing = [m for m in standing if m.pk not in stopped_campaign]
        # What may have changed while the batch waited for its slots: a merge, consent (rules).
        verdicts = dict(
            zip(
                (m.pk for m in standing),
                recheck_before_requests(
                    standing, merged_into_ids=[current[m.pk]["contact__merged_into_id"] for m in standing]
                ),
                strict=True,
            )
        )
        refused: dict[tuple, list[int]] = defaultdict(list)
        merged = [m for m in standing if verdicts[m.pk].reason == SkipReason.CONTACT_MERGED]
        for message in merged:  # never a recipient, halt or not
            refused[(verdicts[message.pk].reason, verdicts[message.pk].detail)].append(message.pk)
        standing = [m for m in standing if verdicts[m.pk].reason != SkipReason.CONTACT_MERGED]
        halt = active_halt()
        if halt is not None:
            halted = {m.pk for m in standing if halt.holds(m)}
            # The halt started after the claim: nothing left, so these simply wait.
            stopped += OutboundMessage.objects.filter(
                pk__in=halted, status=MessageStatus.SENDING, claimed_at=token
            ).update(
                status=MessageStatus.QUEUED,
                hold_reason=HoldReason.HALT,
                next_attempt_at=None,
                claimed_at=None,
                updated_at=now,
            )
            standing = [m for m in standing if m.pk not in halted]
        allowed = []
        for message in standing:
            verdict = verdicts[message.pk]
            if verdict.go:
                allowed.append((message, verdict))
            else:
                refused[(verdict.reason, verdict.detail)].append(message.pk)
        for (reason, detail), message_ids in refused.items():
            stopped += skip_messages(
                message_ids,
                reason=reason,
                detail=detail,
                now=now,
                expected=(MessageStatus.SENDING,),
                claimed_at=token,
            )
        if refused:
            skipped = {pk for message_ids in refused.values() for pk in message_ids}
            announce_states((m for m in messages if m.pk in skipped), MessageStatus.SKIPPED)
        started = _write_attempts(allowed, token=token, now=now)
    return started, stopped


def _return_from_stopped_campaigns(statuses: dict[int, str], *, token: datetime, now: datetime) -> int:
    from messaging.campaigns.workflow import CANCELLED_REASON

    claimed = OutboundMessage.objects.filter(status=MessageStatus.SENDING, claimed_at=token)
    cancelled = [pk for pk, status in statuses.items() if status == CampaignStatus.CANCELLED]
    waiting = [pk for pk, status in statuses.items() if status != CampaignStatus.CANCELLED]
    return claimed.filter(pk__in=cancelled).update(
        status=MessageStatus.CANCELLED,
        claimed_at=None,
        error_class=CANCELLED_REASON,
        error_text="The campaign was cancelled before this message went.",
        finished_at=now,
        updated_at=now,
    ) + claimed.filter(pk__in=waiting).update(
        status=MessageStatus.QUEUED, claimed_at=None, next_attempt_at=now, updated_at=now
    )


def _write_attempts(allowed: list[tuple[OutboundMessage, Verdict]], *, token: datetime, now: datetime):
    """The attempt counter moves on, the proof that holds now and a campaign message's bound
    parameters are stored (one statement), then the pending attempts (one insert) — only for
    messages whose claim still stands."""
    if not allowed:
        return []
    rows = [
        (
            m.pk,
            None if is_reply(m) else verdict.authorising_event_id,
            0 if is_reply(m) else 1,
            json.dumps(m.parameters) if getattr(m, "parameters_bound", False) else None,
            m.rendered_text if getattr(m, "parameters_bound", False) else None,
        )
        for m, verdict in allowed
    ]
    as_json = "CAST(v.parameters AS jsonb)" if connection.vendor == "postgresql" else "v.parameters"
    advanced = update_from_values(
        OutboundMessage,
        (("event", "bigint"), ("proof", "integer"), ("parameters", "text"), ("rendered", "text")),
        rows,
        assignments=(
            "attempt_count = attempt_count + 1, updated_at = %s, authorising_event_id = "
            "CASE WHEN v.proof = 1 THEN CAST(v.event AS bigint) ELSE t.authorising_event_id END, "
            f"parameters = CASE WHEN v.parameters IS NULL THEN t.parameters ELSE {as_json} END, "
            "rendered_text = COALESCE(v.rendered, t.rendered_text)"
        ),
        params=[now],
        where="t.status = %s AND t.claimed_at = %s",
        where_params=[MessageStatus.SENDING, token],
        returning="attempt_count",
    )
    started = []
    attempts = []
    for message, verdict in allowed:
        if message.pk not in advanced:
            continue
        message.attempt_count = advanced[message.pk]
        if not is_reply(message):
            message.authorising_event_id = verdict.authorising_event_id
        attempt = SendAttempt(
            message=message, number=message.attempt_count, outcome=AttemptOutcome.PENDING, started_at=now
        )
        attempts.append(attempt)
        started.append(Started(message, attempt))
    SendAttempt.objects.bulk_create(attempts)
    return started


# --- 3. Send ----------------------------------------------------------------------------------


@dataclass
class Sent:
    """What sending a claimed batch did."""

    requests: int = 0
    accepted: int = 0
    stopped: int = 0  # skipped or held between the claim and the request
    failed_before_sending: int = 0


class Pipeline:
    """A sub-batch's requests in flight while the dispatcher prepares the next.

    A dispatcher that waited for every answer and recorded it before reserving the next sub-batch's
    slots left the rate idle meanwhile: one dispatcher kept about 71 of 80 messages a second. Now
    a sub-batch's requests go (the backend's ``start_many``) and, while they are in flight, the
    dispatcher claims the next batch, binds and builds the next sub-batch and waits for its slots;
    it writes that sub-batch's attempts (consent asked again) and lets it go, and only then records
    the previous sub-batch's answers, which have arrived by then. Waiting for those answers first
    would hold the next requests back by a round trip and the recording, and they would then leave
    in a burst above the rate to catch up with their slots.

    So an answer acts on the sub-batch after the one in flight: a 132015 pauses the campaign, an
    account error halts sending, a 130429 slows the limiter, at most one sub-batch (a quarter of a
    second of rate) late — requests Meta refuses for the same reason. A pause, cancel or halt by
    staff, the circuit breaker and an opt-out are read in the attempts' own statement, before each
    sub-batch leaves, as before. In-flight messages stay ``sending`` (claimed), which the frequency
    cap and the budget count. A backend without ``start_many`` (the in-memory one of the tests)
    answers at once, and its answers are recorded at once: nothing overlaps.
    """

    def __init__(self) -> None:
        self._in_flight: tuple[list[Started], Future, Sent] | None = None

    def submit(self, started: list[Started], payloads: list, slots: list[float], sent: Sent) -> None:
        backend = get_backend()
        sent.requests += len(started)
        start_many = getattr(backend, "start_many", None)
        if start_many is None:  # answered at once: recorded at once, nothing overlaps
            self.finish()
            done = Future()
            done.set_result(backend.send_many(payloads, not_before=slots))
            self._record(started, done, sent)
            return
        previous, self._in_flight = self._in_flight, (started, start_many(payloads, not_before=slots), sent)
        if previous is not None:
            self._record(*previous)

    def finish(self) -> None:
        """Wait for the requests in flight and record their outcomes."""
        if self._in_flight is not None:
            previous, self._in_flight = self._in_flight, None
            self._record(*previous)

    @staticmethod
    def _record(started: list[Started], future: Future, sent: Sent) -> None:
        outcomes = future.result()
        record_outcomes(started, outcomes)
        sent.accepted += sum(isinstance(o, Accepted) for o in outcomes)


def send_batch(batch: Batch, pipeline: Pipeline | None = None) -> Sent:
    """Steps 2–4 for the messages ``batch`` claimed, a sub-batch at a time, each campaign's messages
    under its own cap too. With the dispatcher's ``pipeline``, the last sub-batch may still be in
    flight on return; without one, every outcome is recorded before it returns."""
    sent = Sent()
    own = pipeline is None
    pipeline = pipeline or Pipeline()
    try:
        for campaign, chunk in _sub_batches(batch.claimed):
            if campaign is not None:
                chunk, unbound = bind_campaign_parameters(chunk)
                sent.failed_before_sending += unbound
            payloads = {}
            for message in chunk:
                payload = _payload_or_fail(message)
                if payload is None:
                    sent.failed_before_sending += 1
                else:
                    payloads[message.pk] = payload
            chunk = [m for m in chunk if m.pk in payloads]
            if not chunk:
                continue
            slots = wait_for_slots(len(chunk), campaign=campaign)
            started, stopped = start_attempts(chunk, token=batch.token)
            sent.stopped += stopped
            if not started:
                continue  # the slots are simply spent
            pipeline.submit(started, [payloads[s.message.pk] for s in started], slots[: len(started)], sent)
    finally:
        if own:
            pipeline.finish()
    return sent


def _sub_batches(messages: Sequence[OutboundMessage]):
    """(campaign or None, messages) in claim order: a campaign's messages together, so each
    sub-batch takes its slots from the global limiter and from that campaign's cap. A capped
    campaign's sub-batch is at most one second of its cap: ``limiter.reserve_for`` keeps the cap
    over each sub-batch's span, so a longer one could send faster than the cap within a second."""
    size = sub_batch_size()
    groups: dict[int | None, list[OutboundMessage]] = {}
    for message in messages:
        key = None if message.is_test else message.campaign_id
        groups.setdefault(key, []).append(message)
    for key, group in groups.items():
        campaign = group[0].campaign if key is not None else None
        step = (
            min(size, max(1, int(campaign.rate_cap))) if campaign is not None and campaign.rate_cap else size
        )
        for start in range(0, len(group), step):
            yield campaign, group[start : start + step]


def bind_campaign_parameters(messages: list[OutboundMessage]) -> tuple[list[OutboundMessage], int]:
    """A campaign's messages are written without parameters (one INSERT for the whole audience,
    ``campaigns.materialise``): each claimed one gets them here, from the frozen bindings and the
    contact's data now; they are stored with its rendered text by the statement that writes its
    attempt (``_write_attempts``: what is stored is what the request carried, and no extra UPDATE
    of every row). A message that can no longer be bound fails with why; returns the others and how
    many failed."""
    from messaging.campaigns.materialise import campaign_message_parameters
    from messaging.sending.states import message_fail

    bound = campaign_message_parameters(messages)
    ready, failed = [], 0
    for message in messages:
        result = bound[message.pk]
        if isinstance(result, ApplicationError):
            error = {"error_code": None, "error_class": result.code, "error_text": result.message}
            failed += message_fail(message, error=error, expected=(MessageStatus.SENDING,))
            continue
        message.parameters, message.rendered_text = result
        message.parameters_bound = True
        ready.append(message)
    return ready, failed


def wait_for_slots(count: int, *, campaign=None) -> list[float]:
    """Reserve ``count`` send slots (the global rate, and the campaign's cap when it has one) and
    sleep until the first; returns each request's instant (``time.time()``)."""
    slots = limiter.reserve_for(
        count,
        campaign_id=campaign.pk if campaign is not None and campaign.rate_cap else None,
        campaign_rate=campaign.rate_cap if campaign is not None else None,
    )
    wait = slots[0] - time.time() if slots else 0
    if wait > 0:
        time.sleep(wait)
    return slots


def _payload_or_fail(message: OutboundMessage):
    """Meta's request body, or None when it cannot be built (the message is failed with why)."""
    from messaging.sending.dispatch import build_payload
    from messaging.sending.states import message_fail

    try:
        return build_payload(message)
    except ApplicationError as exc:
        message_fail(
            message,
            error={"error_code": None, "error_class": exc.code, "error_text": exc.message},
            expected=(MessageStatus.SENDING,),
        )
        return None


# --- 4. Outcomes -------------------------------------------------------------------------------


def record_accepted_many(accepted: Sequence[tuple[Started, Accepted]]) -> None:
    """Acceptances in bulk: the attempts (wamid), the messages (only the latest attempt decides a
    message), the wa_ids Meta reported, then any statuses that arrived before this commit."""
    from messaging import statuses
    from messaging.sending.dispatch import adopt_wa_ids

    if not accepted:
        return
    now = timezone.now()
    with transaction.atomic():
        # The messages first, then their attempts: the order in which the webhook processor locks
        # them when a status beats this commit (``statuses._reconcile_unknown``: the message by
        # its public id, then its attempts). The other order deadlocked the two under load.
        moved = update_from_values(
            OutboundMessage,
            (("number", "integer"),),
            [(started.message.pk, started.attempt.number) for started, _ in accepted],
            assignments=(
                "status = %s, accepted_at = %s, needs_review = %s, error_code = NULL, error_class = '', "
                "error_text = '', updated_at = %s"
            ),
            params=[MessageStatus.ACCEPTED, now, False, now],
            where="t.status IN (%s, %s) AND t.attempt_count = v.number",
            where_params=[MessageStatus.SENDING, MessageStatus.UNKNOWN],
        )
        update_from_values(
            SendAttempt,
            (("wamid", "text"),),
            [(started.attempt.pk, outcome.wamid) for started, outcome in accepted],
            assignments="outcome = %s, wamid = v.wamid, finished_at = %s, reconcile_by = NULL",
            params=[AttemptOutcome.ACCEPTED, now],
            where="t.outcome IN (%s, %s)",
            where_params=[AttemptOutcome.PENDING, AttemptOutcome.UNKNOWN],
        )
        for started, outcome in accepted:
            started.attempt.wamid = outcome.wamid
            started.attempt.outcome = AttemptOutcome.ACCEPTED
        announce_states((s.message for s, _ in accepted if s.message.pk in moved), MessageStatus.ACCEPTED)
        adopt_wa_ids([(started.message.contact, outcome.wa_id) for started, outcome in accepted])
        # A status webhook can beat this commit: statuses waiting for these wamids apply with it,
        # and once more after it for one the processor stored while this transaction was open
        # (it could not see these wamids yet; it looks again after its own commit, so one of the
        # two looks always sees the other's row — statuses.apply_status_reports).
        attempts = [started.attempt for started, _ in accepted]
        statuses.apply_statuses_waiting_for(attempts)
        transaction.on_commit(lambda: statuses.apply_statuses_waiting_for(attempts))


def record_outcomes(started: Sequence[Started], outcomes: Sequence[SendOutcome]) -> None:
    """Each request's answer: acceptances in bulk, the rest one by one through the error table."""
    from messaging.sending.dispatch import record_outcome

    pairs = list(zip(started, outcomes, strict=True))
    record_accepted_many([(s, o) for s, o in pairs if isinstance(o, Accepted)])
    for s, outcome in pairs:
        if not isinstance(outcome, Accepted):
            record_outcome(s.message, s.attempt, outcome)


# --- 5. The task -------------------------------------------------------------------------------

DRAIN_SECONDS = 40.0  # well below django-q2's task timeout (60 s): then a fresh task takes over


def dispatch(slot: int = 0) -> str:
    """Claim and send batches until nothing is due (waiting for what is due within a few
    seconds), then sleep; a full batch wakes the next dispatcher (``WHATSAPP_DISPATCHERS``)."""
    from messaging.campaigns.breaker import campaigns_breaker_tick
    from messaging.sending.enqueue import AWAKE_SECONDS, awake_key, wake_dispatcher

    key = awake_key(slot)
    started = time.monotonic()
    requests = 0
    pipeline = Pipeline()  # the last sub-batch's requests in flight while the next batch is claimed
    answered_later: set[int] = set()  # campaigns whose last requests were still in flight

    def settle() -> None:
        pipeline.finish()
        if answered_later:
            campaigns_breaker_tick(answered_later)
            complete_finished_campaigns(answered_later)
            answered_later.clear()

    try:
        while time.monotonic() - started < DRAIN_SECONDS:
            batch = claim_batch()
            if batch:
                cache.set(key, True, AWAKE_SECONDS)  # still awake
                if len(batch.claimed) >= batch_size() and slot + 1 < settings.WHATSAPP_DISPATCHERS:
                    wake_dispatcher(slot + 1)  # a backlog: another dispatcher helps
                requests += send_batch(batch, pipeline).requests
                campaign_ids = {m.campaign_id for m in batch.claimed if m.campaign_id and not m.is_test}
                campaigns_breaker_tick(campaign_ids)
                complete_finished_campaigns(campaign_ids)
                answered_later |= campaign_ids
                continue
            settle()
            wait = seconds_until_next_due(timezone.now())
            if wait is not None:
                time.sleep(min(wait, 1.0))
                continue
            cache.delete(key)
            # A message queued between our last claim and dropping the flag found us awake: look again.
            if not OutboundMessage.objects.filter(dispatchable_q(timezone.now())).exists() or not cache.add(
                key, True, AWAKE_SECONDS
            ):
                return f"{requests} requests sent"
        settle()
    except BaseException as exc:
        # Answers already on their way are still recorded where the database allows it; what is not
        # recorded stays ``sending`` with its pending attempt, and the sweeper reconciles it.
        with contextlib.suppress(Exception):
            pipeline.finish()
        # A task that dies must not leave its flag set: every wake-up would find it "awake" and
        # sending would stall until the flag expired. Its claimed rows keep their lease and come back
        # through the sweeper. A successor is woken at once only after a transient database error (a
        # deadlock victim, a dropped connection); after anything else the next wake-up (a queued
        # message, the schedule) starts one, so a persistent fault cannot spin a crash loop.
        _hand_over(key, slot, successor=isinstance(exc, OperationalError))
        raise
    _hand_over(key, slot, successor=True)
    return f"{requests} requests sent; handed over to a fresh task"


def _hand_over(key: str, slot: int, *, successor: bool) -> None:
    from messaging.sending.enqueue import wake_dispatcher

    try:
        cache.delete(key)
        if successor:
            wake_dispatcher(slot)
    except Exception:  # the cache or broker is what failed: the schedule wakes a dispatcher later
        logger.exception("dispatcher %s could not hand over", slot)


def dispatchable_q(now: datetime) -> Q:
    """Due, and a single send or a message of a campaign that is sending."""
    return due_q(now) & (SINGLE_SENDS | CAMPAIGN_SENDING)


def seconds_until_next_due(now: datetime) -> float | None:
    """Seconds until the next message becomes due, if that is within ``SHORT_HOLD`` (a retry after
    Meta's throughput error, a pair-rate back-off): the dispatcher waits for it instead of sleeping."""
    from messaging.sending.states import SHORT_HOLD

    soon = (
        OutboundMessage.objects.filter(
            SINGLE_SENDS | CAMPAIGN_SENDING,
            status=MessageStatus.QUEUED,
            next_attempt_at__gt=now,
            next_attempt_at__lte=now + SHORT_HOLD,
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if soon is None else max(0.0, (soon - now).total_seconds())


def complete_finished_campaigns(campaign_ids: Iterable[int]) -> None:
    """A sending campaign none of whose messages is queued or sending any more is completed."""
    from messaging.campaigns.workflow import campaign_complete

    for campaign in Campaign.objects.filter(pk__in=set(campaign_ids), status=CampaignStatus.SENDING):
        busy = OutboundMessage.objects.filter(
            campaign_id=campaign.pk, is_test=False, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
        )
        if not busy.exists():
            # Another dispatcher may have completed it, or a message been queued meanwhile.
            with contextlib.suppress(ApplicationError):
                campaign_complete(campaign=campaign)
