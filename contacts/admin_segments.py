"""The admin of segments, custom fields and static lists (docs/segments.md).

Segments are edited as a rule tree: a JSON textarea (the source of truth, usable without
JavaScript) and a small tree editor (``contacts/static/contacts/segment_editor.js``) that reads and
writes it, with a live count of the draft. Saving goes through ``contacts.segments.services`` (a
new version when the rules change, the activity log); a refused rule is shown with its place
("Rule 2 › rule 1 …") and marked in the editor. Segments are archived, never deleted; their
versions are listed read-only. Static lists are made once (pasted numbers or an applied import)
and read-only afterwards. A custom field keeps its key, and its type once a segment uses it.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from contacts.admin import ActivityLoggedAdmin
from contacts.models import (
    AttributeDefinition,
    ContactImport,
    ContactList,
    ImportStatus,
    Segment,
    SegmentVersion,
)
from contacts.segments.attributes import NO_VALUE, OPERATOR_LABELS, OPERATORS
from contacts.segments.describe import describe_rules
from contacts.segments.registry import all_kinds
from contacts.segments.rules import GROUP_OPS, RuleError, validate_rules
from contacts.segments.services import (
    contact_list_create_from_import,
    contact_list_create_from_numbers,
    rules_count,
    segment_count,
    segment_create,
    segment_name_clean,
    segment_update,
    segments_including,
    segments_using_attribute,
)
from core.actors import Actor
from core.admin_tools import ReadOnlyAdminMixin
from core.errors import ApplicationError

EXAMPLE = {
    "op": "all",
    "rules": [
        {"kind": "tag", "tag": "vip"},
        {"kind": "consent", "purpose": "marketing", "status": "opted_in"},
        {
            "op": "any",
            "rules": [
                {"kind": "attribute", "key": "orders", "operator": "gt", "value": 3},
                {"kind": "wrote_within_days", "days": 30},
            ],
        },
    ],
}
REFUSED_SHOWN = 20  # refused lines listed after making a list; the rest are counted


def pretty(rules) -> str:
    return json.dumps(rules, indent=2, ensure_ascii=False)


def rules_reading(rules):
    """The rules in plain language (Approvers and Auditors read these), the JSON folded below."""
    return format_html(
        '<div class="segment-rules-summary">{}</div>'
        '<details class="segment-rules-json"><summary>The rules as JSON</summary><pre>{}</pre></details>',
        "\n".join(describe_rules(rules)),
        pretty(rules),
    )


def user_name(request, user) -> str:
    """Who made it: a link to the user only for who may open it (an Editor would get a 403)."""
    if user is None:
        return "—"
    if request.user.has_perm("auth.view_user"):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:auth_user_change", args=[user.pk]), user.get_username()
        )
    return user.get_username()


def contacts_link(query: str, text: str) -> str:
    return format_html('<a href="{}?{}">{}</a>', reverse("admin:contacts_contact_changelist"), query, text)


# --- segments --------------------------------------------------------------------------------------


class RulesField(forms.JSONField):
    """The rule tree as indented JSON, so it reads (and diffs) like the docs' examples."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return pretty(value)


class SegmentForm(forms.ModelForm):
    rules = RulesField(
        widget=forms.Textarea(
            attrs={"rows": 14, "cols": 80, "spellcheck": "false", "class": "segment-rules vLargeTextField"}
        ),
        help_text="The rule tree as JSON; the editor below writes it for you. Example: "
        + json.dumps(EXAMPLE),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules", "archived"]

    rule_error: RuleError | None = None

    def clean_name(self):
        try:
            return segment_name_clean(self.cleaned_data["name"], exclude=self.instance.pk)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        cleaned = super().clean()
        if "rules" in cleaned:
            try:
                cleaned["rules"] = validate_rules(cleaned["rules"], segment_id=self.instance.pk)
            except RuleError as exc:
                self.rule_error = exc
                self.add_error("rules", exc.message)
        if cleaned.get("archived") and self.instance.pk and not self.instance.archived:
            users = segments_including(self.instance.pk)
            if users:
                self.add_error(
                    "archived",
                    "Included by " + ", ".join(f"“{n}”" for n in users) + ": change those segments first.",
                )
        return cleaned


class SegmentVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SegmentVersion
    fields = ["version", "author", "created_at", "rules_pretty"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "versions (kept for good: a campaign freezes the version it was approved with)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def get_formset(self, request, obj=None, **kwargs):
        # The display methods get only the row; who is looking decides whether "created by" links.
        # (Inline instances are made per request, so this is this request's.)
        self._request = request
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="created by")
    def author(self, obj):
        return user_name(self._request, obj.created_by)

    @admin.display(description="rules")
    def rules_pretty(self, obj):
        return rules_reading(obj.rules)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "version", "archived", "updated_at"]
    list_filter = ["archived"]
    search_fields = ["name", "description"]
    inlines = [SegmentVersionInline]
    change_form_template = "admin/contacts/segment/change_form.html"

    # Versions are kept for good, and a campaign may point at one: archive instead.
    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _can_edit(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj else self.has_add_permission(request)

    def get_fieldsets(self, request, obj=None):
        if not self._can_edit(request, obj):
            return [(None, {"fields": ["name", "description", "rules_pretty", "archived", "members"]})]
        fields = ["name", "description", "rules"] + (["rules_summary", "archived", "members"] if obj else [])
        return [(None, {"fields": fields})]

    def get_readonly_fields(self, request, obj=None):
        if not self._can_edit(request, obj):
            return ["name", "description", "rules_pretty", "archived", "members"]
        return ["rules_summary", "members"]

    def get_changeform_initial_data(self, request):
        return {"rules": {"op": "all", "rules": []}, **super().get_changeform_initial_data(request)}

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="rules")
    def rules_pretty(self, obj):
        return rules_reading(obj.rules)

    @admin.display(description="saved rules, in words")
    def rules_summary(self, obj):
        return format_html(
            '<div class="segment-rules-summary">{}</div>', "\n".join(describe_rules(obj.rules))
        )

    @admin.display(description="members")
    def members(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        try:
            count = segment_count(obj)
        except ApplicationError as exc:
            return exc.message
        return contacts_link(f"segment={obj.pk}", f"View {count:,} member{'' if count == 1 else 's'}")

    # --- saving through the services ----------------------------------------------------------

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            segment_update(
                segment=obj,
                name=data["name"],
                description=data["description"],
                rules=data["rules"],
                archived=data["archived"],
                actor=actor,
            )
            return
        created = segment_create(
            name=data["name"], description=data["description"], rules=data["rules"], actor=actor
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form checked everything the service checks; only an edit made at the same moment by
        # someone else (a name taken, a circle of segments) can still be refused here.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if self._can_edit(request, obj):
            form = context["adminform"].form
            error = form.rule_error
            count_url = (
                reverse("admin:contacts_segment_count", args=[obj.pk])
                if obj
                else reverse("admin:contacts_segment_count_new")
            )
            context["segment_editor"] = editor_config(
                count_url=count_url,
                error={"path": error.path, "field": error.rule_field, "message": error.message}
                if error
                else None,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- the live count -------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("count/", self.admin_site.admin_view(self.count_view), name="contacts_segment_count_new"),
            path(
                "<int:segment_id>/count/",
                self.admin_site.admin_view(self.count_view),
                name="contacts_segment_count",
            ),
            *super().get_urls(),
        ]

    def count_view(self, request, segment_id=None):
        """POST ``rules`` (JSON) → ``{"count": n}``, or ``{"error", "path", "field"}`` with 400."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        segment = get_object_or_404(Segment, pk=segment_id) if segment_id is not None else None
        if not self._can_edit(request, segment):
            raise PermissionDenied
        try:
            rules = json.loads(request.POST.get("rules", ""))
        except ValueError as exc:
            return JsonResponse({"error": f"The rules are not valid JSON: {exc}.", "path": None}, status=400)
        try:
            count = rules_count(rules=rules, segment=segment)
        except RuleError as exc:
            return JsonResponse({"error": exc.message, "path": exc.path, "field": exc.rule_field}, status=400)
        except ApplicationError as exc:
            return JsonResponse({"error": exc.message, "path": None}, status=400)
        return JsonResponse({"count": count})


def editor_config(*, count_url: str, error: dict | None) -> dict:
    """What the tree editor needs: the kinds and their fields, operators per type, the custom
    fields' types, where to ask for the count, and the refused rule to mark."""
    return {
        "kinds": [kind.for_editor() for kind in all_kinds()],
        "groups": GROUP_OPS,
        "operators": {t: [[op, OPERATOR_LABELS[op]] for op in ops] for t, ops in OPERATORS.items()},
        "noValue": list(NO_VALUE),
        "attributeTypes": dict(AttributeDefinition.objects.values_list("key", "type")),
        "countUrl": count_url,
        "error": error,
    }


# --- custom fields ---------------------------------------------------------------------------------


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(ActivityLoggedAdmin):
    """A custom field's key names the values stored on contacts, so it is fixed once made; its type
    decides how segments compare them, so it is fixed while a segment (or a version) uses it."""

    list_display = ["key", "label", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["key", "label"]

    def get_fields(self, request, obj=None):
        return ["key", "label", "type", "used_by"] if obj else ["key", "label", "type"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["key", "used_by"]
        return [*fixed, "type"] if segments_using_attribute(obj.key) else fixed

    @admin.display(description="used by segments")
    def used_by(self, obj):
        names = segments_using_attribute(obj.key)
        if not names:
            return "No segment uses it."
        return ", ".join(names) + " (its type and the field itself are kept while they use it)"

    def has_delete_permission(self, request, obj=None):
        if obj is not None and segments_using_attribute(obj.key):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # Deleting in bulk would skip the check above.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# --- static lists ----------------------------------------------------------------------------------


class ContactListCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Required for pasted numbers; an import's list is named after it.",
    )
    numbers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 40, "spellcheck": "false"}),
        help_text=(
            "One number per line (or separated by commas), in any format. Only numbers of existing "
            "contacts are listed: a number nobody has is reported, not added — import it to add the person."
        ),
    )
    contact_import = forms.ModelChoiceField(
        queryset=ContactImport.objects.filter(status=ImportStatus.APPLIED),
        required=False,
        label="Or: the contacts of an applied import",
    )

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("numbers", "").strip()) == bool(cleaned.get("contact_import")):
            raise forms.ValidationError("Paste numbers or pick an import (one of the two).")
        return cleaned


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    """Made once, never changed (a segment version that names a list means the same people later)."""

    list_display = ["name", "size", "source", "created_by", "created_at", "members"]
    list_select_related = ["source_import", "created_by"]
    search_fields = ["name"]
    fields = ["name", "size", "source", "created_by", "created_at", "members"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="made from")
    def source(self, obj):
        if obj.source_import_id is None:
            return "Pasted numbers"
        url = reverse("admin:contacts_contactimport_change", args=[obj.source_import_id])
        return format_html('<a href="{}">{}</a>', url, obj.source_import)

    @admin.display(description="members")
    def members(self, obj):
        return contacts_link(f"list={obj.pk}", "View members")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ContactListCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                contact_list = self._create(request, form.cleaned_data)
            except ApplicationError as exc:
                field = {"text": "numbers"}.get(exc.field, exc.field)
                form.add_error(field if field in form.fields else None, exc.message)
                for line in exc.details.get("refused", [])[:REFUSED_SHOWN]:
                    form.add_error("numbers", line)
            else:
                return HttpResponseRedirect(
                    reverse("admin:contacts_contactlist_change", args=[contact_list.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Make a static list",
        }
        return TemplateResponse(request, "admin/contacts/contactlist/add.html", context)

    def _create(self, request, data) -> ContactList:
        actor = Actor.for_user(request.user)
        if data["contact_import"]:
            contact_list = contact_list_create_from_import(
                contact_import=data["contact_import"], name=data["name"], actor=actor
            )
            self.message_user(
                request, f"“{contact_list}” made: {contact_list.size:,} contacts.", messages.SUCCESS
            )
            return contact_list
        contact_list, refused = contact_list_create_from_numbers(
            name=data["name"], text=data["numbers"], actor=actor
        )
        self.message_user(
            request, f"“{contact_list}” made: {contact_list.size:,} contacts.", messages.SUCCESS
        )
        if refused:
            shown = "; ".join(str(line) for line in refused[:REFUSED_SHOWN])
            more = f" … and {len(refused) - REFUSED_SHOWN} more" if len(refused) > REFUSED_SHOWN else ""
            self.message_user(request, f"{len(refused)} not listed: {shown}{more}", messages.WARNING)
        return contact_list
