import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Length
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from contacts.admin import contact_link
from contacts.models import Contact, Purpose
from contacts.selectors import current_consent
from core.actors import Actor
from core.admin_tools import EstimatedCountPaginator, ReadOnlyAdminMixin
from core.errors import ApplicationError
from messaging.forms import (
    ChooseTemplateForm,
    Confirmation,
    ConfirmationRefused,
    TemplateParametersForm,
    read_confirmation,
)
from messaging.models import (
    InboundMessage,
    MessageKind,
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
from messaging.sending.rules import (
    consent_verdict,
    quiet_hours_verdict,
    send_time_verdict,
    template_purpose,
    window_open,
)
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate
from templates_app.preview import render_bubble
from templates_app.sending import sendability


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
class OutboundMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
            "<table><tr><th>received</th><th>status</th><th>WhatsApp's time</th><th></th>"
            "<th>pricing</th></tr>{}</table>",
            rows,
        )

    # --- Sending an approved template from a contact's page ---------------------------------
    def get_urls(self):
        return [
            path(
                "send-template/<int:contact_id>/",
                self.admin_site.admin_view(self.send_template_view),
                name="messaging_send_template",
            ),
            *super().get_urls(),
        ]

    def send_template_view(self, request, contact_id):
        """Two steps, so nothing goes out unseen: (1) choose an approved template and fill in every
        value, the fields empty (a template's samples are not anyone's values); (2) read the
        message as this contact will, with what the send-time rules say now, then Send or Back.

        Only the confirmation queues the message, through ``send_message``. The confirm page
        carries a signed ``Confirmation``, and the confirmation POST is checked again here: the
        same user, contact and template, the version still the approved one, the values valid.
        """
        if not request.user.has_perm("messaging.send_template_message"):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        choose = ChooseTemplateForm(request.GET or None)
        template = choose.cleaned_data["template"] if choose.is_valid() else None
        if template is None:
            refusal = self._not_sendable(request.GET.get("template")) if request.method == "POST" else ""
            return self._send_form_page(request, contact, choose, None, None, refusal)
        version = template.approved_version
        if request.method != "POST":
            return self._send_form_page(
                request, contact, choose, template, TemplateParametersForm(version=version)
            )
        if "_send" not in request.POST and "_back" not in request.POST:
            form = TemplateParametersForm(request.POST, version=version)
            if not form.is_valid():
                return self._send_form_page(request, contact, choose, template, form)
            confirmation = Confirmation(
                user_id=request.user.pk,
                contact_id=contact.pk,
                template_id=template.pk,
                version_id=version.pk,
                values={name: form.cleaned_data[name] for name in form.fields},
            )
            return self._send_confirm_page(request, contact, template, form, confirmation)

        # Back or Send: a confirmation this server signed, for this user, contact and template.
        sending = "_send" in request.POST
        try:
            confirmation = read_confirmation(request.POST.get("confirmation", ""), expires=sending)
            if confirmation.user_id != request.user.pk:
                raise ConfirmationRefused(
                    "This confirmation was made by someone else, so nothing was sent. Check the message "
                    "yourself."
                )
            if confirmation.contact_id != contact.pk or confirmation.template_id != template.pk:
                raise ConfirmationRefused(
                    "This confirmation was made for another contact or template, so nothing was sent."
                )
        except ConfirmationRefused as exc:
            form = TemplateParametersForm(initial=exc.values, version=version)
            return self._send_form_page(request, contact, choose, template, form, exc.message)
        if not sending:
            form = TemplateParametersForm(initial=confirmation.values, version=version)
            return self._send_form_page(request, contact, choose, template, form)
        if confirmation.version_id != version.pk:
            form = TemplateParametersForm(initial=confirmation.values, version=version)
            refusal = (
                f"The approved content of “{template}” changed since your preview (it is version "
                f"{version.number} now), so nothing was sent. Check the values against it again."
            )
            return self._send_form_page(request, contact, choose, template, form, refusal)
        form = TemplateParametersForm(confirmation.values, version=version)
        if not form.is_valid():
            refusal = "These values no longer fit the template, so nothing was sent."
            return self._send_form_page(request, contact, choose, template, form, refusal)
        # One message per confirmation, whoever double-clicks: the confirmation's nonce is the
        # message's idempotency key, unique in the database.
        key = f"admin-send:{confirmation.nonce}"
        if OutboundMessage.objects.filter(idempotency_key=key).exists():
            self.message_user(
                request, "This message was already queued from this confirmation.", messages.WARNING
            )
            return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))
        try:
            message = send_message(
                contact=contact,
                actor=Actor.for_user(request.user),
                template=template,
                parameters=form.parameters,
                idempotency_key=key,
            )
        except ApplicationError as exc:
            return self._send_confirm_page(request, contact, template, form, confirmation, exc.message)
        self.message_user(request, f"Queued “{template}” for {contact}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:messaging_outboundmessage_change", args=[message.pk]))

    def _send_form_page(self, request, contact, choose, template, form, refusal=""):
        # The approved content with its variables showing ({{1}}), never its samples.
        bubble = render_bubble(components=template.approved_version.components) if template else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": Contact._meta,
            "contact": contact,
            "choose": choose,
            "template": template,
            "form": form,
            "template_bubble": bubble,
            "refusal": refusal,
            "title": f"Send a template to {contact}",
        }
        return TemplateResponse(request, "admin/messaging/send_template.html", context)

    def _send_confirm_page(self, request, contact, template, form, confirmation, refusal=""):
        version = template.approved_version
        checks, verdict = self._send_checks(contact, template, version, form.parameters)
        context = {
            **self.admin_site.each_context(request),
            "opts": Contact._meta,
            "contact": contact,
            "template": template,
            "version": version,
            "bubble": render_bubble(components=version.components, parameters=form.parameters),
            "values": [(form[name].label, form.cleaned_data[name]) for name in form.fields],
            "checks": checks,
            "verdict": verdict,
            "can_send": not verdict.skipped,
            "confirmation": confirmation.sign(),
            "refusal": refusal,
            "title": f"Check and send “{template}” to {contact}",
        }
        return TemplateResponse(request, "admin/messaging/send_template_confirm.html", context)

    @staticmethod
    def _send_checks(contact, template, version, parameters):
        """What the send-time rules say now about this message, read-only: the same selector the
        dispatcher asks when it claims the message (it asks again then, so an opt-out wins)."""
        now = timezone.now()
        purpose = template_purpose(version.category, template.category)
        unsaved = OutboundMessage(
            contact=contact,
            kind=MessageKind.TEMPLATE,
            template_version=version,
            parameters=parameters,
            purpose=purpose,
        )
        checks = []
        consent = consent_verdict(contact_id=contact.pk, purpose=purpose)
        if consent.go:
            since = timezone.localtime(current_consent(contact=contact, purpose=purpose).since)
            checks.append(("Consent", "ok", f"Opted in to {purpose} messages since {since:%Y-%m-%d %H:%M}."))
        else:
            checks.append(("Consent", "no", consent.detail))
        if window_open(contact, now):
            checks.append(
                ("24-hour window", "ok", f"{contact}'s window is open: they wrote in the last 24 hours.")
            )
        else:
            checks.append(
                (
                    "24-hour window",
                    "info",
                    f"{contact}'s window is closed: only an approved template can reach them, as this "
                    "one does, and it counts towards the messaging limit.",
                )
            )
        if purpose == Purpose.MARKETING:
            quiet = quiet_hours_verdict(contact, now)
            if quiet.go:
                checks.append(("Quiet hours", "ok", "Inside the sending hours at the recipient."))
            elif quiet.held:
                until = timezone.localtime(quiet.until)
                checks.append(
                    ("Quiet hours", "wait", f"{quiet.detail} It would wait until {until:%Y-%m-%d %H:%M}.")
                )
            else:
                checks.append(("Quiet hours", "no", quiet.detail))
        else:
            checks.append(("Quiet hours", "info", "Quiet hours apply to marketing messages only."))
        return checks, send_time_verdict(unsaved, now)

    @staticmethod
    def _not_sendable(template_id) -> str:
        template = (
            MessageTemplate.objects.filter(pk=template_id).first() if str(template_id).isdigit() else None
        )
        if template is None:
            return "Choose an approved template; nothing was sent."
        return f"{sendability(template).reason} Nothing was sent."


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
