"""Admin forms: a contact, recording consent by hand, confirming a merge."""

from django import forms
from django.utils import timezone

from contacts.models import STAFF_SOURCES, ConsentAction, ConsentSource, ConsentWording, Contact, Purpose
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.services import contact_phone_change_check
from core.errors import ApplicationError

ALL_PURPOSES = "all"


class ContactAdminForm(forms.ModelForm):
    """Accepts a number as people type it ("0151 2345-6789"), longer than its stored E.164 form.

    On an existing contact a new number is checked by the phone-change rule
    (``contacts.services.contact_change_phone``, which the admin's save then calls), so what it
    refuses shows on the field instead of failing the save.
    """

    phone = forms.CharField(
        max_length=40, required=False, help_text=Contact._meta.get_field("phone").help_text
    )

    class Meta:
        model = Contact
        fields = [
            "phone",
            "first_name",
            "last_name",
            "language",
            "country",
            "time_zone",
            "tags",
            "attributes",
        ]

    def clean_phone(self):
        raw = (self.cleaned_data.get("phone") or "").strip()
        if self.instance.pk is not None:
            try:
                return contact_phone_change_check(contact=self.instance, phone=raw)
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from exc
        if not raw:
            return None
        try:
            return normalize_phone(raw)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(exc.message, code="invalid_phone") from exc


class _ConsentFormBase(forms.Form):
    source = forms.ChoiceField(
        choices=[(s.value, s.label) for s in STAFF_SOURCES],
        initial=ConsentSource.STAFF,
        help_text="Where the person gave this: told staff directly, a web form, the checkout, an import.",
    )
    occurred_at = forms.DateTimeField(
        label="When",
        initial=timezone.now,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="When the person gave or withdrew consent (may be in the past).",
    )
    note = forms.CharField(
        label="How it was collected",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Evidence kept with the event, e.g. “Phone call, ticket #4711” or a form URL.",
    )

    def clean_occurred_at(self):
        # The widget has minute precision; "now" typed by staff must not sort before an event
        # recorded earlier in the same minute (the latest event decides current consent).
        value = self.cleaned_data["occurred_at"]
        now = timezone.now()
        if value.replace(second=0, microsecond=0) == now.replace(second=0, microsecond=0):
            return now
        return value


class OptInForm(_ConsentFormBase):
    action = ConsentAction.OPT_IN
    purpose = forms.ChoiceField(choices=Purpose.choices)
    wording = forms.ModelChoiceField(
        queryset=ConsentWording.objects.all(),
        required=False,
        help_text="The exact text the person agreed to.",
    )
    wording_text = forms.CharField(
        label="…or a one-off wording",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only when none of the saved wordings was used.",
    )
    field_order = ["purpose", "wording", "wording_text", "source", "occurred_at", "note"]

    def clean(self):
        data = super().clean()
        if not data.get("wording") and not (data.get("wording_text") or "").strip():
            self.add_error("wording", "Pick the wording the person agreed to, or enter it below.")
        return data


class OptOutForm(_ConsentFormBase):
    action = ConsentAction.OPT_OUT
    purpose = forms.ChoiceField(choices=[*Purpose.choices, (ALL_PURPOSES, "Every purpose")])
    field_order = ["purpose", "source", "occurred_at", "note"]


class ContactMergeForm(forms.Form):
    """Confirms a merge previewed on the page: the survivor shown there, and why they are one person."""

    survivor = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="Same person",
        help_text="Kept in the activity log and in the evidence of each carried-over consent event.",
        error_messages={
            "required": "Say why these two contacts are one person (it is kept in the activity log)."
        },
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(self.fields["reason"].error_messages["required"], code="required")
        return reason
