import posixpath

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
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
    SAMPLE_RULES,
    MessageTemplateForm,
    TemplateButtonFormSet,
    TemplateCardForm,
    TemplateCardFormSet,
    card_sample_url,
    header_sample_url,
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

# A sample's type by its extension (the form accepts no other); shown inline: images and video.
SAMPLE_TYPES = {ext: mime for rule in SAMPLE_RULES.values() for ext, mime in rule.extensions.items()}
INLINE_SAMPLE_TYPES = frozenset(
    mime for mime in SAMPLE_TYPES.values() if mime.split("/")[0] in ("image", "video")
)

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

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "sample_file"]

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return super().get_fieldsets(request, obj)
        return _sample_shown_as_link(super().get_fieldsets(request, obj))

    @admin.display(description="header media")
    def sample_file(self, card):
        if not card or not card.pk or not card.header_media:
            return "—"
        return _sample_link(card_sample_url(card.template_id, card.pk), card.header_media)

    verbose_name_plural = (
        "carousel cards (2 to 10, all alike: the same media kind, a text on every card or none, "
        "the same buttons)"
    )


def _sample_shown_as_link(fieldsets):
    """For a viewer, the read-only sample file links to the sample view (the admin's own read-only
    file display links to MEDIA_URL, which nothing serves)."""

    def swap(name):
        if isinstance(name, (list, tuple)):
            return tuple(swap(part) for part in name)
        return "sample_file" if name == "header_media" else name

    return [
        (title, {**options, "fields": [swap(f) for f in options["fields"]]}) for title, options in fieldsets
    ]


def _sample_link(url: str, file) -> str:
    return format_html('<a href="{}">{}</a>', url, posixpath.basename(file.name))


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

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "sample_file"]

    def get_fieldsets(self, request, obj=None):
        if obj is None or self.has_change_permission(request, obj):
            return super().get_fieldsets(request, obj)
        return _sample_shown_as_link(super().get_fieldsets(request, obj))

    @admin.display(description="header media")
    def sample_file(self, obj):
        if obj is None or not obj.pk or not obj.header_media:
            return "—"
        return _sample_link(header_sample_url(obj.pk), obj.header_media)

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
                "<int:template_id>/sample/header/",
                self.admin_site.admin_view(self.sample_view, cacheable=True),
                name="templates_app_messagetemplate_sample_header",
            ),
            path(
                "<int:template_id>/sample/card/<int:card_id>/",
                self.admin_site.admin_view(self.sample_view, cacheable=True),
                name="templates_app_messagetemplate_sample_card",
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

    def sample_view(self, request, template_id, card_id=None):
        """A saved sample file (the header's, or a card's): to staff who may view templates only.

        Sample files are under no public URL. As ``messaging.admin_media`` serves media, the answer
        cannot act in the admin's origin: the type its extension allows with ``nosniff``, a
        ``sandbox`` CSP, and ``inline`` only for images and video; anything else downloads.
        """
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if card_id is None:
            owner = MessageTemplate.objects.filter(pk=template_id).first()
        else:
            owner = TemplateCard.objects.filter(pk=card_id, template_id=template_id).first()
        file = owner.header_media if owner is not None else None
        if not file:
            raise Http404("This template has no such sample file.")
        try:
            handle = file.open("rb")
        except (FileNotFoundError, OSError) as exc:
            raise Http404("The sample file is missing from storage.") from exc
        name = posixpath.basename(file.name)
        mime = SAMPLE_TYPES.get(posixpath.splitext(name.lower())[1], "application/octet-stream")
        response = FileResponse(
            handle, content_type=mime, as_attachment=mime not in INLINE_SAMPLE_TYPES, filename=name
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        response["Cache-Control"] = "private"
        response["Vary"] = "Cookie"
        return response

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
                request,
                result.summary(),
                messages.WARNING if result.skipped_until or result.not_imported else messages.SUCCESS,
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
        if request.method == "POST" and request.FILES:
            _say_files_to_pick_again(request, context)
        return super().render_change_form(request, context, add, change, form_url, obj)


LOST_FILES_NOTE = "a browser can't keep picked files after an error."


def _say_files_to_pick_again(request, context) -> None:
    """After a failed save the page comes back without the files just picked (no browser re-fills
    a file input): name every one, in one message, where it has to be picked again."""
    form = context.get("adminform").form if context.get("adminform") else None
    if form is not None and "header_media" in request.FILES and "header_media" in form.fields:
        form.errors.setdefault("header_media", form.error_class()).append(
            f"Pick the header sample again: {LOST_FILES_NOTE}"
        )
    for inline in context.get("inline_admin_formsets", []):
        formset = inline.formset
        if not isinstance(formset, TemplateCardFormSet):
            continue
        numbers = [
            str(number)
            for number, card_form in enumerate(formset.forms, start=1)
            if f"{card_form.prefix}-header_media" in request.FILES
        ]
        if numbers:
            cards = numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} and {numbers[-1]}"
            noun = "picture" if len(numbers) == 1 else "pictures"
            which = "card" if len(numbers) == 1 else "cards"
            formset.non_form_errors().append(f"Pick the {noun} of {which} {cards} again: {LOST_FILES_NOTE}")
