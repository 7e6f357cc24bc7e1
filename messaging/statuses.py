"""Applying Meta's delivery statuses to attempts and messages: forward only, never back.

Meta delivers statuses at least once, in any order, and may skip ``delivered`` when a message is
delivered and read together (docs/webhooks.md). So every status is kept in the append-only history
(``MessageStatusEvent``) and moves its attempt — and the message, when it is the message's latest
attempt — only forward: accepted < sent < delivered < read; ``failed`` is final and wins over
accepted and sent, but not over delivered or read. Message times take the earliest report for
each step (a ``read`` also stands for the ``delivered`` and ``sent`` it implies), so duplicates
and every arrival order end in the same row.

A status for a wamid we have not recorded yet (the webhook can beat the send's commit) waits in
the history without an attempt. Both sides look for the other after their own commit — the send
path for statuses waiting on the wamids it stored (:func:`apply_statuses_waiting_for`), the webhook
processor for attempts that appeared for the statuses it left waiting — so whichever commits last
sees the other's row; :func:`apply_waiting_statuses` remains a scheduled safety net. A status
whose ``biz_opaque_callback_data`` names a message whose latest attempt ended ``unknown`` adopts
its wamid: the unknown outcome is reconciled, never resent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from cloud_api.errors import DEFAULT_CLASS_FOR_UNKNOWN_CODE, MetaError
from contacts.services import log_activity
from core.actors import Actor
from messaging.models import (
    AttemptOutcome,
    MessageStatus,
    MessageStatusEvent,
    OutboundMessage,
    SendAttempt,
)
from messaging.sending.failures import handle_meta_error
from messaging.signals import announce_states
from messaging.webhooks.envelope import as_dict, as_list, text, unix_time

logger = logging.getLogger(__name__)

RANK = {
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
# A status implies the steps before it; each sets its own time and fills the earlier ones.
_TIME_FIELDS = {
    MessageStatus.SENT: ("sent_at",),
    MessageStatus.DELIVERED: ("sent_at", "delivered_at"),
    MessageStatus.READ: ("sent_at", "delivered_at", "read_at"),
    MessageStatus.FAILED: ("failed_at",),
}
# Message states a delivery status may move forward (only for the message's latest attempt).
_MOVABLE = {
    MessageStatus.SENDING,
    MessageStatus.ACCEPTED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNKNOWN,
}
_SYSTEM = Actor.system("WhatsApp status webhook")
# Error codes are stored in 32-bit integer columns (PostgreSQL); Meta's codes are far below this.
_LARGEST_CODE = 2**31 - 1


@dataclass(frozen=True)
class StatusReport:
    """One ``statuses[]`` item, read defensively."""

    wamid: str
    status: str
    timestamp: dt.datetime | None
    biz_opaque_callback_data: str = ""
    recipient_id: str = ""
    pricing: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    webhook_event_id: int | None = None

    @classmethod
    def from_webhook(cls, item: Any, *, webhook_event_id: int | None) -> StatusReport | None:
        """None for an item that names no message (no id, or an id too long to be a wamid)."""
        item = as_dict(item)
        wamid = text(item.get("id")).strip()
        status = text(item.get("status")).strip().lower()[:16]
        if not wamid or len(wamid) > 128 or not status:
            return None
        errors = [e for e in as_list(item.get("errors")) if isinstance(e, dict)]
        if errors and _unreadable_code(errors[0]):
            logger.warning(
                "status %s: error code %.80r is not one Meta uses; kept in the history, the failure "
                "is handled as an unknown code",
                wamid[:128],
                errors[0].get("code"),
            )
        return cls(
            wamid=wamid,
            status=status,
            timestamp=unix_time(item.get("timestamp")),
            biz_opaque_callback_data=text(item.get("biz_opaque_callback_data"), 512),
            recipient_id=text(item.get("recipient_id"), 64),
            pricing=as_dict(item.get("pricing")),
            errors=errors,
            webhook_event_id=webhook_event_id,
        )

    @classmethod
    def from_history(cls, row: MessageStatusEvent) -> StatusReport:
        return cls(
            wamid=row.wamid,
            status=row.status,
            timestamp=row.meta_timestamp,
            biz_opaque_callback_data=row.biz_opaque_callback_data,
            recipient_id=row.recipient_id,
            pricing=row.pricing,
            errors=row.errors,
            webhook_event_id=row.webhook_event_id,
        )

    @property
    def key(self) -> tuple:
        """What makes two reports the same report (Meta's retries resend identical items)."""
        return (self.wamid, self.status, self.timestamp)

    def history_row(self, *, attempt: SendAttempt | None, applied: bool) -> MessageStatusEvent:
        return MessageStatusEvent(
            wamid=self.wamid,
            attempt=attempt,
            status=self.status,
            meta_timestamp=self.timestamp,
            biz_opaque_callback_data=self.biz_opaque_callback_data,
            recipient_id=self.recipient_id,
            pricing=self.pricing,
            errors=self.errors,
            applied=applied,
            webhook_event_id=self.webhook_event_id,
        )


def apply_status_reports(*, reports: list[StatusReport]) -> None:
    """Record and apply a webhook's statuses (one change's ``statuses[]``) in one transaction.

    Set-based: one locking read for the attempts, one for the history already recorded, one
    insert for the new history rows, then one write per attempt and message that moved.
    """
    if not reports:
        return
    with transaction.atomic():
        wamids = {r.wamid for r in reports}
        attempts = _lock_attempts(wamid__in=wamids)
        for report in reports:
            if report.wamid not in attempts and report.biz_opaque_callback_data:
                adopted = _reconcile_unknown(report)
                if adopted is not None:
                    attempts[report.wamid] = adopted
        seen = set(
            MessageStatusEvent.objects.filter(wamid__in=wamids).values_list(
                "wamid", "status", "meta_timestamp"
            )
        )
        _apply(reports, attempts=attempts, seen=seen)
        left_waiting = wamids - attempts.keys()
        if left_waiting:
            # The send path may be committing these wamids right now, unseen by the locking read
            # above; it looks for waiting statuses after its commit, and this looks for its
            # attempts after this one, so the later of the two commits always finds the other.
            transaction.on_commit(lambda: _apply_to_attempts_recorded_since(left_waiting))


def _apply_to_attempts_recorded_since(wamids: set[str]) -> None:
    apply_statuses_waiting_for(list(SendAttempt.objects.filter(wamid__in=wamids)))


def apply_statuses_waiting_for(attempts: list[SendAttempt]) -> None:
    """Apply the statuses waiting for these attempts' wamids (one query when none wait)."""
    by_wamid = {attempt.wamid: attempt for attempt in attempts if attempt.wamid}
    if not by_wamid:
        return
    waiting = set(_unapplied(wamid__in=list(by_wamid)).values_list("wamid", flat=True))
    for wamid in waiting:
        apply_pending_statuses(by_wamid[wamid])


def _unapplied(**lookup):
    """Waiting statuses not yet copied onto their attempt (a copy has the same wamid, status and
    time): each side looks again after its commit, and finds nothing to do when the other was first."""
    copied = MessageStatusEvent.objects.filter(
        attempt__isnull=False,
        wamid=OuterRef("wamid"),
        status=OuterRef("status"),
        meta_timestamp=OuterRef("meta_timestamp"),
    )
    return MessageStatusEvent.objects.filter(attempt__isnull=True, **lookup).exclude(Exists(copied))


def apply_pending_statuses(attempt: SendAttempt) -> None:
    """Apply statuses that arrived for ``attempt.wamid`` before the attempt was recorded.

    The send path calls this right after it stores an accepted attempt's wamid: a status webhook
    can beat the send's commit, and such statuses wait in MessageStatusEvent with no attempt.
    History is append-only, so each waiting row gets a copy linked to the attempt when it is
    applied; a waiting row that already has its copy is not applied twice.
    """
    if not attempt.wamid:
        return
    with transaction.atomic():
        waiting = list(
            MessageStatusEvent.objects.filter(wamid=attempt.wamid, attempt__isnull=True).order_by(
                "received_at", "id"
            )
        )
        if not waiting:
            return
        attempts = _lock_attempts(pk=attempt.pk)
        if attempt.wamid not in attempts:
            return
        seen = set(
            MessageStatusEvent.objects.filter(attempt_id=attempt.pk).values_list(
                "wamid", "status", "meta_timestamp"
            )
        )
        _apply([StatusReport.from_history(row) for row in waiting], attempts=attempts, seen=seen)


def apply_waiting_statuses(*, since: dt.timedelta = dt.timedelta(days=7)) -> int:
    """Apply waiting statuses whose attempt has appeared since; returns how many attempts it touched.

    A safety net (scheduled, and ``reprocess_webhooks``) behind the two looks after commit: a
    process that died between its commit and its look, or an unknown attempt adopted late.
    """
    waiting = MessageStatusEvent.objects.filter(attempt__isnull=True, received_at__gte=timezone.now() - since)
    _reconcile_waiting_unknown(waiting)
    waiting_wamids = _unapplied(received_at__gte=timezone.now() - since).values("wamid")
    touched = 0
    for attempt in SendAttempt.objects.filter(wamid__in=waiting_wamids).iterator(chunk_size=500):
        apply_pending_statuses(attempt)
        touched += 1
    return touched


def _reconcile_waiting_unknown(waiting) -> None:
    """Reconcile unknown attempts from statuses that named their message while the request was under way.

    Meta's webhook can beat the HTTP answer, which may then time out (or the worker die): the
    status waits with no attempt (it had no wamid yet) and the attempt turns unknown afterwards.
    That webhook is the reconciliation; without this the message would be left for staff to resend.
    """
    public_ids = {}
    for data in waiting.exclude(biz_opaque_callback_data="").values_list(
        "biz_opaque_callback_data", flat=True
    ):
        try:
            public_ids[uuid.UUID(data)] = data
        except ValueError:
            continue
    if not public_ids:
        return
    unknown = OutboundMessage.objects.filter(public_id__in=list(public_ids), status=MessageStatus.UNKNOWN)
    for public_id in unknown.values_list("public_id", flat=True):
        first = (
            waiting.filter(biz_opaque_callback_data=public_ids[public_id])
            .order_by("received_at", "id")
            .first()
        )
        if first is not None:
            # Adopts the wamid onto the unknown attempt; the history row itself is not added again,
            # and the caller then applies every waiting status of that wamid to the attempt.
            apply_status_reports(reports=[StatusReport.from_history(first)])


# --- The state machine ------------------------------------------------------------------------


@dataclass
class _Progress:
    """An attempt (and its message) as the reports move it; written once at the end."""

    attempt: SendAttempt
    message: OutboundMessage
    is_latest: bool
    attempt_fields: set[str] = field(default_factory=set)
    message_fields: set[str] = field(default_factory=set)
    message_status_before: str = ""
    failure: StatusReport | None = None


def _lock_attempts(**lookup) -> dict[str, SendAttempt]:
    # Attempts and their messages are locked together (ordered, so two webhooks cannot deadlock).
    return {
        a.wamid: a
        for a in SendAttempt.objects.select_for_update()
        .select_related("message")
        .filter(**lookup)
        .exclude(wamid__isnull=True)
        .order_by("pk")
    }


def _apply(reports: list[StatusReport], *, attempts: dict[str, SendAttempt], seen: set[tuple]) -> None:
    latest_numbers = dict(
        SendAttempt.objects.filter(message_id__in={a.message_id for a in attempts.values()})
        .values("message_id")
        .annotate(latest=Max("number"))
        .values_list("message_id", "latest")
    )
    progress: dict[int, _Progress] = {}
    rows = []
    for report in reports:
        if report.key in seen:
            continue  # a duplicate delivery: already in the history
        seen.add(report.key)
        attempt = attempts.get(report.wamid)
        applied = False
        if attempt is not None:
            state = progress.get(attempt.pk)
            if state is None:
                state = progress[attempt.pk] = _Progress(
                    attempt=attempt,
                    message=attempt.message,
                    is_latest=latest_numbers.get(attempt.message_id) == attempt.number,
                    message_status_before=attempt.message.status,
                )
            applied = _advance(state, report)
        rows.append(report.history_row(attempt=attempt, applied=applied))
    MessageStatusEvent.objects.bulk_create(rows)
    for state in progress.values():
        _save(state)


def _attempt_rank(attempt: SendAttempt) -> int:
    if attempt.status in RANK:
        return RANK[attempt.status]
    return RANK[MessageStatus.ACCEPTED] if attempt.outcome == AttemptOutcome.ACCEPTED else 0


def _advance(state: _Progress, report: StatusReport) -> bool:
    """Move the attempt (and its message) by one report; True when the report moved the attempt."""
    attempt, message = state.attempt, state.message
    status = report.status
    if status not in RANK and status != MessageStatus.FAILED:
        return False  # played, or a status Meta adds later: history only
    if status == MessageStatus.FAILED:
        if attempt.status in (MessageStatus.FAILED, MessageStatus.DELIVERED, MessageStatus.READ):
            return False  # history only: no failed_at on a message that arrived
        if state.is_latest:
            _fill_times(state, status, report.timestamp or timezone.now())
        error = _meta_error(report)
        attempt.status = MessageStatus.FAILED
        attempt.error_code = error.code
        attempt.error_class = str(error.error_class)
        attempt.error_text = error.message or error.title
        state.attempt_fields |= {"status", "error_code", "error_class", "error_text"}
        if state.is_latest:
            state.failure = report
        return True
    if state.is_latest:
        _fill_times(state, status, report.timestamp or timezone.now())
    if attempt.status == MessageStatus.FAILED or RANK[status] <= _attempt_rank(attempt):
        return False
    attempt.status = status
    state.attempt_fields.add("status")
    if state.is_latest and message.status in _MOVABLE and RANK[status] > RANK.get(message.status, 0):
        message.status = status
        message.needs_review = False
        state.message_fields |= {"status", "needs_review"}
    return True


def _fill_times(state: _Progress, status: str, when: dt.datetime) -> None:
    for name in _TIME_FIELDS.get(status, ()):
        current = getattr(state.message, name)
        if current is None or when < current:
            setattr(state.message, name, when)
            state.message_fields.add(name)


def _meta_error(report: StatusReport) -> MetaError:
    """The failure's Meta error. A code we cannot read or store (``1e400``, ``5000000000``) is kept
    as given in the history and handled as a code the error table does not know: the one message
    fails, without a code, instead of the whole webhook failing on it."""
    first = report.errors[0] if report.errors else {"message": "WhatsApp reported the message failed."}
    if not _unreadable_code(first):
        return MetaError.from_graph_error(first)
    error = MetaError.from_graph_error({**first, "code": None})
    return dataclasses.replace(error, error_class=DEFAULT_CLASS_FOR_UNKNOWN_CODE)


def _unreadable_code(error: dict) -> bool:
    """Whether the error carries a code that is no integer an error-code column can hold."""
    code = error.get("code")
    if code is None or code == "":
        return False
    if isinstance(code, bool):
        return True
    try:
        number = int(code)
    except (TypeError, ValueError, OverflowError):
        return True
    return not -_LARGEST_CODE - 1 <= number <= _LARGEST_CODE


def _save(state: _Progress) -> None:
    attempt, message = state.attempt, state.message
    if state.attempt_fields:
        SendAttempt.objects.filter(pk=attempt.pk).update(
            **{name: getattr(attempt, name) for name in state.attempt_fields}
        )
    if state.message_fields:
        # Conditional, so a state the send path wrote meanwhile is never overwritten.
        moved = OutboundMessage.objects.filter(pk=message.pk, status=state.message_status_before).update(
            **{name: getattr(message, name) for name in state.message_fields}, updated_at=timezone.now()
        )
        if not moved:
            logger.warning("message %s changed while its statuses were applied; left as it is", message.pk)
        elif "status" in state.message_fields:
            announce_states([message], message.status)
    if state.failure is not None:
        _fail(message=message, attempt=attempt, report=state.failure)


def _fail(*, message: OutboundMessage, attempt: SendAttempt, report: StatusReport) -> None:
    """A failed status goes through the same error table as an HTTP answer (the send path's)."""
    message.refresh_from_db()
    error = _meta_error(report)
    try:
        handle_meta_error(message=message, attempt=attempt, error=error, source="webhook")
    except NotImplementedError:
        # Until the send path lands its error table: record the failure as it is.
        OutboundMessage.objects.filter(pk=message.pk).exclude(
            status__in=(MessageStatus.DELIVERED, MessageStatus.READ)
        ).update(
            status=MessageStatus.FAILED,
            error_code=error.code,
            error_class=str(error.error_class),
            error_text=error.message or error.title,
            updated_at=timezone.now(),
        )


def _reconcile_unknown(report: StatusReport) -> SendAttempt | None:
    """Adopt ``report.wamid`` onto the message's latest attempt if that attempt's outcome is unknown."""
    try:
        public_id = uuid.UUID(report.biz_opaque_callback_data)
    except ValueError:
        return None
    message = OutboundMessage.objects.select_for_update().filter(public_id=public_id).first()
    if message is None:
        return None
    attempt = message.attempts.select_for_update().order_by("-number").first()
    if attempt is None or attempt.wamid or attempt.outcome != AttemptOutcome.UNKNOWN:
        return None
    now = timezone.now()
    adopted = SendAttempt.objects.filter(
        pk=attempt.pk, outcome=AttemptOutcome.UNKNOWN, wamid__isnull=True
    ).update(wamid=report.wamid, outcome=AttemptOutcome.ACCEPTED, finished_at=now, reconcile_by=None)
    if not adopted:
        return None
    if OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.UNKNOWN).update(
        status=MessageStatus.ACCEPTED,
        accepted_at=report.timestamp or now,
        needs_review=False,
        updated_at=now,
    ):
        announce_states([message], MessageStatus.ACCEPTED)
    log_activity(
        actor=_SYSTEM,
        action="message.unknown_reconciled",
        obj=message,
        details={"attempt": attempt.number, "wamid": report.wamid, "status": report.status},
    )
    return _lock_attempts(pk=attempt.pk).get(report.wamid)
