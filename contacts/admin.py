import json
import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from contacts import selectors, services
from contacts.admin_bulk import ContactBulkMixin
from contacts.admin_filters import (
    ContactListFilter,
    ContactPaginator,
    CountryFilter,
    MarketingConsentFilter,
    MergedFilter,
    SegmentFilter,
    ServiceConsentFilter,
    audience_title,
)
from contacts.admin_merge import ContactMergeMixin
from contacts.forms import ALL_PURPOSES, ContactAdminForm, OptInForm, OptOutForm, consent_evidence
from contacts.identity import contact_change_phone
from contacts.models import (
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentWording,
    Contact,
    CurrentConsent,
    Purpose,
    Tag,
    TestNumber,
)
from contacts.phones import equivalent_numbers, search_form
from core.actors import Actor
from core.admin_tools import CheckedSelectionMixin, EstimatedCountPaginator, ReadOnlyAdminMixin
from core.errors import ApplicationError


def contact_link(contact) -> str:
    """A link to the contact's page, for any admin that lists something about a contact."""
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    return format_html('<a href="{}">{}</a>', url, contact)


class ActivityLoggedAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    """Writes staff additions, changes and deletions made in the admin to the activity log."""

    def log_addition(self, request, obj, message):
        services.log_activity(
            actor=Actor.for_user(request.user), action=f"{obj._meta.model_name}.added", obj=obj
        )
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        services.log_activity(
            actor=Actor.for_user(request.user),
            action=f"{obj._meta.model_name}.changed",
            obj=obj,
            details={"change": message},
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            services.log_activity(
                actor=Actor.for_user(request.user), action=f"{obj._meta.model_name}.deleted", obj=obj
            )
        return super().log_deletions(request, queryset)


@admin.register(Tag)
class TagAdmin(ActivityLoggedAdmin):
    search_fields = ["name"]
    list_display = ["name"]


@admin.register(Contact)
class ContactAdmin(ContactBulkMixin, ContactMergeMixin, ActivityLoggedAdmin):
    form = ContactAdminForm
    list_display = ["display_phone", "name", "language", "country", "marketing", "service", "tag_list"]
    list_display_links = ["display_phone", "name"]
    list_filter = [
        SegmentFilter,
        ContactListFilter,
        MarketingConsentFilter,
        ServiceConsentFilter,
        "tags",
        "language",
        CountryFilter,
        MergedFilter,
    ]
    search_fields = ["first_name", "last_name"]
    search_help_text = "Search by phone number in any format, or by name."
    paginator = ContactPaginator
    actions = ["merge_contacts", "add_tags", "remove_tags", "set_language", "record_opt_out"]
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = ["tags"]
    # What WhatsApp and the system set: shown, never typed.
    readonly_fields = [
        "wa_id",
        "user_id",
        "whatsapp_profile_name",
        "last_inbound_at",
        "not_on_whatsapp_since",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["phone", "first_name", "last_name", "language", "country", "time_zone", "tags"]}),
        ("Custom fields", {"fields": ["attributes"], "classes": ["collapse"]}),
        ("WhatsApp", {"fields": readonly_fields}),
    ]
    change_form_template = "admin/contacts/contact/change_form.html"

    # A merged-away row is evidence: shown, never changed or deleted.
    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.merged_into_id is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # A contact with a consent ledger is evidence (PROTECT): no Delete button that then refuses.
        if obj is not None and (obj.merged_into_id is not None or obj.consent_events.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        contact = self.get_object(request, object_id)
        if contact is not None and contact.consent_events.exists():
            raise PermissionDenied(
                f"{contact} has a consent ledger, which is the proof of what they agreed to: the "
                "contact cannot be deleted. Record an opt-out to stop messages."
            )
        return super().delete_view(request, object_id, extra_context)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.merged_into_id is not None:
            return ["merged_into_link", "merged_at", *fields]
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.merged_into_id is not None:
            return [("Merged", {"fields": ["merged_into_link", "merged_at"]}), *fieldsets]
        return fieldsets

    @admin.display(description="merged into")
    def merged_into_link(self, obj):
        return contact_link(obj.merged_into) if obj.merged_into_id else "—"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = Actor.for_user(request.user)
        return form

    def save_model(self, request, obj, form, change):
        # A new number goes through the phone-change rule first: it clears what belonged to the
        # old number (wa_id, user id) on ``obj`` and logs it; the save then writes the rest.
        if change and "phone" in form.changed_data:
            was_test_number = TestNumber.objects.filter(contact_id=obj.pk, active=True).first()
            contact_change_phone(contact=obj, phone=obj.phone, actor=Actor.for_user(request.user))
            if was_test_number is not None:
                self.message_user(
                    request,
                    f"The staff test number “{was_test_number.label}” was deactivated: its opt-in was for "
                    "the old number. Add the new number as a test number with its owner's opt-in.",
                    messages.WARNING,
                )
        super().save_model(request, obj, form, change)

    def get_deleted_objects(self, objs, request):
        # Consent events are PROTECTed, not merely lacking a permission: say so, not "no permission".
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(ConsentEvent._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                "tags",
                Prefetch("consents", queryset=CurrentConsent.objects.only("contact_id", "purpose", "status")),
            )
        )

    def changelist_view(self, request, extra_context=None):
        title = audience_title(request)
        extra_context = {"title": title, **(extra_context or {})} if title else extra_context
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        """A phone number in any format finds its contact; anything else searches names."""
        term = search_term.strip()
        if not term:
            return queryset, False
        digits = re.sub(r"\D", "", term)
        # Either form of a Brazilian or Mexican number (one of them not valid to phonenumbers),
        # and a merged-away row's number leads to the contact it was merged into.
        e164 = search_form(term) or (f"+{digits}" if term.startswith("+") else None)
        forms = equivalent_numbers(e164) if e164 else ()
        if forms:
            holders = Contact.objects.filter(Q(phone__in=forms) | Q(wa_id__in=[f.lstrip("+") for f in forms]))
            ids = {pk for row in holders.values_list("pk", "merged_into_id") for pk in row if pk}
            if ids:  # indexed lookups; the partial match below scans
                return queryset.filter(pk__in=ids), False
        if len(digits) >= 5 and re.fullmatch(r"[\d\s()+\-./]+", term):
            return queryset.filter(Q(phone__contains=digits) | Q(wa_id__contains=digits)), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description="phone", ordering="phone")
    def display_phone(self, obj):
        return obj.phone or obj.wa_id or obj.user_id

    @admin.display(description="name", ordering="last_name")
    def name(self, obj):
        return obj.full_name

    def _consent_badge(self, obj, purpose):
        for consent in obj.consents.all():
            if consent.purpose == purpose:
                return consent.get_status_display()
        return "—"

    @admin.display(description="marketing")
    def marketing(self, obj):
        return self._consent_badge(obj, Purpose.MARKETING)

    @admin.display(description="service")
    def service(self, obj):
        return self._consent_badge(obj, Purpose.SERVICE)

    @admin.display(description="tags")
    def tag_list(self, obj):
        return ", ".join(t.name for t in obj.tags.all())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The consent panel, for the contact the change view already loaded.
        if obj is not None:
            context.update(
                consent_rows=[
                    (label, selectors.current_consent(contact=obj, purpose=purpose))
                    for purpose, label in Purpose.choices
                ],
                consent_history=selectors.consent_history(contact=obj),
                merged_into=obj.merged_into if obj.merged_into_id else None,
                can_record_opt_in=not obj.merged_into_id and request.user.has_perm("contacts.record_opt_in"),
                can_record_opt_out=not obj.merged_into_id
                and request.user.has_perm("contacts.record_opt_out"),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- Recording consent by hand ----------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<int:contact_id>/consent/<str:action>/",
                self.admin_site.admin_view(self.record_consent_view),
                name="contacts_contact_record_consent",
            ),
            *super().get_urls(),
        ]

    def record_consent_view(self, request, contact_id, action):
        forms_by_action = {ConsentAction.OPT_IN: OptInForm, ConsentAction.OPT_OUT: OptOutForm}
        if action not in forms_by_action:
            raise Http404("Unknown consent action.")
        if not request.user.has_perm(f"contacts.record_{action}"):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        if contact.merged_into_id is not None:
            self.message_user(
                request,
                f"{contact} was merged into {contact.merged_into}: consent is recorded there.",
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:contacts_contact_change", args=[contact.merged_into_id])
            )
        form_class = forms_by_action[action]
        extra = {"contact": contact} if action == ConsentAction.OPT_IN else {}
        form = form_class(request.POST or None, initial={"purpose": request.GET.get("purpose")}, **extra)
        if request.method == "POST" and form.is_valid():
            try:
                self._record(request, contact, action, form.cleaned_data)
            except ApplicationError as exc:
                field = "note" if exc.field == "evidence" else exc.field
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                self.message_user(
                    request, f"{ConsentAction(action).label} recorded for {contact}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "contact": contact,
            "form": form,
            "action_label": ConsentAction(action).label,
            "opted_out": getattr(form, "opted_out", []),
            "title": f"Record {ConsentAction(action).label.lower()} for {contact}",
        }
        return TemplateResponse(request, "admin/contacts/contact/record_consent.html", context)

    def _record(self, request, contact, action, data):
        actor = Actor.for_user(request.user)
        evidence = consent_evidence(data)
        common = {
            "contact": contact,
            "source": data["source"],
            "actor": actor,
            "occurred_at": data["occurred_at"],
            "evidence": evidence,
        }
        if action == ConsentAction.OPT_OUT and data["purpose"] == ALL_PURPOSES:
            services.record_opt_out_everywhere(**common)
        elif action == ConsentAction.OPT_OUT:
            services.record_consent(purpose=data["purpose"], action=action, **common)
        else:
            services.record_consent(
                purpose=data["purpose"],
                action=action,
                wording=data["wording"],
                wording_text=data["wording_text"],
                **common,
            )


@admin.register(ConsentWording)
class ConsentWordingAdmin(admin.ModelAdmin):
    """Wordings are evidence: a change is a new version, so there is "add" but no edit or delete."""

    list_display = ["__str__", "purpose", "language", "version", "short_text", "created_at"]
    list_filter = ["purpose", "language"]
    fields = ["purpose", "language", "text"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["purpose", "language", "version", "text", "created_at", "created_by"] if obj else []

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj else self.fields

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:80]

    def save_model(self, request, obj, form, change):
        # Numbering the version is the service's job; the admin only passes the form's data on.
        created = services.consent_wording_create(
            purpose=obj.purpose, language=obj.language, text=obj.text, actor=Actor.for_user(request.user)
        )
        obj.pk = created.pk
        obj.version = created.version
        obj._state.adding = False

    def log_addition(self, request, obj, message):
        return None  # consent_wording_create already wrote the activity log entry


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger, read-only: events are recorded on the contact page, never edited here."""

    # Listed in the order rule's order (effective time: the earlier of occurred and recorded).
    list_display = [
        "effective_at",
        "contact_link",
        "purpose",
        "action",
        "source",
        "actor_label",
        "occurred_at",
        "recorded_at",
    ]
    list_filter = ["purpose", "action", "source", "actor_kind"]
    list_select_related = ["contact"]
    date_hierarchy = "occurred_at"
    search_fields = ["contact__phone", "contact__last_name"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [
        "contact",
        "purpose",
        "action",
        "source",
        "carried_source",
        "occurred_at",
        "recorded_at",
        "effective_at",
        "wording",
        "wording_text",
        "evidence_pretty",
        "signal_key",
        "actor_kind",
        "actor_label",
        "actor_ref",
    ]
    fields = readonly_fields

    @admin.display(description="contact", ordering="contact")
    def contact_link(self, obj):
        return contact_link(obj.contact)

    @admin.display(description="evidence")
    def evidence_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, ensure_ascii=False))


@admin.register(ActivityLogEntry)
class ActivityLogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "actor_label", "actor_kind", "action", "object_type", "object_repr"]
    list_filter = ["action", "actor_kind", "object_type"]
    date_hierarchy = "occurred_at"
    search_fields = ["actor_label", "object_repr", "object_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = [
        "occurred_at",
        "actor_kind",
        "actor_label",
        "actor_ref",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "details",
    ]
    readonly_fields = fields


# The audiences' admin pages register themselves from their own modules.
from contacts import admin_imports, admin_segments, admin_test_numbers  # noqa: E402,F401
