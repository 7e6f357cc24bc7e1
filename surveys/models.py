"""Surveys: a short sequence of questions a person answers with reply buttons or a list.

A survey is started by a template's quick-reply button or by an agent (``surveys.services``);
each run asks one question at a time and keeps the answers. Answers are what the person said:
no one edits or deletes them (no role has the permission, the admin shows them read-only), and
questions and options they answer are protected from deletion. Once a survey has been started,
its purpose, questions and options are frozen (``clean`` refuses a change, the admin shows them
read-only): an Editor rewording "Great" to "Terrible" would otherwise rewrite what every recorded
answer means. Each answer also keeps our question text and option title as they were sent.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.languages import LANGUAGE_CHOICES
from contacts.models import Contact, Purpose, Tag
from core.models import ActorFields
from messaging.models import InboundMessage, OutboundMessage
from surveys import limits
from templates_app.models import MessageTemplate


class QuestionKind(models.TextChoices):
    BUTTONS = "buttons", f"Reply buttons (up to {limits.MAX_BUTTONS})"
    LIST = "list", f"List (up to {limits.MAX_LIST_ROWS} rows)"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"


class Survey(models.Model):
    name = models.CharField(max_length=120, unique=True)
    purpose = models.CharField(
        max_length=16,
        choices=Purpose.choices,
        help_text="Service: feedback on a service the person used; marketing: anything else. A survey the "
        "business starts needs the person's opt-in for this purpose.",
    )
    language = models.CharField(max_length=16, choices=LANGUAGE_CHOICES, default="en")
    active = models.BooleanField(
        default=False,
        help_text="Only active surveys can be started (by an agent or by their trigger button).",
    )
    intro_text = models.TextField(blank=True, help_text="Said above the first question, in the same message.")
    thank_you_text = models.TextField(
        blank=True,
        max_length=limits.TEXT_MAX,
        help_text="Sent as a reply to the last answer. Empty: nothing is sent after the last answer.",
    )
    trigger_template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A template whose quick-reply button starts this survey, as a reply to the press.",
    )
    trigger_button_text = models.CharField(
        max_length=25, blank=True, help_text="The label of that quick-reply button, e.g. Confirm."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("start_survey", "Can start a survey in a conversation"),
            ("export_answers", "Can export survey answers"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(trigger_template__isnull=True, trigger_button_text="")
                | (models.Q(trigger_template__isnull=False) & ~models.Q(trigger_button_text="")),
                name="survey_trigger_complete",
                violation_error_message="A trigger needs both the template and its button's label.",
            ),
            # One press starts one survey: two active surveys may not share a trigger.
            models.UniqueConstraint(
                "trigger_template",
                Lower("trigger_button_text"),
                condition=models.Q(active=True, trigger_template__isnull=False),
                name="survey_active_trigger_unique",
                violation_error_message="Another active survey already starts from this template's button.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        if self.pk is None or not survey_started(self.pk):
            return
        stored = Survey.objects.filter(pk=self.pk).values_list("purpose", flat=True).first()
        if stored is not None and stored != self.purpose:
            raise ValidationError(
                {
                    "purpose": f"“{self}” has been started: its purpose says which consent its answers "
                    "were collected under and can no longer change. Make a new survey instead."
                }
            )


def survey_started(survey_id: int | None) -> bool:
    """Whether anyone was ever sent this survey: from then on its questions and options are frozen."""
    return survey_id is not None and SurveyRun.objects.filter(survey_id=survey_id).exists()


def _refuse_if_frozen(obj: models.Model, survey_id: int | None, fields: list[str], what: str) -> None:
    """Refuse adding ``obj`` to a started survey, or changing one of its ``fields`` there."""
    if not survey_started(survey_id):
        return
    if obj.pk is None:
        raise ValidationError(
            f"This survey has been started: {what} can no longer be added. Make a new survey instead."
        )
    stored = type(obj).objects.filter(pk=obj.pk).values(*fields).first() or {}
    changed = [field for field in fields if field in stored and stored[field] != getattr(obj, field)]
    if changed:
        raise ValidationError(
            {
                field: f"This survey has been started: {what} can no longer change, or its recorded "
                "answers would mean something else. Make a new survey instead."
                for field in changed
            }
        )


class Question(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(default=1)
    text = models.TextField(max_length=limits.LIST_BODY_MAX)
    kind = models.CharField(max_length=16, choices=QuestionKind.choices, default=QuestionKind.BUTTONS)
    list_button = models.CharField(
        max_length=limits.LIST_BUTTON_MAX,
        default="Choose",
        help_text="A list's button label, which opens the rows (lists only).",
    )

    class Meta:
        ordering = ["survey", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "position"],
                name="question_position_unique",
                violation_error_message="Two questions of this survey have the same position.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.text[:60]}"

    def clean(self):
        super().clean()
        _refuse_if_frozen(
            self, self.survey_id, ["survey_id", "position", "text", "kind", "list_button"], "its questions"
        )


class Option(models.Model):
    """One answer a question offers. Its id is the stable id answers keep when its title changes."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=limits.ROW_TITLE_MAX)
    description = models.CharField(
        max_length=limits.ROW_DESCRIPTION_MAX, blank=True, help_text="Shown under a list row (lists only)."
    )

    class Meta:
        ordering = ["question", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                "question",
                Lower("title"),
                name="option_title_unique",
                violation_error_message="Each option of a question needs its own title.",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        super().clean()
        survey_id = (
            Question.objects.filter(pk=self.question_id).values_list("survey_id", flat=True).first()
            if self.question_id
            else None
        )
        _refuse_if_frozen(
            self, survey_id, ["question_id", "position", "title", "description"], "its questions' options"
        )


class SurveyRun(ActorFields):
    """One person going through one survey. The actor is who started it (an agent, or the system for
    a trigger button)."""

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="runs")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="survey_runs")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.RUNNING)
    current_question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_from = models.ForeignKey(
        InboundMessage,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The person's message the survey answers (a button press, or what an agent answered). "
        "Empty: started by the business.",
    )
    first_message = models.ForeignKey(
        OutboundMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_question_message = models.ForeignKey(
        OutboundMessage,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The message asking the latest question: withdrawn if still queued when the run is "
        "abandoned (an opt-out).",
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=models.Q(state="running"),
                name="survey_one_running_per_contact",
            )
        ]
        indexes = [models.Index(fields=["survey", "state"], name="surveyrun_survey_state_idx")]

    def __str__(self) -> str:
        return f"{self.survey} with {self.contact} ({self.state})"


class Answer(models.Model):
    run = models.ForeignKey(SurveyRun, on_delete=models.PROTECT, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="survey_answers")
    option = models.ForeignKey(Option, on_delete=models.PROTECT, related_name="answers")
    # Ours as sent, not the title the phone echoes back (a forged webhook's words are not an answer).
    question_text = models.TextField(max_length=limits.LIST_BODY_MAX, help_text="As we asked it.")
    option_title = models.CharField(max_length=limits.ROW_TITLE_MAX, help_text="Our option's title, as sent.")
    inbound = models.ForeignKey(InboundMessage, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "question__position"]
        constraints = [
            # A repeated press, or a webhook delivered twice, changes nothing.
            models.UniqueConstraint(fields=["run", "question"], name="answer_once_per_run_question")
        ]
        indexes = [models.Index(fields=["question", "option"], name="answer_question_option_idx")]

    def __str__(self) -> str:
        return f"{self.question}: {self.option_title}"


class ButtonTag(models.Model):
    """Tag the person who presses this quick-reply button of this template (appointments.py)."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="+")
    button_text = models.CharField(
        max_length=25, help_text="The quick-reply button's label, e.g. Reschedule."
    )
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["template", "button_text"]
        constraints = [
            models.UniqueConstraint(
                "template",
                Lower("button_text"),
                "tag",
                name="buttontag_unique",
                violation_error_message="This button already adds this tag.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} · {self.button_text} → {self.tag}"
