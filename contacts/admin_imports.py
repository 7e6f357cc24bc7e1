"""The admin pages of contact imports: upload, map the columns, read the preview, confirm, follow.

An import is a record (docs/imports.md, "In the admin"): never added through a model form,
edited or deleted. Its change page is its home, read-only for everyone, with the step that comes
next: the mapping while ``uploaded``, a progress bar while rows are checked or applied, the
preview with Confirm / Change mapping / Abandon in ``preview``, the result once applied. Each
step is a view added with ``get_urls``, wrapped in ``admin_site.admin_view``, that checks the
model permission itself and calls the import services; their refusals are shown, never a 500.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from contacts.forms_imports import ATTRIBUTE, ImportMappingForm, ImportUploadForm
from contacts.imports.applying import import_confirm, preview_token
from contacts.imports.mapping import FIELD_LABELS
from contacts.imports.preview import import_preview, import_refused_csv
from contacts.imports.reading import DELIMITERS
from contacts.imports.services import (
    ABANDONABLE,
    MAPPABLE,
    import_abandon,
    import_samples,
    import_set_mapping,
    import_upload,
)
from contacts.models import ConsentWording, ContactImport, ImportKind, ImportStatus, Purpose
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

RUNNING = (ImportStatus.STAGING, ImportStatus.APPLYING)
SAMPLES = 3  # values of each column shown on the mapping page
PER_PAGE = 50  # rows of each list of the preview per page


class ImportSizeLimit(FileUploadHandler):
    """Stops reading an uploaded file once it passes ``CONTACT_IMPORT_MAX_BYTES``.

    Without it Django would write a file of any size to a temporary file before the view could
    refuse it; with it, the rest of the body is read and dropped, and the form says why.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.too_large = False
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.CONTACT_IMPORT_MAX_BYTES:
            self.too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) keeps the file


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = ["file_name", "kind", "status", "counts_summary", "created_by", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["created_by"]
    search_fields = ["file_name", "file_sha256"]
    date_hierarchy = "created_at"

    # An import is a record of what came in and who confirmed it: never deleted.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="rows")
    def counts_summary(self, obj):
        return counts_summary(obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:import_id>/mapping/", view(self.mapping_view), name="contacts_contactimport_mapping"),
            path(
                "<int:import_id>/progress/", view(self.progress_view), name="contacts_contactimport_progress"
            ),
            path(
                "<int:import_id>/refused.csv",
                view(self.refused_csv_view),
                name="contacts_contactimport_refused",
            ),
            path("<int:import_id>/confirm/", view(self.confirm_view), name="contacts_contactimport_confirm"),
            path("<int:import_id>/abandon/", view(self.abandon_view), name="contacts_contactimport_abandon"),
            *super().get_urls(),
        ]

    def _context(self, request, contact_import=None, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": contact_import,
            **extra,
        }

    def _home(self, contact_import) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:contacts_contactimport_change", args=[contact_import.pk]))

    # --- Upload (the "Add" button) ------------------------------------------------------------
    @csrf_exempt  # checked below, once the size limit is in place: the CSRF check reads the body
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        limit = ImportSizeLimit(request)
        request.upload_handlers.insert(0, limit)
        return self._upload(request, limit)

    @method_decorator(csrf_protect)
    def _upload(self, request, limit: ImportSizeLimit):
        if request.method == "POST":
            files = request.FILES  # reads the body, through the size limit
            form = ImportUploadForm(request.POST, files, file_too_large=limit.too_large)
        else:
            form = ImportUploadForm()
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                contact_import = import_upload(
                    file_name=data["file"].name,
                    data=data["file"].read(),
                    kind=data["kind"],
                    encoding=data["encoding"],
                    delimiter=data["delimiter"],
                    actor=Actor.for_user(request.user),
                    user=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else "file", exc.message)
            else:
                self.message_user(
                    request,
                    f"The file {contact_import.file_name} was uploaded ({contact_import.total_rows:,} rows). "
                    "Check what each column is, then the rows are checked.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:contacts_contactimport_mapping", args=[contact_import.pk])
                )
        context = self._context(request, form=form, title="Upload a file to import")
        return TemplateResponse(request, "admin/contacts/contactimport/upload.html", context)

    # --- Mapping --------------------------------------------------------------------------------
    def mapping_view(self, request, import_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=import_id)
        if contact_import.status not in MAPPABLE:
            self.message_user(
                request,
                f"The columns can be mapped only before the import is confirmed; it is "
                f"“{contact_import.get_status_display()}”.",
                messages.ERROR,
            )
            return self._home(contact_import)
        try:
            samples = import_samples(contact_import=contact_import, rows=SAMPLES)
        except ApplicationError as exc:  # the file was deleted after the retention period
            self.message_user(request, exc.message, messages.ERROR)
            return self._home(contact_import)
        form = ImportMappingForm(
            request.POST if request.method == "POST" else None, contact_import=contact_import, samples=samples
        )
        if request.method == "POST" and form.is_valid():
            try:
                import_set_mapping(
                    contact_import=contact_import, mapping=form.mapping(), actor=Actor.for_user(request.user)
                )
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                self.message_user(request, "Mapping saved: the rows are being checked.", messages.SUCCESS)
                return self._home(contact_import)
        context = self._context(
            request, contact_import, form=form, title=f"What each column of {contact_import.file_name} is"
        )
        return TemplateResponse(request, "admin/contacts/contactimport/mapping.html", context)

    # --- The import's page --------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        contact_import = self.get_object(request, unquote(object_id))
        if contact_import is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, contact_import):
            raise PermissionDenied
        can_change = self.has_change_permission(request, contact_import)
        context = self._context(
            request,
            contact_import,
            title=str(contact_import),
            can_change=can_change,
            can_abandon=can_change and contact_import.status in ABANDONABLE,
            mapping_lines=mapping_summary(contact_import),
            **progress_context(contact_import),
            retention=retention_of(contact_import),
            result_counts=result_counts(contact_import),
            rows_applied=f"{contact_import.progress_done:,} of {contact_import.progress_total:,}",
            delimiter_label=DELIMITERS.get(contact_import.delimiter, contact_import.delimiter),
        )
        # The applied page keeps the lists: the refused rows are what staff still have to fix.
        if contact_import.status in (ImportStatus.PREVIEW, ImportStatus.APPLIED):
            context.update(preview_context(request, contact_import))
        return TemplateResponse(request, "admin/contacts/contactimport/detail.html", context)

    def progress_view(self, request, import_id):
        """The progress bar's data: this import's own state and nothing else."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=import_id)
        return JsonResponse(progress_of(contact_import))

    def refused_csv_view(self, request, import_id):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=import_id)
        # The rows hold people's numbers and names: who took them out is logged, as for an export.
        log_activity(
            actor=Actor.for_user(request.user),
            action="import.refused_rows_downloaded",
            obj=contact_import,
            details={"file_name": contact_import.file_name},
        )
        response = StreamingHttpResponse(
            import_refused_csv(contact_import=contact_import), content_type="text/csv; charset=utf-8"
        )
        stem = contact_import.file_name.rsplit(".", 1)[0] or "import"
        response["Content-Disposition"] = (
            f'attachment; filename="refused-{contact_import.pk}-{_ascii(stem)}.csv"'
        )
        return response

    # --- Confirm, abandon ---------------------------------------------------------------------
    def confirm_view(self, request, import_id):
        # The digest of the preview the page showed: "" (never a match) when a forged form left it out.
        previewed = request.POST.get("previewed", "")

        def confirm(contact_import, user):
            import_confirm(
                contact_import=contact_import, actor=Actor.for_user(user), user=user, previewed=previewed
            )

        return self._transition(request, import_id, confirm, "Confirmed: the rows are being applied.")

    def abandon_view(self, request, import_id):
        def abandon(contact_import, user):
            import_abandon(contact_import=contact_import, actor=Actor.for_user(user))

        return self._transition(request, import_id, abandon, "Abandoned: nothing of this file was applied.")

    def _transition(self, request, import_id, service, success: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=import_id)
        try:
            service(contact_import, request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)
        return self._home(contact_import)


def counts_summary(contact_import: ContactImport) -> str:
    """The changelist's one-line account of the rows: what the preview found, or what was written."""
    counts = contact_import.counts or {}
    if contact_import.status == ImportStatus.APPLIED:
        parts = [("contacts_created", "created"), ("contacts_updated", "updated"), ("refused", "refused")]
    elif contact_import.kind == ImportKind.SUPPRESSION:
        parts = [("opt_outs", "opt-outs"), ("new", "new"), ("refused", "refused")]
    else:
        parts = [("new", "new"), ("updated", "updated"), ("unchanged", "unchanged"), ("refused", "refused")]
    shown = [f"{counts[key]:,} {label}" for key, label in parts if key in counts]
    if shown:
        return " · ".join(shown)
    return f"{contact_import.total_rows:,} rows" if contact_import.total_rows else "—"


def progress_of(contact_import: ContactImport) -> dict:
    """What the progress endpoint answers: the import's own fields, nothing about anything else."""
    return {
        "status": contact_import.status,
        "status_label": contact_import.get_status_display(),
        "phase": contact_import.phase,
        "done": contact_import.progress_done,
        "total": contact_import.progress_total,
        "counts": contact_import.counts,
        "error": contact_import.error,
    }


def progress_context(contact_import: ContactImport) -> dict:
    """The progress bar as the page first shows it (the script then follows the endpoint)."""
    if contact_import.status not in RUNNING:
        return {}
    done, total = contact_import.progress_done, contact_import.progress_total
    verb = "checked" if contact_import.status == ImportStatus.STAGING else "applied"
    return {
        "progress": progress_of(contact_import),
        "progress_verb": verb,
        "progress_text": f"{done:,} of {total:,} rows {verb}" if total else "Starting…",
        "progress_percent": 100 * min(done, total) // total if total else 0,
    }


def result_counts(contact_import: ContactImport) -> list[tuple[str, int]]:
    """What an applied import wrote, for its page."""
    counts = contact_import.counts or {}
    labels = [
        ("applied_rows", "Rows applied"),
        ("contacts_created", "Contacts created"),
        ("contacts_updated", "Contacts updated"),
        ("unchanged", "Rows that changed nothing"),
        ("refused", "Rows refused (not applied)"),
        ("events_recorded", "Consent events recorded"),
        ("opt_ins_refused", "Opt-ins refused by the opting-back-in rule"),
    ]
    if contact_import.kind == ImportKind.SUPPRESSION:
        labels = [(key, label) for key, label in labels if key != "opt_ins_refused"]  # records no opt-in
    return [(label, f"{counts[key]:,}") for key, label in labels if key in counts]


def retention_of(contact_import: ContactImport) -> str:
    """When the uploaded bytes go (or went): the SHA-256 proves which file it was only while they exist."""
    if contact_import.file_purged_at:
        return (
            f"The file was deleted on {contact_import.file_purged_at:%Y-%m-%d}; its name and SHA-256 remain."
        )
    until = contact_import.created_at + timedelta(days=settings.CONTACT_IMPORT_FILE_RETENTION_DAYS)
    return f"The file is kept until {until:%Y-%m-%d}, then deleted."


def mapping_summary(contact_import: ContactImport) -> list[str]:
    """The mapping in words, one line per used column or setting, for the import's page."""
    mapping = contact_import.mapping or {}
    header = contact_import.header or []

    def column(index) -> str:
        name = header[index] if isinstance(index, int) and 0 <= index < len(header) else "?"
        return f"Column {index + 1 if isinstance(index, int) else '?'} “{name}”"

    lines = []
    for entry in mapping.get("columns", []):
        field = entry.get("field")
        if field == "ignore":
            continue
        label = (
            f"custom field “{entry.get('key', '')}”" if field == ATTRIBUTE else FIELD_LABELS.get(field, field)
        )
        blank = "; a blank cell clears it" if entry.get("blank") == "clear" else ""
        lines.append(f"{column(entry.get('column'))} → {label}{blank}")
    consent = mapping.get("consent", [])
    wordings = ConsentWording.objects.in_bulk([c.get("wording") for c in consent if c.get("wording")])
    purposes = dict(Purpose.choices)
    for entry in consent:
        wording = wordings.get(entry.get("wording"))
        purpose = purposes.get(entry.get("purpose"), entry.get("purpose"))
        lines.append(
            f"{column(entry.get('column'))} → opt-in to {str(purpose).lower()} messages, "
            f"wording {wording if wording else 'not chosen'}"
        )
    if consent:
        if mapping.get("consent_date_column") is not None:
            lines.append(f"Date of the opt-ins: {column(mapping['consent_date_column'])}")
        elif mapping.get("consent_date"):
            lines.append(f"Date of the opt-ins: {mapping['consent_date']} for the whole file")
        if mapping.get("consent_source"):
            lines.append(f"Collected: {mapping['consent_source']}")
    if mapping.get("suppress_purposes"):
        labels = ", ".join(str(purposes.get(p, p)).lower() for p in mapping["suppress_purposes"])
        lines.append(f"Every number is opted out of: {labels}")
    if mapping.get("region"):
        lines.append(f"Numbers without a country code are read as numbers of {mapping['region']}")
    return lines


def preview_context(request, contact_import: ContactImport) -> dict:
    """The preview (``import_preview``), one page of each list, with its rows made readable."""
    pages = {name: _page_number(request, name) for name in ("refused", "changes", "opt_ins")}
    preview = import_preview(
        contact_import=contact_import,
        per_page=PER_PAGE,
        refused_page=pages["refused"],
        changes_page=pages["changes"],
        opt_ins_page=pages["opt_ins"],
    )
    header = contact_import.header or []
    refused = [
        {
            "line": row.line,
            "reason": row.reason,
            "cells": [
                (header[i] if i < len(header) else f"column {i + 1}", cell) for i, cell in enumerate(row.raw)
            ],
        }
        for row in preview.refused.items
    ]
    changes = [
        {
            "line": row.line,
            "contact_id": row.contact_id,
            "contact_name": row.contact_name,
            "changes": [change_line(field, *values) for field, values in sorted(row.changes.items())],
        }
        for row in preview.changes.items
    ]
    purposes = dict(Purpose.choices)
    opt_in_refusals = [
        {"line": row.line, "purpose": purposes.get(row.purpose, row.purpose), "reason": row.reason}
        for row in preview.opt_in_refusals.items
    ]
    return {
        "preview": preview,
        "preview_token": preview_token(contact_import),
        "refused_rows": refused,
        "changed_rows": changes,
        "opt_in_refusals": opt_in_refusals,
        "pagers": {
            name: _pager(request, name, page)
            for name, page in (
                ("refused", preview.refused),
                ("changes", preview.changes),
                ("opt_ins", preview.opt_in_refusals),
            )
        },
    }


def change_line(field: str, old, new) -> tuple[str, str, str]:
    """(field, old value, new value) as staff read them: lists joined, blanks said."""

    def shown(value) -> str:
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return "(blank)" if value in (None, "") else str(value)

    if field.startswith("attributes."):
        label = f"custom field “{field.removeprefix('attributes.')}”"
    else:
        label = FIELD_LABELS.get(field, field)
    return label, shown(old), shown(new)


def _pager(request, name: str, page) -> dict:
    """Links to the previous and next page of one list, keeping the other lists' pages."""

    def link(number: int) -> str:
        query = request.GET.copy()
        query[f"{name}_page"] = number
        return f"?{query.urlencode()}#{name}"

    return {
        "page": page,
        "previous": link(page.number - 1) if page.has_previous else None,
        "next": link(page.number + 1) if page.has_next else None,
    }


def _page_number(request, name: str) -> int:
    try:
        return max(1, int(request.GET.get(f"{name}_page", 1)))
    except ValueError:
        return 1


def _ascii(text: str) -> str:
    """A file name safe in a Content-Disposition header (the download's name is a courtesy)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)[:80]
