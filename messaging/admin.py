import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Length
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from contacts.admin import contact_link
from core.actors import Actor
from core.admin_tools import EstimatedCountPaginator, ReadOnlyAdminMixin
from core.errors import ApplicationError
from messaging import (
    admin_campaigns,  # noqa: F401  (registers the campaign admin)
    admin_media,  # noqa: F401  (registers the media admin and its file view)
)
from messaging.admin_send import SendTemplateMixin
from messaging.models import (
    InboundMessage,
    MessageStatus,
    MessageStatusEvent,
    MessagingTier,
    OutboundMessage,
    SendAttempt,
    SendingHalt,
    WebhookEvent,
)
from messaging.sending.halt import (
    CLEAR_PERMISSION,
    HALT_PERMISSION,
    REASON_MAX_LENGTH,
    clear_halt,
    sending_halt_start,
)
from messaging.sending.review import message_mark_failed, message_resend
from templates_app.preview import render_bubble


class SendAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SendAttempt
    fields = [
        "number",
        "outcome",
        "wamid",
        "status",
        "error_code",
        "error_class",
        "error_text",
        "started_at",
        "finished_at",
        "reconcile_by",
    ]
    readonly_fields = fields
    extra = 0


@admin.register(OutboundMessage)
class OutboundMessageAdmin(SendTemplateMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The message log: every message, its attempts and its status timeline. Read-only."""

    # Status first after who and when: it is what staff look for; the rest fits beside it.
    list_display = ["created_at", "contact_link", "status", "template", "hold_reason", "purpose", "is_reply"]
    list_filter = ["status", "kind", "purpose", "is_reply", "needs_review", "hold_reason"]
    list_select_related = ["contact", "template_version__template"]
    search_fields = ["contact__phone", "=public_id", "=attempts__wamid"]
    date_hierarchy = "created_at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = [SendAttemptInline]
    actions = ["resend", "mark_failed"]

    class Media:
        css = {"all": ["templates_app/preview.css"]}

    def _review(self, request, queryset, service, done):
        count = 0
        for message in queryset.filter(status=MessageStatus.UNKNOWN):
            try:
                service(message=message, actor=Actor.for_user(request.user))
            except ApplicationError as exc:
                self.message_user(request, f"{message}: {exc.message}", messages.ERROR)
            else:
                count += 1
        skipped = queryset.exclude(status=MessageStatus.UNKNOWN).count()
        self.message_user(
            request, f"{count} message(s) {done}.", messages.SUCCESS if count else messages.WARNING
        )
        if skipped:
            self.message_user(
                request, f"{skipped} selected message(s) were not of unknown outcome.", messages.WARNING
            )

    @admin.action(description="Resend (outcome unknown: a new attempt)", permissions=["review"])
    def resend(self, request, queryset):
        self._review(request, queryset, message_resend, "queued again")

    @admin.action(description="Mark failed (outcome unknown)", permissions=["review"])
    def mark_failed(self, request, queryset):
        self._review(request, queryset, message_mark_failed, "marked failed")

    def has_review_permission(self, request):
        return request.user.has_perm("messaging.review_unknown_message")

    fieldsets = [
        (
            None,
            {"fields": ["public_id", "contact_link", "kind", "template", "purpose", "is_reply", "reply_to"]},
        ),
        ("Content", {"fields": ["rendered", "parameters_pretty"]}),
        ("Consent", {"fields": ["authorising_event"]}),
        (
            "State",
            {
                "fields": [
                    "status",
                    "hold_reason",
                    "next_attempt_at",
                    "attempt_count",
                    "needs_review",
                    "error_code",
                    "error_class",
                    "error_text",
                ]
            },
        ),
        (
            "Timeline",
            {
                "fields": [
                    "created_at",
                    "claimed_at",
                    "accepted_at",
                    "sent_at",
                    "delivered_at",
                    "read_at",
                    "failed_at",
                    "finished_at",
                    "status_history",
                ]
            },
        ),
        ("Sent by", {"fields": ["actor_kind", "actor_label"]}),
    ]
    readonly_fields = [f for _, options in fieldsets for f in options["fields"]]

    @admin.display(description="contact", ordering="contact")
    def contact_link(self, obj):
        return contact_link(obj.contact)

    @admin.display(description="template")
    def template(self, obj):
        version = obj.template_version
        return f"{version.template} v{version.number}" if version else "—"

    @admin.display(description="what the recipient reads")
    def rendered(self, obj):
        if obj.template_version_id:
            # The same renderer as the template editor's preview, with this message's parameters.
            return render_bubble(components=obj.template_version.components, parameters=obj.parameters)
        return format_html('<div style="white-space:pre-wrap;max-width:40em">{}</div>', obj.rendered_text)

    @admin.display(description="parameters")
    def parameters_pretty(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.parameters or obj.content, indent=2, ensure_ascii=False)
        )

    @admin.display(description="status history (as WhatsApp reported it)")
    def status_history(self, obj):
        events = MessageStatusEvent.objects.filter(attempt__message=obj).order_by("received_at", "id")
        if not events:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.received_at,
                    e.status,
                    e.meta_timestamp or "",
                    "applied" if e.applied else "history only",
                    (e.pricing or {}).get("category", ""),
                )
                for e in events
            ),
        )
        return format_html(
            "<table><tr><th>received</th><th>status</th><th>WhatsApp's time</th><th>effect</th>"
            "<th>pricing</th></tr>{}</table>",
            rows,
        )


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["sent_at", "contact_link", "type", "text", "in_reply_to"]
    list_filter = ["type"]
    list_select_related = ["contact", "in_reply_to"]
    search_fields = ["contact__phone", "text", "=wamid"]
    date_hierarchy = "sent_at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = [
        "wamid",
        "contact_link",
        "type",
        "text",
        "context_wamid",
        "in_reply_to",
        "sent_at",
        "received_at",
        "payload_pretty",
        "webhook_event",
    ]
    readonly_fields = fields

    @admin.display(description="contact", ordering="contact")
    def contact_link(self, obj):
        return contact_link(obj.contact)

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Raw webhook bodies exactly as received: read-only, pretty-printed."""

    list_display = ["received_at", "outcome", "size", "short_error"]
    list_filter = ["outcome"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ["received_at", "outcome", "processed_at", "attempts", "error", "signature", "body_pretty"]
    readonly_fields = fields

    def get_queryset(self, request):
        # The list shows sizes, not bodies (up to 3 MB each).
        return super().get_queryset(request).defer("body").annotate(body_size=Length("body"))

    @admin.display(description="bytes", ordering="body_size")
    def size(self, obj):
        return obj.body_size

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]

    @admin.display(description="body")
    def body_pretty(self, obj):
        raw = bytes(obj.body)
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
        return format_html("<pre>{}</pre>", text)


@admin.register(SendingHalt)
class SendingHaltAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """WhatsApp's account-level errors halt every send; Administrators and Approvers halt
    business-initiated sending by hand on the halt page (or from the banner on every admin page);
    an Administrator clears either there or with the list's action."""

    list_display = ["started_at", "active", "error_code", "started_by", "reason", "cleared_at", "cleared_by"]
    fields = [
        "started_at",
        "active",
        "error_code",
        "started_by",
        "reason",
        "message",
        "cleared_at",
        "cleared_by",
    ]
    readonly_fields = fields
    actions = ["clear"]

    def get_urls(self):
        return [
            path("halt/", self.admin_site.admin_view(self.halt_view), name="messaging_sendinghalt_halt"),
            path("clear/", self.admin_site.admin_view(self.clear_view), name="messaging_sendinghalt_clear"),
            *super().get_urls(),
        ]

    def halt_view(self, request):
        """The halt page: the active halt and its clear button, or the form that starts one."""
        may_halt = request.user.has_perm(HALT_PERMISSION)
        if not (may_halt or request.user.has_perm(CLEAR_PERMISSION)):
            raise PermissionDenied
        reason, error = "", None
        if request.method == "POST":
            if not may_halt:
                raise PermissionDenied
            reason = request.POST.get("reason", "")
            try:
                sending_halt_start(actor=Actor.for_user(request.user), reason=reason)
            except ApplicationError as exc:
                if exc.field != "reason":
                    self.message_user(request, exc.message, messages.ERROR)
                    return HttpResponseRedirect(request.path)
                error = exc.message
            else:
                self.message_user(
                    request,
                    "Sending halted: business-initiated messages wait until an Administrator clears the "
                    "halt; replies inside the 24-hour window still go.",
                    messages.WARNING,
                )
                return HttpResponseRedirect(self._back_to(request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Halt sending",
            "halt": SendingHalt.objects.filter(active=True).select_related("started_by").first(),
            "may_halt": may_halt,
            "may_clear": request.user.has_perm(CLEAR_PERMISSION),
            "reason": reason,
            "error": error,
            "reason_max_length": REASON_MAX_LENGTH,
            "hide_halt_control": True,
        }
        return TemplateResponse(request, "admin/messaging/sendinghalt/halt.html", context)

    def clear_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(CLEAR_PERMISSION):
            raise PermissionDenied
        self.clear(request, SendingHalt.objects.none())
        return HttpResponseRedirect(reverse("admin:messaging_sendinghalt_halt"))

    @staticmethod
    def _back_to(request) -> str:
        """The page the banner's form was posted from, if it is one of ours; else the halt page."""
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        return reverse("admin:messaging_sendinghalt_halt")

    @admin.action(description="Clear the halt and release held messages", permissions=["clear"])
    def clear(self, request, queryset):
        try:
            halt = clear_halt(actor=Actor.for_user(request.user))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, f"Sending resumed (halt since {halt.started_at:%Y-%m-%d %H:%M} cleared)."
            )

    def has_clear_permission(self, request):
        return request.user.has_perm("messaging.clear_sendinghalt")


@admin.register(MessagingTier)
class MessagingTierAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reported_at", "tier", "limit", "source"]
