from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.admin import ActivityLoggedAdmin
from core.actors import Actor
from core.admin_tools import ReadOnlyAdminMixin
from core.errors import ApplicationError
from templates_app import services
from templates_app.forms import (
    AUTHENTICATION_FIELDS,
    MessageTemplateForm,
    TemplateButtonFormSet,
    TemplateCardForm,
    TemplateCardFormSet,
)
from templates_app.models import (
    MessageTemplate,
    TemplateButton,
    TemplateCard,
    TemplateEvent,
    TemplateStatus,
    TemplateVersion,
)
from templates_app.preview import preview_from_post, render_bubble, render_preview
from templates_app.selectors import draft_comparison, draft_differs

STATUS_EXPLANATIONS = {
    TemplateStatus.DRAFT: "Not submitted yet: only approved templates can be sent.",
    TemplateStatus.PENDING: "Under review by WhatsApp: nothing is sent with it until WhatsApp approves it.",
    TemplateStatus.APPROVED: "Approved: sendable.",
    TemplateStatus.REJECTED: "Rejected by WhatsApp: fix it using the reason below and submit again.",
    TemplateStatus.PAUSED: "Paused by WhatsApp for low quality: not sendable; anything scheduled waits.",
    TemplateStatus.DISABLED: "Disabled by WhatsApp: it can no longer be sent; create a new template.",
}


class TemplateButtonInline(admin.TabularInline):
    model = TemplateButton
    formset = TemplateButtonFormSet
    extra = 0
    fields = [
        "position",
        "kind",
        "text",
        "url",
        "url_sample",
        "phone_number",
        "code_sample",
        "opt_out_purpose",
    ]
    verbose_name = "button"
    verbose_name_plural = "buttons (up to 10; quick replies grouped together)"


class TemplateCardInline(admin.StackedInline):
    """A carousel's cards. The prefix stays the related name, ``cards``: the preview reads ``cards-N-…``."""

    model = TemplateCard
    form = TemplateCardForm
    formset = TemplateCardFormSet
    extra = 0
    max_num = 10
    fieldsets = [
        (None, {"fields": ["position", ("header_kind", "header_media"), "body", "body_samples"]}),
        (
            "Button 1",
            {
                "fields": [
                    ("button1_kind", "button1_text"),
                    ("button1_url", "button1_url_sample"),
                    "button1_phone_number",
                ]
            },
        ),
        (
            "Button 2",
            {
                "fields": [
                    ("button2_kind", "button2_text"),
                    ("button2_url", "button2_url_sample"),
                    "button2_phone_number",
                ]
            },
        ),
    ]
    verbose_name = "card"
    verbose_name_plural = (
        "carousel cards (2 to 10, all alike: the same media kind, a text on every card or none, "
        "the same buttons)"
    )


class TemplateVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TemplateVersion
    fields = [
        "number",
        "review",
        "category",
        "is_edit",
        "imported",
        "submitted_at",
        "submitted_by",
        "approved_at",
    ]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "versions submitted to WhatsApp (each one ever approved is kept)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("submitted_by")


class TemplateEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TemplateEvent
    fields = ["occurred_at", "kind", "from_value", "to_value", "source", "actor_label"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "timeline"


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ActivityLoggedAdmin):
    form = MessageTemplateForm
    inlines = [TemplateButtonInline, TemplateCardInline, TemplateVersionInline, TemplateEventInline]
    list_display = ["name", "language", "category", "status_badge", "quality_rating", "updated_at"]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    change_form_template = "admin/templates_app/messagetemplate/change_form.html"
    change_list_template = "admin/templates_app/messagetemplate/change_list.html"
    # What WhatsApp reports: shown, never typed.
    readonly_fields = [
        "status_explained",
        "meta_template_id",
        "rejection",
        "quality_rating",
        "approved_version",
        "edits_left",
        "last_error",
    ]
    fieldsets = [
        (None, {"fields": ["name", "language", "category", "parameter_format", "kind"]}),
        (
            "Header",
            {
                "fields": ["header_kind", "header_text", "header_sample", "header_media"],
                "classes": ["template-header"],
            },
        ),
        (
            "Limited-time offer",
            {"fields": ["offer_text", "offer_has_expiration"], "classes": ["offer-options"]},
        ),
        ("Message", {"fields": ["body", "body_samples", "footer"], "classes": ["template-message"]}),
        (
            "Authentication options (authentication templates only: WhatsApp writes the text)",
            {"fields": AUTHENTICATION_FIELDS, "classes": ["collapse", "authentication-options"]},
        ),
        ("WhatsApp", {"fields": readonly_fields}),
    ]

    def get_inlines(self, request, obj):
        # A new template has no versions or timeline yet.
        return self.inlines if obj is not None else [TemplateButtonInline, TemplateCardInline]

    def has_delete_permission(self, request, obj=None):
        # Once WhatsApp knows a template, messages may point at its versions: keep it.
        if obj is not None and (obj.meta_template_id or obj.versions.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_queryset(self, request):
        # The status column compares each draft with its approved version: load both at once.
        return (
            super()
            .get_queryset(request)
            .select_related("approved_version")
            .prefetch_related("buttons", "cards")
        )

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        badge = format_html(
            '<span class="template-status status-{}">{}</span>', obj.status.lower(), obj.status
        )
        note = self._pending_note(obj)
        return (
            format_html('{}<br><span class="template-draft-note">{}</span>', badge, note) if note else badge
        )

    @staticmethod
    def _pending_note(obj) -> str:
        """What the bare status hides: an edit that is not what WhatsApp sends."""
        if obj.approved_version_id is None:
            return ""
        if obj.status == TemplateStatus.PENDING:
            return (
                f"edit of version {obj.approved_version.number} under review — nothing is sent until approved"
            )
        if draft_differs(obj):
            return f"draft changed, not submitted — version {obj.approved_version.number} is sent"
        return ""

    @admin.display(description="status")
    def status_explained(self, obj):
        explanation = STATUS_EXPLANATIONS.get(
            obj.status, "Not sendable: only approved templates can be sent."
        )
        if obj.pk is not None and obj.approved_version_id is not None:
            number = obj.approved_version.number
            if obj.status == TemplateStatus.APPROVED and draft_differs(obj):
                explanation = (
                    f"Approved: version {number} is what is sent. The draft below is not sent until you "
                    "submit it and WhatsApp approves it."
                )
            elif obj.status == TemplateStatus.PENDING:
                explanation = (
                    "WhatsApp is reviewing an edit: nothing is sent with this template until it is "
                    f"approved, then the new version replaces version {number}."
                )
        return format_html("<strong>{}</strong> — {}", obj.status, explanation)

    @admin.display(description="rejection")
    def rejection(self, obj):
        if not obj.rejection_reason and not obj.rejection_recommendation:
            return "—"
        return format_html(
            "{}<br>{}<br><em>{}</em>",
            obj.rejection_reason,
            obj.rejection_detail,
            obj.rejection_recommendation,
        )

    @admin.display(description="edits left")
    def edits_left(self, obj):
        if obj.pk is None or obj.status != TemplateStatus.APPROVED:
            return "—"
        allowance = services.edit_allowance(obj)
        text = f"{allowance.left_in_30_days} of {services.EDITS_PER_30_DAYS} in the last 30 days"
        if allowance.next_edit_at:
            text += f"; next edit from {timezone.localtime(allowance.next_edit_at):%Y-%m-%d %H:%M}"
        return text + " (as far as this app knows)"

    # --- Process steps ----------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="templates_app_messagetemplate_preview",
            ),
            path(
                "sync/", self.admin_site.admin_view(self.sync_view), name="templates_app_messagetemplate_sync"
            ),
            path(
                "<int:template_id>/submit/",
                self.admin_site.admin_view(self.submit_view),
                name="templates_app_messagetemplate_submit",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request):
        """The chat-bubble preview of the form as typed: one renderer for preview, log and inbox."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_or_change_permission(request) and not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponse(preview_from_post(request.POST))

    def submit_view(self, request, template_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("templates_app.submit_messagetemplate"):
            raise PermissionDenied
        template = get_object_or_404(MessageTemplate, pk=template_id)
        try:
            version = services.template_submit(template=template, actor=Actor.for_user(request.user))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            template.refresh_from_db()
            self.message_user(
                request,
                f"Version {version.number} submitted to WhatsApp; status: {template.status}.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:templates_app_messagetemplate_change", args=[template_id]))

    def sync_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("templates_app.sync_messagetemplate"):
            raise PermissionDenied
        try:
            result = services.templates_sync(actor=Actor.for_user(request.user))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, result.summary(), messages.WARNING if result.skipped_until else messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:templates_app_messagetemplate_changelist"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The preview of the saved template (the page's script redraws it as the user types).
        if obj is not None:
            context["initial_preview"] = render_preview(obj)
            context["can_submit"] = request.user.has_perm("templates_app.submit_messagetemplate")
            comparison = draft_comparison(obj)
            if comparison.pending:
                # What is sent and what the draft would change, side by side (see docs/templates.md).
                context["comparison"] = comparison
                context["approved_preview"] = render_bubble(
                    components=comparison.approved.components, use_examples=True
                )
        else:
            context["initial_preview"] = render_to_string("admin/templates_app/preview_bubble.html", {})
        return super().render_change_form(request, context, add, change, form_url, obj)
