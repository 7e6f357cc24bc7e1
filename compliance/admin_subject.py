"""The data-subject report in the admin: find the person, read the report, print it or download it.

Registered on the ``DataSubjectReport`` proxy, so the admin index lists it under the compliance
reports and its URLs live under ``/admin/compliance/datasubjectreport/``. The contact's own page
links here (``compliance/subject/_contact_link.html``). Who may: the compliance export permission
(Auditors; Editors and Approvers only when granted); phone numbers and the evidence's IP address
and user agent are masked for those without the personal-data permission. Every reading of the
report, page or download, is logged as an export: the page shows the same data as the file.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from compliance.admin_base import ReadOnlyBehindExport
from compliance.masking import should_mask
from compliance.subject_models import DataSubjectReport
from compliance.subject_report import (
    SECTIONS,
    log_read,
    masked,
    row_count,
    subject_contact,
    subject_label,
    subject_report,
)
from contacts.models import Contact
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError

REPORT = "data_subject"


@admin.register(DataSubjectReport)
class DataSubjectReportAdmin(ReadOnlyBehindExport):
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:contact_id>/", view(self.report_view), name="compliance_datasubjectreport_report"),
            path(
                "<int:contact_id>/json/", view(self.download_view), name="compliance_datasubjectreport_json"
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A person's page here is their report."""
        if not is_id(object_id):
            return self._not_found(request, _Unknown(object_id))
        return self.report_view(request, int(object_id))

    def _check(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied("The data-subject report takes the compliance export permission.")

    def changelist_view(self, request, extra_context=None):
        """GET ?contact=<id or phone> → the person's report; without it, the look-up form."""
        self._check(request)
        reference = request.GET.get("contact", "")
        error = ""
        if reference:
            try:
                contact = subject_contact(reference)
            except ApplicationError as exc:
                error = exc.message
            else:
                return HttpResponseRedirect(
                    reverse("admin:compliance_datasubjectreport_report", args=[contact.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Data-subject report",
            "opts": self.model._meta,
            "reference": reference,
            "error": error,
        }
        return TemplateResponse(
            request, "compliance/subject/find.html", context, status=404 if error else 200
        )

    def _report(self, request, contact_id: int, output: str) -> tuple[Contact, dict]:
        self._check(request)
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise _Unknown(contact_id)
        report = subject_report(contact)
        mask = should_mask(request.user, asked=request.GET.get("masked") == "1")
        if mask:
            report = masked(report)
        log_read(
            actor=Actor.for_user(request.user),
            report=REPORT,
            filters={"contact_id": report["contact"]["id"], "requested_id": contact_id},
            output=output,
            masked=mask,
            rows=row_count(report),
            anchor=report["ledger_anchor"],
        )
        return contact, report

    def report_view(self, request, contact_id):
        """The report as a page, printable (its print stylesheet drops the admin's chrome)."""
        try:
            _, report = self._report(request, contact_id, "page")
        except _Unknown as exc:
            return self._not_found(request, exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Data-subject report: {subject_label(report)}",
            "subject_label": subject_label(report),
            "opts": self.model._meta,
            "report": report,
            "sections": dict(SECTIONS),
            "download_url": reverse(
                "admin:compliance_datasubjectreport_json", args=[report["contact"]["id"]]
            ),
        }
        return TemplateResponse(request, "compliance/subject/report.html", context)

    def download_view(self, request, contact_id):
        """The report as a JSON file."""
        try:
            contact, report = self._report(request, contact_id, "json")
        except _Unknown as exc:
            return self._not_found(request, exc)
        body = json.dumps(report, ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="data-subject-{contact.pk}-{stamp}.json"'
        return response

    def _not_found(self, request, exc: _Unknown):
        context = {
            **self.admin_site.each_context(request),
            "title": "Data-subject report",
            "opts": self.model._meta,
            "reference": str(exc.contact_id),
            "error": f"There is no contact with the id {exc.contact_id}.",
        }
        return TemplateResponse(request, "compliance/subject/find.html", context, status=404)


class _Unknown(Exception):
    def __init__(self, contact_id: int):
        self.contact_id = contact_id
