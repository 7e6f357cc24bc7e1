"""The admin of staff test numbers: Administrators add (with the owner's opt-in) and deactivate;
Editors and Auditors read the list. Nobody deletes one (past test sends name it).

Adding goes through ``contacts.staff_test_numbers``: the form runs the service's own check, so
each refusal lands on its field — above all the number that is a customer's contact, which
needs the confirmation tick because it takes that contact out of every segment.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html_join

from contacts.admin import contact_link
from contacts.models import ConsentStatus, Purpose, TestNumber
from contacts.staff_test_numbers import test_number_add, test_number_add_check, test_number_deactivate
from core.actors import Actor
from core.errors import ApplicationError

ADD_FIELDS = ["phone", "label", "purposes", "evidence", "confirm_customer"]
VIEW_FIELDS = ["label", "contact_page", "active", "opted_in", "added_by", "added_at"]


class TestNumberAddForm(forms.ModelForm):
    __test__ = False  # not a test class (pytest collects Test* names)

    phone = forms.CharField(
        max_length=32,
        help_text="The staff phone's number, with its country code, e.g. +49 151 23456789.",
    )
    purposes = forms.MultipleChoiceField(
        label="Opted in to",
        choices=Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the owner agreed to receive: a test send needs the opt-in of its campaign's purpose.",
    )
    evidence = forms.CharField(
        label="How the owner confirmed it",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        required=False,
        help_text="Recorded as the opt-in's evidence, e.g. “confirmed by the owner in person on 2026-12-01”.",
    )
    confirm_customer = forms.BooleanField(
        label="If this number is a customer's contact, make that contact a test number",
        required=False,
        help_text="A test number leaves every segment: no campaign reaches that contact as a customer "
        "any more. Without this tick, such a number is refused and the contact named.",
    )

    class Meta:
        model = TestNumber
        fields = ["label"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            test_number_add_check(
                phone=data.get("phone", ""),
                label=data.get("label", ""),
                purposes=data.get("purposes") or [],
                evidence=data.get("evidence", ""),
                confirm_customer=bool(data.get("confirm_customer")),
            )
        except ApplicationError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(TestNumber)
class TestNumberAdmin(admin.ModelAdmin):
    list_display = ["label", "phone", "active", "opted_in", "added_by", "added_at"]
    list_filter = ["active"]
    search_fields = ["label", "contact__phone"]
    list_select_related = ["contact", "added_by"]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("contact__consents")

    # Added and deactivated through the service only; never edited or deleted.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TestNumberAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ADD_FIELDS if obj is None else VIEW_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else VIEW_FIELDS

    @admin.display(description="phone", ordering="contact__phone")
    def phone(self, obj):
        return obj.contact.phone or obj.contact.wa_id

    @admin.display(description="contact")
    def contact_page(self, obj):
        return contact_link(obj.contact)

    @admin.display(description="opted in to")
    def opted_in(self, obj):
        purposes = [
            c.get_purpose_display() for c in obj.contact.consents.all() if c.status == ConsentStatus.OPTED_IN
        ]
        if not purposes:
            return "nothing — test sends are refused"
        return format_html_join(", ", "{}", ((p,) for p in sorted(purposes)))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        added = test_number_add(
            phone=data["phone"],
            label=data["label"],
            purposes=data["purposes"],
            evidence=data["evidence"],
            confirm_customer=data["confirm_customer"],
            actor=Actor.for_user(request.user),
        )
        obj.pk = added.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def log_addition(self, request, obj, message):
        return None  # the service wrote the activity log

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form ran the service's check; only a change made at the same moment can still refuse.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, f"Not added: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="Deactivate the selected test numbers", permissions=["change"])
    def deactivate(self, request, queryset):
        actor = Actor.for_user(request.user)
        changed = sum(test_number_deactivate(test_number=number, actor=actor) for number in queryset)
        self.message_user(request, f"Deactivated {changed} test number{'' if changed == 1 else 's'}.")
