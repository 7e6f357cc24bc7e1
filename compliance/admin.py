"""The consent audit export's admin pages: the filtered ledger export and consent at an instant.

One page per report, reached from the admin index under "Compliance reports". A GET with the
filters shows how many rows match (the form is validated first: bad input is a message, never
a download); the page's download link repeats them with ``download=1`` and streams the file.
Only users with ``compliance.export_consent_audit`` reach either page (Auditors; an Editor or
Approver only when granted it). The list of past exports is the activity log, filtered to the
``compliance.*`` actions (linked from the page).
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from compliance.consent_export import (
    CONSENT_AT,
    CONSENT_AUDIT,
    REPORTS,
    consent_at,
    consent_columns,
    consent_events,
    export_report,
    point_in_time_columns,
)
from compliance.forms import ConsentAtForm, ConsentExportForm
from compliance.masking import masked_evidence, may_see_personal_data, should_mask
from compliance.models import EXPORT_PERMISSION, ConsentAuditExport
from compliance.streaming import streaming_response
from compliance.subject_report import mask_phone
from core.actors import Actor


@admin.register(ConsentAuditExport)
class ConsentAuditExportAdmin(admin.ModelAdmin):
    """The model carries the permissions; the list is the export page, rows are never changed."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.has_perm(EXPORT_PERMISSION)

    readonly_fields = ("person", "masked_evidence")

    def has_view_permission(self, request, obj=None):
        # An event's read-only page, reached by id, shows no more than the ledger's own admin —
        # and, to a reader without the personal-data right, the person and the evidence masked.
        return self.has_module_permission(request)

    def get_fields(self, request, obj=None):
        if may_see_personal_data(request.user):
            return [f for f in super().get_fields(request, obj) if f not in self.readonly_fields]
        return [
            *("person", "purpose", "action", "source", "wording", "wording_text", "masked_evidence"),
            *("occurred_at", "recorded_at", "actor_label"),
        ]

    @admin.display(description="contact")
    def person(self, obj) -> str:
        return (
            f"Contact #{obj.contact_id} ({mask_phone(obj.contact.phone or obj.contact.wa_id) or 'no number'})"
        )

    @admin.display(description="evidence (masked)")
    def masked_evidence(self, obj) -> str:
        return json.dumps(masked_evidence(obj.evidence), ensure_ascii=False)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        at = path("at/", self.admin_site.admin_view(self.consent_at_view), name="compliance_consent_at")
        return [at, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        """The consent audit export's page stands where the list of rows would."""
        return self._report_view(request, report=CONSENT_AUDIT, form_class=ConsentExportForm)

    def consent_at_view(self, request):
        return self._report_view(request, report=CONSENT_AT, form_class=ConsentAtForm)

    def _report_view(self, request, *, report: str, form_class):
        if not self.has_module_permission(request):
            raise PermissionDenied
        submitted = bool(request.GET)
        form = form_class(request.GET if submitted else None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": REPORTS[report],
            "form": form,
            "report": report,
            "other_report": _other_report(report),
            "may_see_personal_data": may_see_personal_data(request.user),
            "exports_log_url": reverse("admin:contacts_activitylogentry_changelist")
            + "?action__startswith=compliance.",
        }
        if submitted and form.is_valid():
            rows, columns, mask = self._rows(request, report, form)
            if request.GET.get("download") == "1":
                return self._download(
                    request, report=report, form=form, rows=rows, columns=columns, mask=mask
                )
            context["rows_matched"] = rows.count()
            context["masked"] = mask
            query = request.GET.copy()
            query["download"] = "1"
            context["download_query"] = query.urlencode()
        return TemplateResponse(request, "admin/compliance/report.html", context)

    def _rows(self, request, report, form):
        data = form.cleaned_data
        mask = should_mask(request.user, asked=data.get("mask", False))
        filters = form.filters()
        if report == CONSENT_AUDIT:
            return consent_events(filters), consent_columns(mask=mask), mask
        rows = consent_at(
            filters=filters, at=data["at"], reading=data["reading"], opted_in_only=not data.get("everyone")
        )
        return rows, point_in_time_columns(mask=mask), mask

    def _download(self, request, *, report, form, rows, columns, mask):
        output = form.cleaned_data["output"]
        export = export_report(
            report=report,
            rows=rows,
            columns=columns,
            actor=Actor.for_user(request.user),
            described_filters=form.described(),
            output=output,
            bom=form.cleaned_data.get("bom", False),
            mask=mask,
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        headers = {"X-Rows-Matched": str(export.rows_matched)}
        if export.anchor:
            headers["X-Ledger-Anchor"] = str(export.anchor.get("digest") or export.anchor)
        return streaming_response(
            export.chunks, output=output, filename=f"{report}-{stamp}.{output}", headers=headers
        )


def _other_report(report: str) -> tuple[str, str]:
    if report == CONSENT_AUDIT:
        return reverse("admin:compliance_consent_at"), REPORTS[CONSENT_AT]
    return reverse("admin:compliance_consentauditexport_changelist"), REPORTS[CONSENT_AUDIT]
