"""Sending an approved template from a contact's page: choose and fill in, then confirm what goes.

A mixin of the message log's admin (its URL lives there). Nothing is queued before the confirm
POST, and that POST carries a confirmation this server signed, checked again in full.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from contacts.models import Contact, Purpose
from contacts.selectors import current_consent
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.forms import (
    ChooseTemplateForm,
    Confirmation,
    ConfirmationRefused,
    TemplateParametersForm,
    read_confirmation,
)
from messaging.models import MessageKind, OutboundMessage
from messaging.sending.quiet_hours import quiet_hours_verdict
from messaging.sending.rules import consent_verdict, send_time_verdict, template_purpose, window_open
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate
from templates_app.preview import render_bubble
from templates_app.sending import sendability


class SendTemplateMixin:
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
        if contact.merged_into_id is not None:
            survivor = contact.merged_into
            self.message_user(
                request,
                f"{contact} was merged into {survivor} (#{survivor.pk}), who stands for this person now: "
                "send to that contact.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[survivor.pk]))
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
        template = MessageTemplate.objects.filter(pk=template_id).first() if is_id(str(template_id)) else None
        if template is None:
            return "Choose an approved template; nothing was sent."
        return f"{sendability(template).reason} Nothing was sent."
