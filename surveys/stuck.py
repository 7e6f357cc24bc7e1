"""Runs that can no longer move on, and their end (docs/surveys.md, "A run that stalls").

A run moves on only when the person answers its latest question, and a person answers one survey
at a time: a run that waits for an answer that cannot come would block every survey after it —
the next appointment's trigger press refused as "already answering". It cannot come when the
question's message ended without reaching the person (skipped, failed or cancelled: nothing is on
its way), and it is no longer awaited once their 24-hour window has closed since the question was
asked: they walked away from the conversation that made the next questions replies.

The hourly sweep (``surveys.tasks.sweep_stuck_runs``) ends such runs as abandoned, and
``start_survey`` does the same for the person it is starting a survey for before it looks for a
running one, so a survey never waits for the next sweep. Set-based: per reason one query selects
and locks the runs and one UPDATE ends them; their questions still queued are withdrawn in one
call and the activity log written in one INSERT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.services import activity_entry, log_activities
from core.actors import Actor
from messaging.models import InboundMessage, MessageStatus
from messaging.sending.cancel import messages_cancel_queued
from messaging.sending.reach import WINDOW
from surveys.models import RunState, SurveyRun

SWEEPER = Actor.system("survey sweeper")
BATCH = 500  # runs locked and ended per query; the sweep goes on until a batch is not full


@dataclass(frozen=True)
class StuckReason:
    code: str
    text: str  # the run's end_reason and the log's reason

    def runs(self, now: datetime) -> QuerySet[SurveyRun]:
        running = SurveyRun.objects.filter(state=RunState.RUNNING)
        if self.code == WINDOW_CLOSED:
            return running.annotate(asked_at=_asked_at()).filter(_window_closed_since_asked(now))
        return running.filter(last_question_message__status=self.code)


WINDOW_CLOSED = "window_closed"
# A final status of the question's message (``messaging.models.FINAL_STATUSES``) names the reason:
# the send-time rules skipped it (an opt-out, the window, a merge…: the message says which),
# WhatsApp reported it failed, or it was withdrawn.
REASONS = (
    StuckReason(
        MessageStatus.SKIPPED.value,
        "The latest question was skipped when it was due to go: it never reached them.",
    ),
    StuckReason(
        MessageStatus.FAILED.value, "The latest question failed to reach them (WhatsApp reported it failed)."
    ),
    StuckReason(MessageStatus.CANCELLED.value, "The latest question was withdrawn before it went."),
    StuckReason(WINDOW_CLOSED, "Their 24-hour window closed with the latest question unanswered."),
)


def _asked_at():
    """When the latest question was queued; a run from before ``last_question_message`` existed
    counts from its start."""
    return Coalesce("last_question_message__created_at", "started_at")


def _window_closed_since_asked(now: datetime) -> Q:
    """The person's window is closed now, or closed and reopened since the question was asked: a
    message of theirs after it that had none of theirs in the 24 hours before it (the window
    ``open_window`` keeps is the latest message's ``sent_at`` plus 24 hours)."""
    kept_open = InboundMessage.objects.filter(
        contact_id=OuterRef("contact_id"),
        sent_at__lt=OuterRef("sent_at"),
        sent_at__gt=ExpressionWrapper(OuterRef("sent_at") - WINDOW, output_field=DateTimeField()),
    )
    reopened = InboundMessage.objects.filter(
        contact_id=OuterRef("contact_id"), sent_at__gt=OuterRef("asked_at")
    )
    return (
        Q(contact__last_inbound_at__isnull=True)
        | Q(contact__last_inbound_at__lte=now - WINDOW)
        | Exists(reopened.filter(~Exists(kept_open)))
    )


def runs_abandon_stuck(
    *, now: datetime | None = None, contact_id: int | None = None, actor: Actor = SWEEPER
) -> dict[str, int]:
    """End every running run that is stuck (of ``contact_id`` only, when given) as abandoned, with
    the reason, withdrawing its question still queued; returns how many ended per reason code.

    The runs are locked (``FOR UPDATE``) before the UPDATE. The sweep, holding no contact's lock,
    skips a run locked by an answer or an opt-out being recorded: that one decides it, and the next
    sweep sees what it left. ``start_survey`` holds the person's lock (the order answers and
    opt-outs take: the contact, then the run) and waits for the run's. Safe to repeat: a run ended
    is no longer running.
    """
    now = now or timezone.now()
    ended: dict[str, int] = {}
    for reason in REASONS:
        while True:
            with transaction.atomic():
                count = _abandon_batch(reason, now=now, contact_id=contact_id, actor=actor)
            ended[reason.code] = ended.get(reason.code, 0) + count
            if count < BATCH:
                break
    return {code: count for code, count in ended.items() if count}


def _abandon_batch(reason: StuckReason, *, now: datetime, contact_id: int | None, actor: Actor) -> int:
    runs = reason.runs(now)
    if contact_id is not None:
        runs = runs.filter(contact_id=contact_id)
    runs = list(
        runs.select_related("survey", "contact", "last_question_message")
        .select_for_update(of=("self",), skip_locked=contact_id is None)
        .order_by("pk")[:BATCH]
    )
    if not runs:
        return 0
    ids = [run.pk for run in runs]
    SurveyRun.objects.filter(pk__in=ids, state=RunState.RUNNING).update(
        state=RunState.ABANDONED, current_question=None, ended_at=now, end_reason=reason.text[:200]
    )
    questions = {run.pk: {run.first_message_id, run.last_question_message_id} - {None} for run in runs}
    cancelled = set(
        messages_cancel_queued(
            message_ids=set().union(*questions.values()),
            reason="survey_abandoned",
            detail=f"The survey run was abandoned before this question went: {reason.text}",
        )
    )
    entries = []
    for run in runs:
        run.state = RunState.ABANDONED
        message = run.last_question_message
        entries.append(
            activity_entry(
                actor=actor,
                action="survey.abandoned",
                obj=run,
                details={
                    "reason": reason.text,
                    "stuck": reason.code,
                    "question_message": str(message.public_id) if message is not None else None,
                    "question_message_status": message.status if message is not None else None,
                    "question_message_error": message.error_class if message is not None else None,
                    "cancelled_messages": sorted(questions[run.pk] & cancelled),
                },
            )
        )
    log_activities(entries)
    return len(runs)
