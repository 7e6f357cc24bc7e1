"""Admin forms: a contact, recording consent by hand, confirming a merge."""

from django import forms
from django.utils import timezone

from contacts.identity import contact_phone_change_check
from contacts.matching import contact_match
from contacts.models import (
    STAFF_SOURCES,
    ConsentAction,
    ConsentSource,
    ConsentStatus,
    ConsentWording,
    Contact,
    Purpose,
)
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.selectors import current_consent, latest_whatsapp_opt_out
from contacts.services import consent_opt_in_check
from core.errors import ApplicationError

ALL_PURPOSES = "all"


class ContactAdminForm(forms.ModelForm):
    """Accepts a number as people type it ("0151 2345-6789"), longer than its stored E.164 form.

    On an existing contact a new number is checked by the phone-change rule
    (``contacts.identity.contact_change_phone``, which the admin's save then calls), so what it
    refuses shows on the field instead of failing the save.
    """

    phone = forms.CharField(
        max_length=40, required=False, help_text=Contact._meta.get_field("phone").help_text
    )
    # Who edits (``ContactAdmin.get_form`` sets it): a staff test number's phone is theirs to
    # change only if they may change test numbers (``contacts.identity``).
    actor = None

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
                return contact_phone_change_check(contact=self.instance, phone=raw, actor=self.actor)
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from exc
        if not raw:
            return None
        try:
            return normalize_phone(raw)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(exc.message, code="invalid_phone") from exc

    def clean(self):
        data = super().clean()
        phone = data.get("phone")
        if self.instance.pk is None and phone:
            # The matcher, not only the unique column: the person may be on file by their wa_id, in
            # the number's other form, or through a row merged into theirs. A second row would have
            # none of their consent: their STOP would sit on the first while the second is messaged.
            holder = contact_match(phone=phone)
            if holder is not None:
                self.add_error(
                    "phone",
                    forms.ValidationError(
                        f"{phone} already belongs to contact #{holder.pk} ({holder}); open that contact "
                        "instead of adding a second one for the same person.",
                        code="phone_taken",
                    ),
                )
        return data

    def _update_errors(self, errors):
        # A number refused above gets no second message from the model ("needs a phone number"):
        # the model only sees that the refused number is missing.
        if self.has_error("phone") and hasattr(errors, "error_dict"):
            errors.error_dict.pop("phone", None)
        super()._update_errors(errors)


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
        if value is None:
            return None
        now = timezone.now()
        if value.replace(second=0, microsecond=0) == now.replace(second=0, microsecond=0):
            return now
        return value


class OptInForm(_ConsentFormBase):
    """An opt-in staff record for a person; after an opt-out, the opting-back-in rule applies.

    For a contact opted out of a purpose, the form says so (``opted_out``), offers no date to
    accept without thinking and asks for the evidence; ``contacts.services.consent_opt_in_check``
    — the rule ``record_consent`` enforces — decides, and its refusal shows on its field.
    """

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
    # The service's field for what the form calls the note.
    _FIELD_OF = {"evidence": "note"}

    def __init__(self, *args, contact: Contact | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact = contact
        self.opted_out = opted_out_lines(contact) if contact is not None else []
        if self.opted_out:
            self.fields["occurred_at"].initial = None
            self.fields["occurred_at"].required = False  # the rule says what is missing, below
            self.fields["occurred_at"].help_text = "When the person opted in again: after the opt-out."
            self.fields["note"].required = True
            self.fields["note"].error_messages["required"] = (
                "Say what the person did and when, e.g. “signed the in-store form on 2026-11-30”, or "
                "give a reference."
            )
            self.fields["note"].help_text = (
                "Required after an opt-out: the person's own evidence of the new opt-in — what they "
                "did and when, or a reference (form number, ticket)."
            )

    def clean(self):
        data = super().clean()
        if not data.get("wording") and not (data.get("wording_text") or "").strip():
            self.add_error("wording", "Pick the wording the person agreed to, or enter it below.")
        if self.contact is None or self.errors or not data.get("purpose") or not data.get("source"):
            return data
        try:
            consent_opt_in_check(
                contact=self.contact,
                purpose=data["purpose"],
                source=data["source"],
                occurred_at=data.get("occurred_at"),
                evidence=consent_evidence(data),
            )
        except ApplicationError as exc:
            field = self._FIELD_OF.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message)
            return data
        if data.get("occurred_at") is None:
            self.add_error("occurred_at", "This field is required.")
        return data


def consent_evidence(data: dict) -> dict:
    """The evidence kept with an event recorded in the admin: where, and the note staff wrote."""
    note = (data.get("note") or "").strip()
    return {"recorded_in": "admin", "note": note} if note else {"recorded_in": "admin"}


def opted_out_lines(contact: Contact) -> list[dict]:
    """Each purpose the contact is opted out of: since when, how, and whether on WhatsApp."""
    lines = []
    for purpose, label in Purpose.choices:
        current = current_consent(contact=contact, purpose=purpose)
        if current is None or current.status != ConsentStatus.OPTED_OUT:
            continue
        event = current.event
        lines.append(
            {
                "purpose": purpose,
                "label": label,
                "since": current.since,
                "source": ConsentSource(event.carried_source or event.source).label,
                "on_whatsapp": latest_whatsapp_opt_out(contact=contact, purpose=purpose) is not None,
            }
        )
    return lines


class OptOutForm(_ConsentFormBase):
    action = ConsentAction.OPT_OUT
    purpose = forms.ChoiceField(choices=[*Purpose.choices, (ALL_PURPOSES, "Every purpose")])
    field_order = ["purpose", "source", "occurred_at", "note"]


class ContactMergeForm(forms.Form):
    """Confirms a merge previewed on the page: the survivor shown there, and why they are one person."""

    survivor = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. imported twice: the same customer number 4711 in both"}
        ),
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
