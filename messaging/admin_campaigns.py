"""The campaign admin: the list, the draft's form, the read-only page of everything else.

A draft is edited on its change form; saving goes through ``campaign_create`` /
``campaign_update`` and a refusal lands on the field the service names. From submission on the
page is read-only (it says why) and shows the workflow's buttons for whoever may press them, the
preview, and the transition log as a timeline. The process steps — preview, excluded contacts,
test send, submit/approve/… — are the views of ``messaging.admin_campaign_views``. Campaigns are
never deleted: the messages sent point at them.
"""

import json

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.admin_campaign_notices import CampaignNoticesMixin
from messaging.admin_campaign_preview import figures_cell
from messaging.admin_campaign_results import CampaignResultsMixin
from messaging.admin_campaign_views import CampaignViewsMixin
from messaging.campaign_models import Campaign, CampaignStatus, HeaderMediaSource, ScheduleKind
from messaging.campaigns.bindings import Slot, binding_leaves, template_slots
from messaging.campaigns.languages import campaign_content
from messaging.campaigns.readiness import due_at, first_send_at
from messaging.forms_campaigns import CampaignForm

S = CampaignStatus


class AwaitingApprovalFilter(admin.SimpleListFilter):
    """The Approvers' queue: awaiting approval and not authored by the viewer."""

    title = "queue"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("me", "Awaiting my approval")] if request.user.has_perm("messaging.approve_campaign") else []

    def queryset(self, request, queryset):
        if self.value() != "me":
            return queryset
        return (
            queryset.filter(status=S.PENDING_APPROVAL)
            .exclude(authors__user=request.user)
            .exclude(created_by=request.user)
        )


EDIT_FIELDSETS = [
    (None, {"fields": ["name", "template", "segment"]}),
    (
        "Variables",
        {
            "fields": ["bindings"],
            "description": "Each variable of the template, and each button that takes a value, gets its "
            "value from a contact field, a custom field or a fixed text; a fallback fills in when a "
            "contact's value is empty (without one, such contacts are left out and counted in the preview).",
        },
    ),
    (
        "Header media",
        {
            "fields": ["header_media_source", "header_media_link", "header_media_file"],
            "classes": ["campaign-media"],
            "description": "Only for a template with an image, video or document header: a public https "
            "link, or a file uploaded to WhatsApp (uploaded again before sending when WhatsApp's copy "
            "has expired).",
        },
    ),
    (
        "Sending",
        {
            "fields": ["schedule_kind", "send_at", "local_date", "local_time", "latest_send_at", "rate_cap"],
            "classes": ["campaign-schedule"],
        },
    ),
]
READ_FIELDSETS = [
    (None, {"fields": ["name", "status_explained", "template_shown", "segment_shown", "purpose_shown"]}),
    ("Variables", {"fields": ["bindings_shown", "header_media_shown"]}),
    ("Sending", {"fields": ["schedule_shown", "rate_cap_shown"]}),
    (
        "Who and when",
        {
            "fields": [
                "created_shown",
                "authors_shown",
                "submitted_at",
                "approved_shown",
                "started_at",
                "finished_at",
            ]
        },
    ),
]
READ_FIELDS = [name for _, options in READ_FIELDSETS for name in options["fields"]]

SOURCE_WORDS = {"field": "contact field", "attribute": "custom field", "literal": "text"}


@admin.register(Campaign)
class CampaignAdmin(CampaignNoticesMixin, CampaignResultsMixin, CampaignViewsMixin, admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "status_badge", "template_name", "segment", "schedule", "figures", "updated_at"]
    list_filter = [AwaitingApprovalFilter, "status"]
    list_select_related = ["template", "segment"]
    search_fields = ["name"]
    date_hierarchy = None
    change_form_template = "admin/messaging/campaign/change_form.html"
    change_list_template = "admin/messaging/campaign/change_list.html"

    class Media:
        css = {"all": ["templates_app/preview.css", "messaging/campaign.css"]}

    # --- who may do what ------------------------------------------------------------------------

    def has_change_permission(self, request, obj=None):
        """Only a draft changes: from submission on, an Approver approves what they read."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == S.DRAFT)

    def has_delete_permission(self, request, obj=None):
        # Messages point at their campaign, and the transition log is evidence: cancel instead.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _can_edit(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj else self.has_add_permission(request)

    def get_fieldsets(self, request, obj=None):
        return EDIT_FIELDSETS if self._can_edit(request, obj) else READ_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        return [] if self._can_edit(request, obj) else READ_FIELDS

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not self._can_edit(request, obj):
            kwargs["form"] = forms.ModelForm  # the page shows read-only fields only
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = Actor.for_user(request.user)
        return form

    # --- saving through the services -------------------------------------------------------------

    def save_form(self, request, form, change):
        return form.saved if getattr(form, "saved", None) is not None else form.instance

    def save_model(self, request, obj, form, change):
        """Written already: the form's check *is* the service (``CampaignForm``)."""

    def save_related(self, request, form, formsets, change):
        """No related rows are edited here (authors and transitions are the workflow's)."""

    # --- the list -------------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("template", "segment", "approved_by")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        label = obj.get_status_display()
        if obj.status == S.APPROVED:
            label = "Scheduled" if _scheduled(obj) else "Approved — due"
        return format_html('<span class="campaign-status campaign-status-{}">{}</span>', obj.status, label)

    @admin.display(description="template", ordering="template__name")
    def template_name(self, obj):
        return f"{obj.template.name} ({obj.template.language})"

    @admin.display(description="schedule")
    def schedule(self, obj):
        return schedule_text(obj)

    @admin.display(description="will receive / excluded (when counted)")
    def figures(self, obj):
        return figures_cell(obj)

    # --- the read-only page ---------------------------------------------------------------------

    @admin.display(description="status")
    def status_explained(self, obj):
        return status_explanation(obj)

    @admin.display(description="template")
    def template_shown(self, obj):
        try:
            languages = sorted(campaign_content(obj).languages)
        except (ApplicationError, KeyError):
            languages = [obj.template.language]
        others = [code for code in languages if code != obj.template.language]
        return format_html(
            "{} — default language {}{}",
            obj.template.name,
            obj.template.language,
            f"; also sent in {', '.join(others)}" if others else "",
        )

    @admin.display(description="segment")
    def segment_shown(self, obj):
        if obj.segment_version_id:
            return format_html("{} — version {} frozen at approval", obj.segment, obj.segment_version.version)
        return format_html("{} (current rules; frozen at approval)", obj.segment)

    @admin.display(description="purpose")
    def purpose_shown(self, obj):
        return f"{Purpose(obj.purpose).label} consent needed" if obj.purpose in Purpose.values else "—"

    @admin.display(description="bindings")
    def bindings_shown(self, obj):
        rows = binding_rows(obj)
        if not rows:
            return "None (the template takes no values)."
        return format_html(
            '<table class="campaign-bindings-table"><tr><th>variable</th><th>from</th><th>value</th>'
            "<th>fallback</th><th>format</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="header media")
    def header_media_shown(self, obj):
        if obj.header_media_source == HeaderMediaSource.LINK:
            return obj.header_media_link
        if obj.header_media_source == HeaderMediaSource.UPLOAD:
            uploaded = (
                f", uploaded to WhatsApp {timezone.localtime(obj.header_media_uploaded_at):%Y-%m-%d %H:%M}"
                if obj.header_media_uploaded_at
                else ", not uploaded to WhatsApp yet"
            )
            name = obj.header_media_file.name.rsplit("/", 1)[-1]
            return f"{name} ({obj.header_media_mime or 'type unknown'}){uploaded}"
        return "—"

    @admin.display(description="schedule")
    def schedule_shown(self, obj):
        return schedule_text(obj, long=True)

    @admin.display(description="rate cap")
    def rate_cap_shown(self, obj):
        return f"{obj.rate_cap} messages per second at most" if obj.rate_cap else "The global rate."

    @admin.display(description="created")
    def created_shown(self, obj):
        return format_html(
            "{} by {}",
            timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M"),
            user_label(obj.created_by),
        )

    @admin.display(description="authors (none of them may approve it)")
    def authors_shown(self, obj):
        names = [user_label(a.user) for a in obj.authors.select_related("user").order_by("first_at")]
        return ", ".join(names) or "—"

    @admin.display(description="approved")
    def approved_shown(self, obj):
        if not obj.approved_at:
            return "—"
        return f"{timezone.localtime(obj.approved_at):%Y-%m-%d %H:%M} by {user_label(obj.approved_by)}"


def user_label(user) -> str:
    return user.get_username() if user is not None else "—"


def binding_rows(campaign: Campaign) -> list[tuple[str, str, str, str, str]]:
    """The bindings table's rows: every value the campaign's template takes, in the template's
    order (the default language's, then any other language adds), with where it comes from —
    "not bound" when nothing fills it — then any binding the template does not use.

    The Approver approves what they read, so a carousel's card links, card texts and link
    suffixes, an offer's end and a location's parts are listed as the body's variables are. The
    content is the frozen one from approval on (``campaign_content``). Cells are plain text: the
    table escapes them, whatever the stored document holds.
    """
    try:
        content = campaign_content(campaign)
        languages, bindings = content.languages, content.bindings
        order = sorted(languages, key=lambda code: (code != content.default_language, code))
    except (ApplicationError, KeyError, TypeError, AttributeError):
        languages, bindings, order = {}, campaign.bindings, []
    slots: dict[tuple[str, str], tuple[Slot, list[str]]] = {}
    for code in order:
        for slot in template_slots(languages[code].components):
            slots.setdefault((slot.section, slot.name), (slot, []))[1].append(code)
    rows = []
    for slot, codes in slots.values():
        label = _capital(slot.label)
        if len(order) > 1 and len(codes) < len(order):
            label += f" (only in {', '.join(codes)})"
        rows.append(_binding_row(label, _binding_at(bindings, slot.path), optional=slot.optional))
    for leaf in binding_leaves(bindings)[0]:
        if (leaf.section, leaf.name) not in slots:
            rows.append(_binding_row(f"{_leaf_label(leaf)} — not in the template, not sent", leaf.entry))
    return rows


def _binding_at(bindings, path: tuple[str, ...]):
    """The entry stored at ``path`` (``Slot.path``), or None when nothing is."""
    node = bindings
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _binding_row(label: str, entry, *, optional: bool = False) -> tuple[str, str, str, str, str]:
    if entry is None:
        return (label, "not bound", "left out of the message" if optional else "—", "—", "—")
    if not isinstance(entry, dict):
        return (label, "not a binding", _cell(entry), "—", "—")
    source = _cell(entry.get("source"))
    return (
        label,
        SOURCE_WORDS.get(source, source),
        _cell(entry.get("value")),
        _cell(entry.get("fallback")) or "—",
        _cell(entry.get("format")) or "as is",
    )


def _leaf_label(leaf) -> str:
    if leaf.section == "buttons":  # a stray button's kind is unknown: not "link suffix" nor "code"
        return f"Button {int(leaf.name) + 1}"
    return _capital(Slot(leaf.section, leaf.name, "text").label)


def _cell(value) -> str:
    """A stored value as text: as it is when it is a text, else its JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def schedule_text(campaign: Campaign, *, long: bool = False) -> str:
    """When it goes, in the shop's time zone (and, for local time, on whose clock)."""
    kind = campaign.schedule_kind
    if kind == ScheduleKind.AT and campaign.send_at:
        text = f"at {timezone.localtime(campaign.send_at):%Y-%m-%d %H:%M}"
    elif kind == ScheduleKind.LOCAL and campaign.local_date and campaign.local_time:
        text = f"{campaign.local_date:%Y-%m-%d} {campaign.local_time:%H:%M} on each recipient's clock"
        if long:
            start = first_send_at(campaign)
            text += f" (the first clocks reach it at {timezone.localtime(start):%Y-%m-%d %H:%M} here)"
    elif kind == ScheduleKind.NOW:
        text = "as soon as it is approved"
    else:
        text = "not set yet"
    if campaign.status in (S.APPROVED, S.PAUSED):
        start = due_at(campaign)
        if start is not None:
            text += (
                f"; due {timezone.localtime(start):%Y-%m-%d %H:%M}" if start > timezone.now() else "; due now"
            )
    if campaign.latest_send_at:
        text += f"; not after {timezone.localtime(campaign.latest_send_at):%Y-%m-%d %H:%M}"
    return text


def status_explanation(campaign: Campaign):
    """The status in words, with why the page is read-only and what happens next."""
    status = campaign.status
    reason = campaign.status_reason
    if status == S.DRAFT:
        text = "Editors change it here; submit it when it is complete."
    elif status == S.PENDING_APPROVAL:
        text = (
            "Read-only, so the Approver approves exactly what they read. An Approver who is not among "
            "its authors approves or rejects it; an Editor may withdraw it to edit it."
        )
    elif status == S.APPROVED:
        start = due_at(campaign)
        if start is not None and start > timezone.now():
            text = (
                f"Scheduled: it starts {timezone.localtime(start):%Y-%m-%d %H:%M}. "
                "Read-only: what was approved is frozen."
            )
        else:
            text = (
                "Due: it starts as soon as the dispatcher picks it up. "
                "Read-only: what was approved is frozen."
            )
    elif status == S.SENDING:
        text = "Read-only. It can be paused or cancelled."
    elif status == S.PAUSED:
        was = S(campaign.paused_from).label.lower() if campaign.paused_from else "approved"
        text = f"It was {was}; an Approver resumes or cancels it."
    elif status == S.COMPLETED:
        text = "Nothing is queued or sending any more. Duplicate it to send it again."
    else:
        text = "Nothing more is sent. Duplicate it to send it again."
    if reason:
        return format_html("<strong>{}</strong> — {}<br><em>Why: {}</em>", S(status).label, text, reason)
    return format_html("<strong>{}</strong> — {}", S(status).label, text)


def _scheduled(campaign) -> bool:
    start = due_at(campaign)
    return start is not None and start > timezone.now()
