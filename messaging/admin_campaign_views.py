"""The campaign admin's process steps: preview, excluded contacts, test send, workflow buttons.

Each is a custom admin view (``get_urls`` + ``admin_site.admin_view``) that checks the viewer's
permission again and calls one service (``messaging.campaigns.*``); a refusal is shown with its
message, never a 500. The workflow buttons are POST forms with the admin's CSRF token; which ones
a viewer sees is decided here (``workflow_buttons``), and the service decides again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.models import AttributeDefinition
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.admin_campaign_preview import (
    COUNTED_STATUSES,
    count_preview_later,
    excluded_list,
    kept_preview,
    preview_context,
    reason_label,
)
from messaging.campaign_models import Campaign, CampaignStatus, CampaignTransition
from messaging.campaigns.bindings import BINDABLE_FIELDS, template_slots
from messaging.campaigns.eligibility import campaign_members
from messaging.campaigns.four_eyes import campaign_fingerprint
from messaging.campaigns.languages import campaign_content, campaign_template_check, template_languages
from messaging.campaigns.personalise import campaign_bubble
from messaging.campaigns.preview import sample_recipients
from messaging.campaigns.readiness import campaign_readiness, due_at, media_formats
from messaging.campaigns.test_send import campaign_test_send
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_cancel,
    campaign_duplicate,
    campaign_pause,
    campaign_reject,
    campaign_resume,
    campaign_submit,
    campaign_withdraw,
)
from messaging.forms_campaigns import (
    MEMBERS_SHOWN,
    CommentForm,
    TestSendForm,
    approved_templates,
    member_search,
)

S = CampaignStatus
VIEW, ADD, CHANGE = "messaging.view_campaign", "messaging.add_campaign", "messaging.change_campaign"
SUBMIT, APPROVE = "messaging.submit_campaign", "messaging.approve_campaign"
PAUSE, RESUME, TEST_SEND = (
    "messaging.pause_campaign",
    "messaging.resume_campaign",
    "messaging.test_send_campaign",
)
BUBBLES_SHOWN = 3
EXCLUDED_PER_PAGE = 50

FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "phone": "Phone number",
    "country": "Country",
    "language": "Language",
}
FORMATS = [
    ("", "as it is"),
    ("upper", "UPPER CASE"),
    ("lower", "lower case"),
    ("title", "Title Case"),
    ("date:", "a date, formatted"),
]


@dataclass(frozen=True)
class Step:
    """One workflow button: the action's name in the URL, its label, and whether it asks why."""

    action: str
    label: str
    comment: str = ""  # "" no comment; "required" or "optional"
    danger: bool = False
    help: str = ""
    # Approve and Reject post what the Approver read (``four_eyes.campaign_fingerprint``).
    fingerprint: str = ""


def is_author(user, campaign: Campaign) -> bool:
    return campaign.created_by_id == user.pk or campaign.authors.filter(user=user).exists()


def workflow_buttons(user, campaign: Campaign) -> tuple[list[Step], list[str]]:
    """The buttons this viewer may press now, and notes on the ones they might expect but lack."""
    steps, notes = [], []
    status = campaign.status
    if status == S.DRAFT and user.has_perm(SUBMIT):
        steps.append(
            Step("submit", "Submit for approval", help="Checks it is complete; then it is read-only.")
        )
    if status == S.PENDING_APPROVAL:
        if user.has_perm(APPROVE):
            if is_author(user, campaign):
                notes.append(
                    "You are among its authors (you created, edited or submitted it), so you cannot approve "
                    "or reject it: another Approver does (four eyes)."
                )
            else:
                read = campaign_fingerprint(campaign)
                steps.append(
                    Step(
                        "approve",
                        "Approve",
                        help="Freezes the template, the bindings and the segment's rules.",
                        fingerprint=read,
                    )
                )
                steps.append(
                    Step(
                        "reject",
                        "Reject",
                        comment="required",
                        danger=True,
                        help="Back to draft with your comment.",
                        fingerprint=read,
                    )
                )
        if user.has_perm(SUBMIT):
            steps.append(
                Step("withdraw", "Withdraw to edit", help="Back to draft; submit it again after editing.")
            )
    if user.has_perm(PAUSE) and (status == S.SENDING or (status == S.APPROVED and user.has_perm(RESUME))):
        steps.append(Step("pause", "Pause", comment="optional"))
    if status == S.PAUSED and user.has_perm(RESUME):
        steps.append(Step("resume", "Resume"))
    if status not in (S.COMPLETED, S.CANCELLED) and user.has_perm(RESUME):
        steps.append(
            Step("cancel", "Cancel campaign", comment="optional", danger=True, help="Nothing more is sent.")
        )
    if user.has_perm(ADD):
        steps.append(Step("duplicate", "Duplicate", help="A new draft with the same settings."))
    return steps, notes


def _actions():
    """Action name → (permission, service, what the message says). Built lazily for patching in tests.

    Each service takes the campaign, the actor, the comment and the fingerprint posted with the
    button: Approve and Reject pass it on (missing is "", which the service refuses: through the
    admin a verdict is always about the page that was read)."""
    return {
        "submit": (
            SUBMIT,
            lambda c, a, comment, read: campaign_submit(campaign=c, actor=a),
            "submitted for approval",
        ),
        "withdraw": (
            SUBMIT,
            lambda c, a, comment, read: campaign_withdraw(campaign=c, actor=a),
            "withdrawn to draft",
        ),
        "approve": (
            APPROVE,
            lambda c, a, comment, read: campaign_approve(campaign=c, actor=a, expected=read),
            "approved",
        ),
        "reject": (
            APPROVE,
            lambda c, a, comment, read: campaign_reject(campaign=c, actor=a, comment=comment, expected=read),
            "rejected: back to draft with your comment",
        ),
        "pause": (
            PAUSE,
            lambda c, a, comment, read: campaign_pause(campaign=c, actor=a, reason=comment),
            "paused",
        ),
        "resume": (RESUME, lambda c, a, comment, read: campaign_resume(campaign=c, actor=a), "resumed"),
        "cancel": (
            RESUME,
            lambda c, a, comment, read: campaign_cancel(campaign=c, actor=a, reason=comment),
            "cancelled",
        ),
        "duplicate": (
            ADD,
            lambda c, a, comment, read: campaign_duplicate(campaign=c, actor=a),
            "duplicated",
        ),
    }


def timeline(campaign: Campaign) -> list[CampaignTransition]:
    return list(campaign.transitions.order_by("occurred_at", "id"))


class CampaignViewsMixin:
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "template-variables/", view(self.template_variables_view), name="messaging_campaign_variables"
            ),
            path("<int:campaign_id>/preview/", view(self.preview_view), name="messaging_campaign_preview"),
            path(
                "<int:campaign_id>/excluded/<str:reason>/",
                view(self.excluded_view),
                name="messaging_campaign_excluded",
            ),
            path(
                "<int:campaign_id>/test-send/", view(self.test_send_view), name="messaging_campaign_test_send"
            ),
            path(
                "<int:campaign_id>/do/<str:action>/", view(self.workflow_view), name="messaging_campaign_do"
            ),
            *super().get_urls(),
        ]

    # --- helpers ----------------------------------------------------------------------------------

    def _campaign(self, request, campaign_id) -> Campaign:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Campaign.objects.select_related("template", "segment"), pk=campaign_id)

    def _context(self, request, campaign, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "campaign": campaign,
            "title": title,
            **extra,
        }

    def _back(self, campaign) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:messaging_campaign_change", args=[campaign.pk]))

    # --- the change form's extra context ------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["bindings_editor"] = self._editor_config(request) if self._can_edit(request, obj) else None
        if obj is not None:
            steps, notes = workflow_buttons(request.user, obj)
            context.update(
                workflow_steps=steps,
                workflow_notes=notes,
                timeline=timeline(obj),
                may_test_send=request.user.has_perm(TEST_SEND),
                preview_url=reverse("admin:messaging_campaign_preview", args=[obj.pk]),
            )
            if obj.status in COUNTED_STATUSES:
                # The figures last counted (a million contacts take many seconds): with their time.
                context["preview"] = kept_preview(obj)
                context["show_preview"] = True
            if obj.status == S.DRAFT and request.user.has_perm(SUBMIT):
                # What submitting would refuse, said before anyone presses the button.
                context["missing"] = [p.message for p in campaign_readiness(obj).problems]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _editor_config(self, request) -> dict:
        return {
            "variablesUrl": reverse("admin:messaging_campaign_variables"),
            "fields": [[name, FIELD_LABELS.get(name, name)] for name in BINDABLE_FIELDS],
            "attributes": [
                [key, f"{label or key} ({kind})"]
                for key, label, kind in AttributeDefinition.objects.order_by("key").values_list(
                    "key", "label", "type"
                )
            ],
            "formats": FORMATS,
        }

    # --- the bindings editor's variables --------------------------------------------------------------

    def template_variables_view(self, request):
        """GET ``?template=<id>`` → the values the template takes in each of its approved languages,
        its header's media kind, and any reason a campaign cannot use it (categories that differ)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        raw = request.GET.get("template", "")
        template = approved_templates().filter(pk=int(raw)).first() if is_id(raw) else None
        if template is None:
            return JsonResponse({"error": "Choose an approved template."}, status=404)
        languages = template_languages(template)
        problem = ""
        try:
            campaign_template_check(template)
        except ApplicationError as exc:
            problem = exc.message
        slots: dict[tuple[str, str], dict] = {}
        for code, row in sorted(languages.items()):
            for slot in template_slots(row.approved_version.components):
                entry = slots.setdefault(
                    (slot.section, slot.name),
                    {
                        "section": slot.section,
                        "name": slot.name,
                        "kind": slot.kind,
                        "label": slot.label,
                        "sample": slot.sample,
                        "languages": [],
                    },
                )
                entry["languages"].append(code)
        kinds = sorted({kind for kind in media_formats(languages).values() if kind})
        return JsonResponse(
            {
                "default": template.language,
                "languages": sorted(languages),
                "slots": list(slots.values()),
                "media": kinds[0] if len(kinds) == 1 else "",
                "problem": problem,
            }
        )

    # --- preview ----------------------------------------------------------------------------------

    def preview_view(self, request, campaign_id):
        """Who will and will not receive it (and why), when, how long it takes, and the message as a
        few real recipients — or any member picked by phone or name — will read it."""
        campaign = self._campaign(request, campaign_id)
        members = campaign_members(campaign)
        query = request.GET.get("q", "").strip()[:100]
        found = list(member_search(members, query)[:MEMBERS_SHOWN]) if query else []
        chosen, chosen_error = None, ""
        raw = request.GET.get("contact", "")
        if raw:
            contact = members.filter(pk=int(raw)).first() if is_id(raw) else None
            if contact is None:
                chosen_error = "That contact is not a member of the campaign's segment."
            else:
                chosen = (contact, self._bubble(campaign, contact), self._language(campaign, contact))
        bubbles = [
            (c, self._bubble(campaign, c), c.send_language)
            for c in sample_recipients(campaign, BUBBLES_SHOWN)
        ]
        steps, notes = workflow_buttons(request.user, campaign)
        context = self._context(
            request,
            campaign,
            f"Preview of “{campaign}”",
            preview=preview_context(campaign),
            bubbles=bubbles,
            sample_bubble=self._bubble(campaign, None),
            query=query,
            found=found,
            searched=bool(query),
            chosen=chosen,
            chosen_error=chosen_error,
            workflow_steps=steps,
            workflow_notes=notes,
            may_test_send=request.user.has_perm(TEST_SEND),
        )
        return TemplateResponse(request, "admin/messaging/campaign/preview.html", context)

    @staticmethod
    def _language(campaign, contact) -> str:
        try:
            return campaign_content(campaign).language_for_contact(contact.language)
        except ApplicationError:
            return ""

    @staticmethod
    def _bubble(campaign, contact) -> str:
        try:
            return campaign_bubble(campaign, contact=contact)
        except ApplicationError as exc:
            return format_html('<p class="errornote">{}</p>', exc.message)

    def excluded_view(self, request, campaign_id, reason):
        """The contacts left out for one reason, paginated, each a link to their page."""
        campaign = self._campaign(request, campaign_id)
        label = reason_label(reason)
        if label is None:
            raise Http404("No such reason.")
        paginator = Paginator(excluded_list(campaign, reason), EXCLUDED_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        context = self._context(
            request, campaign, f"“{campaign}”: excluded — {label}", reason=reason, label=label, page=page
        )
        return TemplateResponse(request, "admin/messaging/campaign/excluded.html", context)

    # --- test send --------------------------------------------------------------------------------

    def test_send_view(self, request, campaign_id):
        """Send the campaign's message to a staff test number, with sample values or as a member."""
        campaign = self._campaign(request, campaign_id)
        if not request.user.has_perm(TEST_SEND):
            raise PermissionDenied
        members = campaign_members(campaign)
        initial = {}
        member_id = request.GET.get("member", "")
        if is_id(member_id):
            initial = {"values": TestSendForm.MEMBER, "member": f"#{member_id}"}
        form = TestSendForm(request.POST or None, initial=initial, members=members)
        sent = None
        if request.method == "POST" and form.is_valid():
            try:
                sent = campaign_test_send(
                    campaign=campaign,
                    test_number=form.cleaned_data["test_number"],
                    actor=Actor.for_user(request.user),
                    member=form.cleaned_data["member_contact"],
                )
            except ApplicationError as exc:
                field = exc.field if exc.field in form.fields else None
                form.add_error(field, exc.message)
            else:
                self.message_user(
                    request,
                    f"Test message queued to {form.cleaned_data['test_number']}.",
                    messages.SUCCESS,
                )
        context = self._context(
            request,
            campaign,
            f"Send a test of “{campaign}”",
            form=form,
            sent=sent,
            sent_url=reverse("admin:messaging_outboundmessage_change", args=[sent.pk]) if sent else "",
            has_numbers=form.fields["test_number"].queryset.exists(),
        )
        return TemplateResponse(request, "admin/messaging/campaign/test_send.html", context)

    # --- workflow ---------------------------------------------------------------------------------

    def workflow_view(self, request, campaign_id, action):
        """One workflow step (POST): the permission checked again, the service called, the outcome
        reported. A refusal (wrong status, an author approving, someone faster) is a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        actions = _actions()
        if action not in actions:
            raise Http404("No such step.")
        campaign = self._campaign(request, campaign_id)
        perm, service, done = actions[action]
        if not request.user.has_perm(perm):
            raise PermissionDenied
        form = CommentForm(request.POST)
        comment = form.cleaned_data["comment"] if form.is_valid() else ""
        if not form.is_valid():
            self.message_user(request, "The comment is too long (at most 2,000 characters).", messages.ERROR)
            return self._back(campaign)
        try:
            read = request.POST.get("fingerprint", "")[:100]
            result = service(campaign, Actor.for_user(request.user), comment, read)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self._back(campaign)
        if action == "duplicate":
            self.message_user(request, f"“{campaign}” duplicated: this is the new draft.", messages.SUCCESS)
            return self._back(result)
        extra = ""
        if action == "submit":
            count_preview_later(result)  # for the Approvers' queue, in the background
        if action == "approve":
            start = due_at(result)
            extra = (
                f" It is scheduled for {timezone.localtime(start):%Y-%m-%d %H:%M}."
                if start and start > timezone.now()
                else " It is due now."
            )
        self.message_user(request, f"“{result}” {done}.{extra}", messages.SUCCESS)
        return self._back(result)
