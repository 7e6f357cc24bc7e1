"""The surveys admin: Editors write surveys (questions inline, each question's options on its own
page), everyone who may read them sees the results; runs and answers are read-only for all.

Meta's limits are checked while editing, naming the question or option that breaks one
(``questions.question_problems``); an active survey must be sendable as it stands. Once a survey
has been started, its purpose, questions and options are read-only here (no permission to add,
change or delete them, so a posted change is ignored or refused), and the models' ``clean``, which
every admin form calls, refuses a change that reaches them another way (the question add page).
The results page, the CSV export and the start form's view are in ``admin_views``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from contacts.admin import ActivityLoggedAdmin
from core.admin_tools import ReadOnlyAdminMixin
from surveys.admin_views import SurveyViewsMixin
from surveys.models import Answer, ButtonTag, Option, Question, Survey, SurveyRun, survey_started
from surveys.presses import label_problem
from surveys.questions import question_problems


def _position(form) -> tuple:
    return (form.cleaned_data.get("position") or 0, form.instance.pk or 0)


STARTED_NOTE = (
    "This survey has been started: its purpose, questions and options are read-only, so that every "
    "recorded answer keeps its meaning. To ask something else, make a new survey."
)


def _started(survey: Survey | None) -> bool:
    """``survey_started`` once per object and request (the admin asks each permission many times)."""
    if survey is None or survey.pk is None:
        return False
    if not hasattr(survey, "_started"):
        survey._started = survey_started(survey.pk)
    return survey._started


def _kept(formset) -> list:
    forms_kept = [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
    return sorted(forms_kept, key=_position)


# --- Surveys and their questions ------------------------------------------------------------------


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = [
            "name",
            "purpose",
            "language",
            "active",
            "intro_text",
            "thank_you_text",
            "trigger_template",
            "trigger_button_text",
        ]

    def clean(self):
        cleaned = super().clean()
        problem = label_problem(cleaned.get("trigger_template"), cleaned.get("trigger_button_text") or "")
        if problem and cleaned.get("trigger_button_text"):
            self.add_error("trigger_button_text", problem)
        return cleaned


class QuestionFormSet(BaseInlineFormSet):
    """The survey's questions as WhatsApp would get them: each with its stored options, the first
    with the survey's intro; an active survey needs questions that all have options."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        survey = self.instance
        if _started(survey):
            self._check_started(survey)
            return
        kept = _kept(self)
        if survey.active and not kept:
            raise forms.ValidationError("An active survey needs at least one question.")
        for index, form in enumerate(kept):
            data = form.cleaned_data
            stored = form.instance.options.all() if form.instance.pk else []
            options = [(o.title, o.description) for o in stored]
            problems = question_problems(
                kind=data["kind"],
                text=data.get("text") or "",
                list_button=data.get("list_button") or "",
                options=options,
                intro=survey.intro_text if index == 0 else "",
            )
            for field, message in problems:
                if field == "options" and not options:
                    if survey.active:
                        form.add_error(None, f"{message} Save the survey inactive, then add its options.")
                    continue
                form.add_error(field if field in ("text", "list_button") else None, message)

    def _check_started(self, survey: Survey) -> None:
        """The questions are read-only and were sendable when the survey started, but the intro
        (edited on this page) is said above the first one: it must still fit with it."""
        first = survey.questions.prefetch_related("options").order_by("position", "id").first()
        if first is None:
            return
        problems = question_problems(
            kind=first.kind,
            text=first.text,
            list_button=first.list_button,
            options=[(o.title, o.description) for o in first.options.all()],
            intro=survey.intro_text,
        )
        if problems:
            raise forms.ValidationError([f"Question {first.position}: {message}" for _, message in problems])


class QuestionInline(admin.StackedInline):
    model = Question
    formset = QuestionFormSet
    extra = 0
    fields = ["position", "text", "kind", "list_button", "option_summary"]
    readonly_fields = ["option_summary"]
    show_change_link = True

    @admin.display(description="options")
    def option_summary(self, obj):
        if obj.pk is None:
            return "Save first, then add the options on the question's page (its “Change” link)."
        titles = [o.title for o in obj.options.all()]
        return (
            " · ".join(titles) if titles else "None yet: add them on the question's page (its “Change” link)."
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("options")

    # ``obj`` is the survey being edited.
    def has_add_permission(self, request, obj=None):
        return not _started(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _started(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _started(obj) and super().has_delete_permission(request, obj)


@admin.register(Survey)
class SurveyAdmin(SurveyViewsMixin, ActivityLoggedAdmin):
    form = SurveyForm
    inlines = [QuestionInline]
    list_display = ["name", "purpose", "language", "active", "trigger", "results_link"]
    list_filter = ["active", "purpose", "language"]
    search_fields = ["name"]
    autocomplete_fields = ["trigger_template"]
    change_form_template = "admin/surveys/survey/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "purpose", "language", "active"]}),
        ("Messages", {"fields": ["intro_text", "thank_you_text"]}),
        (
            "Started by a template's button",
            {
                "fields": ["trigger_template", "trigger_button_text"],
                "description": "A press on this quick-reply button starts the survey as a reply to the "
                "press: no opt-in needed. Not the template's opt-out button.",
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["purpose"] if _started(obj) else []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        survey = self.get_object(request, object_id)
        note = STARTED_NOTE if _started(survey) else ""
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "started_note": note}
        )

    @admin.display(description="trigger")
    def trigger(self, obj):
        return f"{obj.trigger_template} · {obj.trigger_button_text}" if obj.trigger_template_id else "—"

    @admin.display(description="results")
    def results_link(self, obj):
        return format_html('<a href="{}">Results</a>', reverse("admin:surveys_survey_results", args=[obj.pk]))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("trigger_template")


class OptionFormSet(BaseInlineFormSet):
    """The options as WhatsApp would get them under this question (its kind, text and list label as
    just edited): how many, how long, unique."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        question = self.instance
        kept = _kept(self)
        earlier = Question.objects.filter(survey_id=question.survey_id, position__lt=question.position)
        if question.pk:
            earlier = earlier.exclude(pk=question.pk)
        problems = question_problems(
            kind=question.kind,
            text=question.text,
            list_button=question.list_button,
            options=[(f.cleaned_data["title"], f.cleaned_data.get("description") or "") for f in kept],
            intro="" if earlier.exists() else question.survey.intro_text,
        )
        general = []
        for field, message in problems:
            if field.startswith("option "):
                number, _, part = field.removeprefix("option ").partition(" ")
                kept[int(number) - 1].add_error(part or "title", message)
            elif field == "options" and not kept and not question.survey.active:
                continue
            else:
                general.append(message)
        if general:
            raise forms.ValidationError(general)


class OptionInline(admin.TabularInline):
    model = Option
    formset = OptionFormSet
    extra = 0
    fields = ["position", "title", "description"]

    # ``obj`` is the question being edited.
    def has_add_permission(self, request, obj=None):
        return not _question_started(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _question_started(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _question_started(obj) and super().has_delete_permission(request, obj)


def _question_started(question: Question | None) -> bool:
    return question is not None and question.survey_id is not None and _started(question.survey)


@admin.register(Question)
class QuestionAdmin(ActivityLoggedAdmin):
    inlines = [OptionInline]
    list_display = ["__str__", "survey", "kind"]
    list_filter = ["survey"]
    fields = ["survey", "position", "text", "kind", "list_button"]
    change_form_template = "admin/surveys/question/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # A question answered in one survey is not moved to another.
        return ["survey"] if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return not _question_started(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _question_started(obj) and super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        question = self.get_object(request, object_id)
        note = STARTED_NOTE if _question_started(question) else ""
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "started_note": note}
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("survey")


# --- Runs and answers: written by the system, read by staff ---------------------------------------


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    actions = None


@admin.register(SurveyRun)
class SurveyRunAdmin(ReadOnlyAdmin):
    list_display = ["survey", "contact", "state", "current_question", "started_at", "ended_at", "actor_label"]
    list_filter = ["state", "survey"]
    list_select_related = ["survey", "contact", "current_question"]
    raw_id_fields = ["contact", "started_from", "first_message"]


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    """The answers, filtered by survey or contact: the survey's results page and the contact's
    section link here (``?run__survey__id__exact=`` / ``?contact__id__exact=``)."""

    list_display = ["answered_at", "contact", "survey", "question", "option_title"]
    list_filter = ["run__survey", "question"]
    list_select_related = ["contact", "run__survey", "question"]
    raw_id_fields = ["run", "question", "contact", "option", "inbound"]
    date_hierarchy = "answered_at"

    @admin.display(description="survey", ordering="run__survey__name")
    def survey(self, obj):
        return obj.run.survey


# --- The appointment example: a button press tags the person --------------------------------------


class ButtonTagForm(forms.ModelForm):
    class Meta:
        model = ButtonTag
        fields = ["template", "button_text", "tag", "active"]

    def clean(self):
        cleaned = super().clean()
        problem = label_problem(cleaned.get("template"), cleaned.get("button_text") or "")
        if problem and cleaned.get("button_text"):
            self.add_error("button_text", problem)
        return cleaned


@admin.register(ButtonTag)
class ButtonTagAdmin(ActivityLoggedAdmin):
    form = ButtonTagForm
    list_display = ["template", "button_text", "tag", "active"]
    list_filter = ["active"]
    autocomplete_fields = ["template", "tag"]
