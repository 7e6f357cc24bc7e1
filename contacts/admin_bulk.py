"""The contact list's export and bulk actions: a mixin of ``ContactAdmin``.

The export is the list exactly as staff filtered, searched and sorted it (the admin's own
ChangeList builds the queryset), streamed as CSV by ``contacts.exports``. The bulk actions
(tags, language, an opt-out) ask for their input on a page between the list and the change, then
call the set-based services of ``contacts.bulk``: a constant number of statements however many
contacts are selected, "select all" across pages included.
"""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from contacts.bulk import (
    clean_tag_names,
    contacts_add_tags,
    contacts_record_opt_out,
    contacts_remove_tags,
    contacts_set_language,
    selection_people,
)
from contacts.exports import contacts_export
from contacts.languages import LANGUAGE_CHOICES, META_LANGUAGES
from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError

EXPORT_URL_NAME = "contacts_contact_export"
# The hidden field that tells the intermediate page's submit from the list's first POST.
APPLY = "_bulk_apply"
BOTH_PURPOSES = "all"


class _TagsField(forms.CharField):
    """Tag names separated by commas or semicolons (as an import's tags column), checked by the
    rule the service applies (``clean_tag_names``)."""

    def __init__(self, **kwargs):
        super().__init__(
            widget=forms.TextInput(attrs={"size": 60, "placeholder": "e.g. VIP, newsletter 2026"}),
            error_messages={"required": "Name at least one tag."},
            **kwargs,
        )

    def clean(self, value):
        text = super().clean(value)
        try:
            return clean_tag_names(re.split(r"[,;]", text))
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc


class AddTagsForm(forms.Form):
    tags = _TagsField(
        help_text="Separated by commas. A tag that does not exist yet is made (VIP and vip are one tag)."
    )


class RemoveTagsForm(forms.Form):
    tags = _TagsField(
        help_text="Names of existing tags, separated by commas (any case). The tags themselves stay."
    )


class SetLanguageForm(forms.Form):
    # A blank first choice: with the first language preselected, Apply by mistake would set
    # everyone selected to Afrikaans.
    language = forms.ChoiceField(
        choices=[("", "— choose a language —"), *LANGUAGE_CHOICES],
        help_text="WhatsApp's template language: picks the template translation these people receive.",
        error_messages={
            "required": "Choose the language to set.",
            "invalid_choice": "“%(value)s” is not one of WhatsApp's template languages.",
        },
    )


class BulkOptOutForm(forms.Form):
    purpose = forms.ChoiceField(
        choices=[*Purpose.choices, (BOTH_PURPOSES, "Both: marketing and service")],
        help_text="What they no longer want to receive.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. asked by email on 2026-03-02 to receive nothing more"}
        ),
        help_text="Kept as the evidence of each opt-out, with your name and how many people it was for.",
        error_messages={"required": "Say why these people are opted out (kept as the evidence)."},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(self.fields["reason"].error_messages["required"], code="required")
        return reason

    @property
    def purposes(self) -> list[str]:
        purpose = self.cleaned_data["purpose"]
        return list(Purpose.values) if purpose == BOTH_PURPOSES else [purpose]


class _ExportChangeList(ChangeList):
    """The list staff see, without reading a page of it: the export reads the whole queryset."""

    def get_results(self, request):
        self.result_count = self.full_result_count = None
        self.result_list = self.queryset.none()
        self.show_admin_actions = self.can_show_all = self.multi_page = False


class ContactBulkMixin:
    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name=EXPORT_URL_NAME),
            *super().get_urls(),
        ]

    def get_actions(self, request):
        # Django's "delete selected" would collect every selected row and its relations in memory,
        # and a contact with a consent ledger may not be deleted at all: deletion is one contact at
        # a time, on its page, where such a contact is refused with the reason.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_record_opt_out_permission(self, request):
        return request.user.has_perm("contacts.record_opt_out")

    def get_changelist(self, request, **kwargs):
        match = request.resolver_match
        if match is not None and match.url_name == EXPORT_URL_NAME:
            return _ExportChangeList
        return super().get_changelist(request, **kwargs)

    # --- Export ----------------------------------------------------------------------------
    def export_view(self, request):
        if not (request.user.has_perm("contacts.export_contact") and self.has_view_permission(request)):
            raise PermissionDenied(
                "Exporting the contact list takes the export permission (Editors and Auditors have it)."
            )
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            self.message_user(
                request,
                "The export link's filters are not ones this list has: nothing was exported. Filter the "
                "list again and export from there.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:contacts_contact_changelist"))
        export = contacts_export(
            contacts=changelist.queryset, actor=Actor.for_user(request.user), filters=_query_params(request)
        )
        response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response

    # --- Bulk actions ----------------------------------------------------------------------
    @admin.action(description="Add tags to the selected contacts", permissions=["change"])
    def add_tags(self, request, queryset):
        def run(form, **selected):
            outcome = contacts_add_tags(
                tag_names=form.cleaned_data["tags"],
                create_missing=request.user.has_perm("contacts.add_tag"),
                **selected,
            )
            tags = ", ".join(form.cleaned_data["tags"])
            return f"Tags {tags} added to {_people(outcome.people)} ({outcome.changed} new tag links)."

        return self._bulk_action(request, queryset, AddTagsForm, "Add tags", run)

    @admin.action(description="Remove tags from the selected contacts", permissions=["change"])
    def remove_tags(self, request, queryset):
        def run(form, **selected):
            outcome = contacts_remove_tags(tag_names=form.cleaned_data["tags"], **selected)
            tags = ", ".join(form.cleaned_data["tags"])
            return (
                f"Tags {tags} removed from {_people(outcome.people)} ({outcome.changed} tag links removed)."
            )

        return self._bulk_action(request, queryset, RemoveTagsForm, "Remove tags", run)

    @admin.action(description="Set the language of the selected contacts", permissions=["change"])
    def set_language(self, request, queryset):
        def run(form, **selected):
            language = form.cleaned_data["language"]
            outcome = contacts_set_language(language=language, **selected)
            return (
                f"Language set to {META_LANGUAGES[language]} ({language}) for {_people(outcome.people)} "
                f"({outcome.changed} changed)."
            )

        return self._bulk_action(request, queryset, SetLanguageForm, "Set the language", run)

    @admin.action(description="Record an opt-out for the selected contacts", permissions=["record_opt_out"])
    def record_opt_out(self, request, queryset):
        def run(form, **selected):
            outcome = contacts_record_opt_out(
                purposes=form.purposes, reason=form.cleaned_data["reason"], **selected
            )
            purposes = " and ".join(Purpose(p).label.lower() for p in form.purposes)
            return (
                f"Opt-out of {purposes} recorded for {_people(outcome.people)} "
                f"({outcome.changed} consent events)."
            )

        return self._bulk_action(request, queryset, BulkOptOutForm, "Record an opt-out", run)

    def _bulk_action(self, request, queryset, form_class, title, run):
        """The page between the list and the change: the selection's size and the action's form.

        Its submit comes back to the list's URL (the same filters) with the same selection and the
        action's name, so Django checks the action's permission again; ``run(form, contacts=,
        actor=, selection=)`` then applies it and returns the message for staff. ``None`` sends
        staff back to the list.
        """
        people = selection_people(queryset).count()
        if not people:
            self.message_user(
                request,
                "None of the selected contacts exist any more: nothing was changed.",
                messages.WARNING,
            )
            return None
        form = form_class(request.POST if APPLY in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                message = run(
                    form,
                    contacts=queryset,
                    actor=Actor.for_user(request.user),
                    selection=_selection(request),
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                self.message_user(request, message, messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "people": people,
            "merged_away": queryset.filter(merged_into__isnull=False).count(),
            "action_name": request.POST.get("action", ""),
            "select_across": _selects_all(request),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "apply_name": APPLY,
            "back": request.get_full_path(),
        }
        return TemplateResponse(request, "admin/contacts/contact/bulk_action.html", context)


def _people(count: int) -> str:
    return f"{count} contact{'s' if count != 1 else ''}"


def _query_params(request) -> dict:
    """The list's filters, search and ordering as the link gave them (for the activity log)."""
    return {key: values[0] if len(values) == 1 else values for key, values in request.GET.lists()}


def _selects_all(request) -> bool:
    return forms.BooleanField(required=False).clean(request.POST.get("select_across"))


def _selection(request) -> dict:
    """What staff selected, for the activity log: every contact the filters match, or the ids ticked."""
    if _selects_all(request):
        return {"all_matching": True, "filters": _query_params(request)}
    return {"ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME), "filters": _query_params(request)}
