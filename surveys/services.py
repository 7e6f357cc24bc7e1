"""Starting a survey, recording its answers, and ending it (docs/surveys.md).

A **service** survey started by the business (an agent or the API, no ``reply_to``) is
business-initiated: its first question needs the person's current service opt-in and, being
free-form, the open 24-hour window. Started in answer to the person's own message (``reply_to``: a
template's quick-reply press, or the message an agent answers) it is a reply and needs no opt-in.

A **marketing** survey's first question is never a reply (docs/consent.md: the person's message
does not stand for their marketing opt-in — someone who said STOP on Monday and asked about a
parcel on Wednesday has not asked for product questions). It goes business-initiated with
``purpose="marketing"``, its opt-in checked when it is queued and again when it is sent, and it
counts once against the marketing frequency cap. Started "as a reply" (the inbox, a trigger press),
it gets the business-initiated checks instead.

Every later question, and the thank-you, of either kind answers the person's previous answer: a
reply quoting it (service purpose). Their answer is the conversation going on; a marketing
survey's later questions held back by the frequency cap would otherwise wait past the window and
be skipped. A STOP still wins: an opt-out of any purpose abandons the run and withdraws its
queued question, and a reply to a message written before an opt-out of the reply's purpose is
skipped when it is due (``messaging.sending.rules.replies_overtaken_by_opt_out``).

The answers arrive as inbound messages (``receivers``). Their reply ids name the run, question and
option, but come from a phone: nothing is recorded unless the run is the sender's and running,
and the question and option are the run's. Each (run, question) is answered once, so a repeated
press or a replayed webhook changes nothing. An answer keeps our question text and option title,
never the title the phone sends back.

An abandoned run (an opt-out, a merge, a run that can no longer move on: ``surveys.stuck``)
withdraws its question still queued (``messaging.sending.cancel``): a question the dispatcher has
not claimed does not go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import ConsentAction, ConsentEvent, Contact, Purpose
from contacts.selectors import has_opt_in
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, OutboundMessage
from messaging.sending.cancel import messages_cancel_queued
from messaging.sending.reach import WINDOW
from messaging.sending.rules import window_open
from messaging.sending.service import send_message
from messaging.webhooks.envelope import as_dict, text
from surveys.models import Answer, Option, Question, RunState, Survey, SurveyRun
from surveys.presses import press_of
from surveys.questions import parse_reply_id, question_content, survey_problems
from surveys.stuck import runs_abandon_stuck

logger = logging.getLogger(__name__)

SURVEY_ACTOR = Actor.system("survey")
TRIGGER_ACTOR = Actor.system("survey trigger button")
OPTED_OUT = "The person opted out."


def start_survey(
    *, contact: Contact, survey: Survey, actor: Actor, reply_to: InboundMessage | None = None
) -> SurveyRun:
    """Send ``survey``'s first question to ``contact`` and return the running run, or refuse.

    Refusals (``ApplicationError``): the survey is inactive or WhatsApp would refuse a question;
    the person is answering another survey (one that is stuck — its question never reached them,
    or their window closed with it unanswered — is abandoned first: ``surveys.stuck``); when
    business-initiated (no ``reply_to``, or any marketing survey), the window is closed (a survey
    then starts only from a template's button) or there is no current opt-in for the survey's
    purpose; as a reply, the person opted out since writing that message (their STOP gets only
    its confirmation); and whatever ``send_message`` refuses. Nothing is stored on a refusal.

    A marketing survey's ``reply_to`` (the message that prompted it) is only logged: the survey
    does not answer it.
    """
    if not survey.active:
        raise ApplicationError(
            f"“{survey}” is not active: activate it before starting it.",
            code="survey_inactive",
            field="survey",
        )
    problems = survey_problems(survey)
    if problems:
        raise ApplicationError(
            f"“{survey}” cannot be sent as it is: {' '.join(problems)}", code="survey_invalid", field="survey"
        )
    prompted_by = reply_to
    if survey.purpose == Purpose.MARKETING:
        reply_to = None
    questions = _questions(survey)
    first, options = questions[0]
    with transaction.atomic():
        # An opt-out being recorded now either committed before this look at consent, or waits
        # until the run exists and then abandons it, withdrawing its first question.
        _lock_person(contact.pk)
        if reply_to is None:
            _check_business_initiated(contact, survey)
        else:
            _check_not_after_opt_out(contact, reply_to)
        # Undone with the rest if the start is refused below.
        runs_abandon_stuck(contact_id=contact.pk, actor=actor)
        if SurveyRun.objects.filter(contact=contact, state=RunState.RUNNING).exists():
            raise _already_running(contact)
        run = SurveyRun(survey=survey, contact=contact, current_question=first, started_from=reply_to)
        run.set_actor(actor)
        try:
            with transaction.atomic():
                run.save()
        except IntegrityError:  # a concurrent start for the same person won
            raise _already_running(contact) from None
        message = send_message(
            contact=contact,
            actor=actor,
            content=question_content(
                first, options, run_id=run.pk, total=len(questions), intro=survey.intro_text
            ),
            reply_to=reply_to,
            # Business-initiated, the first question is the survey's purpose (its proof the opt-in
            # for it); as a reply it needs none.
            purpose=survey.purpose if reply_to is None else None,
        )
        run.first_message = run.last_question_message = message
        run.save(update_fields=["first_message", "last_question_message"])
        log_activity(
            actor=actor,
            action="survey.started",
            obj=run,
            details={
                "survey": survey.pk,
                "contact": contact.pk,
                "as_reply_to": reply_to.pk if reply_to is not None else None,
                "prompted_by": prompted_by.pk if prompted_by is not None else None,
                "first_message": str(message.public_id),
            },
        )
    return run


def _lock_person(contact_id: int) -> None:
    """Take the contact's row lock, the one ``record_consent`` (and a merge) takes before it
    abandons the person's run, so surveys and opt-outs of one person take their locks in one order:
    the contact, then the run. The other order deadlocks (an answer holding the run's lock needs a
    share of the contact's row to commit the messages it queued, while the opt-out holding the
    contact's waits for the run)."""
    Contact.objects.select_for_update().filter(pk=contact_id).values_list("pk", flat=True).first()


def _check_business_initiated(contact: Contact, survey: Survey) -> None:
    now = timezone.now()
    if not window_open(contact, now):
        closed = (
            f" (it closed at {timezone.localtime(contact.last_inbound_at + WINDOW):%Y-%m-%d %H:%M})"
            if contact.last_inbound_at
            else " (they have never written to us)"
        )
        raise ApplicationError(
            f"{contact}'s 24-hour window is not open{closed}: outside it a survey can only start from "
            f"a template — send one whose quick-reply button starts “{survey}”.",
            code="survey_window_closed",
        )
    if not has_opt_in(contact=contact, purpose=survey.purpose):
        instead = (
            "A marketing survey is never a reply, even to a message they wrote: record their marketing "
            "opt-in first (they give it themselves, e.g. with START)."
            if survey.purpose == Purpose.MARKETING
            else "Start it in answer to a message they wrote instead, or record their opt-in first."
        )
        raise ApplicationError(
            f"{contact} has no current opt-in for {survey.purpose} messages, which “{survey}” needs when "
            f"the business starts it. {instead}",
            code="survey_no_consent",
        )


def _check_not_after_opt_out(contact: Contact, reply_to: InboundMessage) -> None:
    """A survey may answer a message only if the person has not opted out since (or with) it."""
    sent_at = InboundMessage.objects.filter(pk=reply_to.pk).values_list("sent_at", flat=True).first()
    if sent_at is None:
        return  # send_message refuses a message that is not stored, with its own words
    opt_out = (
        ConsentEvent.objects.filter(contact=contact, action=ConsentAction.OPT_OUT, effective_at__gte=sent_at)
        .order_by("effective_at")
        .first()
    )
    if opt_out is not None:
        raise ApplicationError(
            f"{contact} opted out of {opt_out.purpose} messages on {opt_out.effective_at:%Y-%m-%d %H:%M}, "
            "with or after the message being answered: a survey may answer only a message they wrote "
            "after their opt-out.",
            code="survey_after_opt_out",
        )


def _already_running(contact: Contact) -> ApplicationError:
    running = (
        SurveyRun.objects.filter(contact=contact, state=RunState.RUNNING).select_related("survey").first()
    )
    name = f"“{running.survey}”" if running is not None else "another survey"
    return ApplicationError(
        f"{contact} is already answering {name}: one survey at a time. It ends when they "
        "answer its last question or opt out, or once their 24-hour window closes with its question "
        "unanswered.",
        code="survey_already_running",
    )


def _questions(survey: Survey) -> list[tuple[Question, list[Option]]]:
    questions = survey.questions.prefetch_related("options").order_by("position", "id")
    return [(question, list(question.options.all())) for question in questions]


# --- Answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    id: str
    title: str


def _interactive_reply(inbound: InboundMessage) -> _Reply | None:
    if inbound.type != "interactive":
        return None
    interactive = as_dict(inbound.payload.get("interactive"))
    for kind in ("button_reply", "list_reply"):
        reply = as_dict(interactive.get(kind))
        if reply:
            return _Reply(id=text(reply.get("id"), 256), title=text(reply.get("title"), 200))
    return None


def answer_record(*, inbound: InboundMessage) -> Answer | None:
    """Record the survey answer ``inbound`` carries, then send the next question or the thank-you.

    None when it is no answer of ours, or not one to record: another person's run, a run no longer
    running, a question or option not of that run, a question not asked yet, a question already
    answered. An answer to the current question moves the run on: the next question goes as a
    reply to the answer (business-initiated for a marketing survey), or, after the last, the
    thank-you and the run is completed. An answer to an earlier question still unanswered is
    recorded and sends nothing. The answer keeps our question text and option title as they are
    now (frozen since the survey was first started), not the title the phone sent.
    """
    reply = _interactive_reply(inbound)
    ids = parse_reply_id(reply.id) if reply is not None else None
    if ids is None:
        return None
    # Locked, the person then the run (``_lock_person``): two answers of one run processed at once
    # move it on once, and an opt-out recorded meanwhile abandons the run after the answer, seeing
    # the question it queued.
    _lock_person(inbound.contact_id)
    run = SurveyRun.objects.select_for_update().filter(pk=ids.run_id).select_related("survey").first()
    if run is None or run.contact_id != inbound.contact_id or run.state != RunState.RUNNING:
        return _ignored(inbound, "the run is not this person's running survey")
    question = Question.objects.filter(pk=ids.question_id, survey_id=run.survey_id).first()
    option = Option.objects.filter(pk=ids.option_id, question_id=ids.question_id).first()
    current = Question.objects.filter(pk=run.current_question_id).first()
    if question is None or option is None or current is None:
        return _ignored(inbound, "the question or option is not the survey's")
    if (question.position, question.pk) > (current.position, current.pk):
        return _ignored(inbound, "the question was not asked yet")
    if Answer.objects.filter(run=run, question=question).exists():
        return None  # a repeated press: the first answer stands
    answer = Answer(
        run=run,
        question=question,
        contact_id=inbound.contact_id,
        option=option,
        question_text=question.text,
        option_title=option.title,
        inbound=inbound,
        answered_at=inbound.sent_at,
    )
    try:
        with transaction.atomic():
            answer.save()
    except IntegrityError:
        return None  # answered by a concurrent copy
    if question.pk == current.pk:
        _move_on(run, current, inbound)
    return answer


def _ignored(inbound: InboundMessage, why: str) -> None:
    logger.info("survey answer in inbound message %s ignored: %s", inbound.pk, why)
    return None


def _move_on(run: SurveyRun, current: Question, inbound: InboundMessage) -> None:
    questions = _questions(run.survey)
    later = [(q, options) for q, options in questions if (q.position, q.pk) > (current.position, current.pk)]
    if later:
        following, options = later[0]
        moved = SurveyRun.objects.filter(pk=run.pk, state=RunState.RUNNING, current_question=current).update(
            current_question=following
        )
        if moved:
            message = _reply(
                run,
                inbound,
                content=question_content(following, options, run_id=run.pk, total=len(questions)),
            )
            if message is not None:
                SurveyRun.objects.filter(pk=run.pk).update(last_question_message=message)
        return
    now = timezone.now()
    completed = SurveyRun.objects.filter(pk=run.pk, state=RunState.RUNNING, current_question=current).update(
        state=RunState.COMPLETED, current_question=None, ended_at=now
    )
    if not completed:
        return
    log_activity(actor=SURVEY_ACTOR, action="survey.completed", obj=run, details={"survey": run.survey_id})
    if run.survey.thank_you_text.strip():
        _reply(run, inbound, text=run.survey.thank_you_text)


def _reply(run: SurveyRun, inbound: InboundMessage, **message) -> OutboundMessage | None:
    """Answer ``inbound`` with the next question or the thank-you; a refusal abandons the run.

    A reply quoting the answer, whatever the survey's purpose: the person's answer is the
    conversation going on, so it needs no opt-in and counts against no marketing cap (module
    docstring). The answer is recorded whatever happens to the message: it is what the person said.
    """
    try:
        with transaction.atomic():
            return send_message(contact=inbound.contact, actor=SURVEY_ACTOR, reply_to=inbound, **message)
    except ApplicationError as exc:
        logger.warning("survey run %s: the next message was refused: %s", run.pk, exc)
        if "content" in message:
            run_abandon(run=run, reason=f"The next question could not be sent: {exc.message}"[:200])
        return None


# --- Starting from a template's button -----------------------------------------------------------


def start_from_press(*, inbound: InboundMessage) -> SurveyRun | None:
    """Start the active survey whose trigger is the template button ``inbound`` pressed, as a reply.

    A press that starts nothing returns None; one whose survey cannot start (the person is answering
    another, say) is logged for staff and returns None: the press itself stays in the inbox.
    """
    press = press_of(inbound)
    if press is None:
        return None
    candidates = Survey.objects.filter(active=True, trigger_template_id=press.template_id)
    survey = next(
        (s for s in candidates if press.matches(s.trigger_template_id, s.trigger_button_text)), None
    )
    if survey is None:
        return None
    try:
        with transaction.atomic():
            return start_survey(contact=inbound.contact, survey=survey, actor=TRIGGER_ACTOR, reply_to=inbound)
    except ApplicationError as exc:
        log_activity(
            actor=TRIGGER_ACTOR,
            action="survey.start_refused",
            obj=survey,
            details={
                "contact": inbound.contact_id,
                "inbound_message": inbound.pk,
                "code": exc.code,
                "error": exc.message,
            },
        )
        return None


# --- Ending ---------------------------------------------------------------------------------------


def run_abandon(*, run: SurveyRun, reason: str, actor: Actor = SURVEY_ACTOR) -> bool:
    """End a running run without its remaining answers, withdrawing its question still queued;
    False when it was no longer running.

    The run's messages are read after the UPDATE, which waits for an answer being recorded (it
    holds the run's row lock): a next question queued by that answer is seen and withdrawn. One the
    dispatcher has claimed is past recall; the send-time rules decide it.
    """
    with transaction.atomic():
        abandoned = SurveyRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(
            state=RunState.ABANDONED, current_question=None, ended_at=timezone.now(), end_reason=reason[:200]
        )
        if not abandoned:
            return False
        sent = SurveyRun.objects.filter(pk=run.pk).values_list("first_message_id", "last_question_message_id")
        cancelled = messages_cancel_queued(
            message_ids={pk for pk in sent.get() if pk is not None},
            reason="survey_abandoned",
            detail=f"Survey run #{run.pk} was abandoned before this question went: {reason}",
        )
        log_activity(
            actor=actor,
            action="survey.abandoned",
            obj=run,
            details={"reason": reason, "cancelled_messages": cancelled},
        )
    return True


def runs_abandon_after_opt_out(*, event_ids: list[int]) -> int:
    """Abandon the running survey of everyone among ``event_ids`` who opted out: an opt-out wins.

    Any purpose: a person who says STOP in the middle of a survey wants it to stop. One query when
    no event is an opt-out (an import's opt-ins, say).
    """
    contact_ids = set(
        ConsentEvent.objects.filter(pk__in=event_ids, action=ConsentAction.OPT_OUT).values_list(
            "contact_id", flat=True
        )
    )
    if not contact_ids:
        return 0
    runs = list(SurveyRun.objects.filter(contact_id__in=contact_ids, state=RunState.RUNNING))
    return sum(run_abandon(run=run, reason=OPTED_OUT) for run in runs)
