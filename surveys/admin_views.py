"""The survey admin's own pages: results with a chart per question, the answers as CSV, and the view
the inbox's start form posts to. A mixin of ``SurveyAdmin``; each view checks its permission
itself (custom views get only the admin's login check).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from contacts.models import Contact
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.models import InboundMessage
from messaging.sending.rules import window_open
from surveys.results import CHART, answers_export, question_results, run_counts
from surveys.services import start_survey

EXPORT = "surveys.export_answers"
START = "surveys.start_survey"


class SurveyViewsMixin:
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/", view(self.start_view), name="surveys_start"),
            path("<int:survey_id>/results/", view(self.results_view), name="surveys_survey_results"),
            path("<int:survey_id>/results/export/", view(self.export_view), name="surveys_survey_export"),
            *super().get_urls(),
        ]

    def _survey(self, request, survey_id):
        survey = self.get_queryset(request).filter(pk=survey_id).first()
        if survey is None:
            raise Http404(f"There is no survey #{survey_id}.")
        if not self.has_view_permission(request, survey):
            raise PermissionDenied("Reading a survey's results takes the permission to view surveys.")
        return survey

    def results_view(self, request, survey_id):
        """Runs by state, and per question a bar chart of its answers (server-rendered SVG)."""
        survey = self._survey(request, survey_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Results of “{survey}”",
            "survey": survey,
            "runs": run_counts(survey),
            "results": question_results(survey),
            "chart": CHART,
            "may_export": request.user.has_perm(EXPORT),
            "answers_url": reverse("admin:surveys_answer_changelist")
            + "?"
            + urlencode({"run__survey__id__exact": survey.pk}),
            "may_view_answers": request.user.has_perm("surveys.view_answer"),
        }
        return TemplateResponse(request, "admin/surveys/survey/results.html", context)

    def export_view(self, request, survey_id):
        """Every answer as CSV (Editors and Auditors); logged before the first row is read."""
        survey = self._survey(request, survey_id)
        if not request.user.has_perm(EXPORT):
            raise PermissionDenied(
                "Exporting answers takes the export permission (Editors and Auditors have it)."
            )
        export = answers_export(survey=survey, actor=Actor.for_user(request.user))
        response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="survey-{survey.pk}-answers-{stamp}.csv"'
        return response

    def start_view(self, request):
        """POST from a conversation: start the chosen survey for its contact, then go back there.

        Inside the window a service survey answers the person's latest message (a reply, no
        opt-in); a marketing survey never answers anything, and ``start_survey`` asks for the
        marketing opt-in instead. Outside the window ``start_survey`` says a survey then starts
        only from a template.
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(START):
            raise PermissionDenied(
                "Starting a survey takes the permission to start surveys (Support has it)."
            )
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = ""
        raw_contact, raw_survey = request.POST.get("contact", ""), request.POST.get("survey", "")
        contact = Contact.objects.filter(pk=raw_contact).first() if is_id(raw_contact) else None
        survey = self.model.objects.filter(pk=raw_survey).first() if is_id(raw_survey) else None
        if contact is None or survey is None:
            what = "contact" if contact is None else "survey"
            given = (raw_contact if contact is None else raw_survey)[:20]
            self.message_user(
                request, f"No survey was started: there is no {what} “{given}”.", messages.ERROR
            )
            return HttpResponseRedirect(back or reverse("admin:surveys_survey_changelist"))
        back = back or reverse("admin:contacts_contact_change", args=[contact.pk])
        reply_to = None
        if window_open(contact):
            reply_to = (
                InboundMessage.objects.filter(contact=contact)
                .exclude(type="system")
                .order_by("-sent_at", "-id")
                .first()
            )
        try:
            start_survey(
                contact=contact, survey=survey, actor=Actor.for_user(request.user), reply_to=reply_to
            )
        except ApplicationError as exc:
            self.message_user(request, f"“{survey}” was not started: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"“{survey}” started: its first question is on its way to {contact}.")
        return HttpResponseRedirect(back)
