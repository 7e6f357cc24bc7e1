"""The consent exports' filters, as staff type them on the admin page or pass them to the command.

Every bad value is a form error naming the field (an unknown purpose, a date that is no date or
lies outside ``compliance.dates``' range, a range that ends before it starts, a number that is
nobody's); nothing is exported then.
"""

from __future__ import annotations

from django import forms

from compliance import point_in_time
from compliance.consent_export import OCCURRED, RECORDED, ConsentFilters, contact_ids_for
from compliance.dates import validate_in_range
from compliance.streaming import CSV, JSONL
from contacts.models import ConsentAction, ConsentSource, ConsentWording, Purpose, Segment, Tag
from contacts.phones import InvalidPhoneNumber, normalize_phone

_INSTANT_HELP = "ISO 8601, e.g. 2026-03-01T12:00:00Z; without an offset, in the site's time zone."


def _blank(choices) -> list[tuple[str, str]]:
    return [("", "any"), *choices]


class _ExportOptions(forms.Form):
    output = forms.ChoiceField(choices=[(CSV, "CSV"), (JSONL, "JSON Lines")], initial=CSV, required=False)
    bom = forms.BooleanField(
        label="Byte order mark for Excel", required=False, help_text="CSV only: Excel reads UTF-8 with it."
    )
    mask = forms.BooleanField(
        label="Mask personal data",
        required=False,
        help_text="Phone numbers, IP addresses and user agents masked (for files leaving the compliance "
        "team). Always masked for users not allowed to see personal data.",
    )

    def clean_output(self):
        return self.cleaned_data.get("output") or CSV


class _ContactFilters(forms.Form):
    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False)
    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"), required=False)
    phone = forms.CharField(
        label="Contact's phone number",
        required=False,
        help_text="Any form of the number finds the person (and rows merged into them).",
    )
    contact = forms.IntegerField(label="Contact id", required=False, min_value=1)

    def clean_phone(self):
        phone = (self.cleaned_data.get("phone") or "").strip()
        if phone:
            try:
                normalize_phone(phone)
            except InvalidPhoneNumber as error:
                raise forms.ValidationError(str(error)) from None
        return phone

    def clean(self):
        """One person, named once: with both a number and an id, which one the export follows would
        be a silent choice (and they may be two people)."""
        data = super().clean()
        if data.get("phone") and data.get("contact"):
            self.add_error(
                "contact", "Give either a phone number or a contact id, not both: they may name two people."
            )
        return data

    def contact_ids(self) -> tuple[int, ...] | None:
        data = self.cleaned_data
        if not data.get("phone") and not data.get("contact"):
            return None
        return contact_ids_for(phone=data.get("phone") or "", contact_id=data.get("contact"))

    def described(self) -> dict:
        """The filters as the audit log and the file's metadata state them (only those set)."""
        shown = {}
        for name, value in self.cleaned_data.items():
            if value in (None, "", False) or name in ("output", "bom", "mask"):
                continue
            shown[name] = value.pk if hasattr(value, "pk") else value
        return shown


class ConsentExportForm(_ExportOptions, _ContactFilters):
    date_field = forms.ChoiceField(
        label="Dates are",
        choices=[(OCCURRED, "when it occurred"), (RECORDED, "when it was recorded")],
        initial=OCCURRED,
        required=False,
    )
    date_from = forms.DateTimeField(
        label="From", required=False, help_text=_INSTANT_HELP, validators=[validate_in_range]
    )
    date_to = forms.DateTimeField(
        label="To", required=False, help_text="Inclusive. " + _INSTANT_HELP, validators=[validate_in_range]
    )
    purpose = forms.ChoiceField(choices=_blank(Purpose.choices), required=False)
    action = forms.ChoiceField(choices=_blank(ConsentAction.choices), required=False)
    source = forms.ChoiceField(choices=_blank(ConsentSource.choices), required=False)
    wording = forms.ModelChoiceField(queryset=ConsentWording.objects.all(), required=False)
    actor = forms.CharField(
        label="Recorded by",
        required=False,
        max_length=150,
        help_text="The recorder's name as the ledger keeps it: a username, an API key's name, “system”.",
    )
    field_order = ["date_field", "date_from", "date_to", "purpose", "action", "source", "wording", "actor"]

    def clean_date_field(self):
        return self.cleaned_data.get("date_field") or OCCURRED

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The range ends before it starts: “To” must be on or after “From”.")
        return data

    def filters(self) -> ConsentFilters:
        data = self.cleaned_data
        return ConsentFilters(
            date_field=data["date_field"],
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            purpose=data.get("purpose") or "",
            action=data.get("action") or "",
            source=data.get("source") or "",
            wording_id=data["wording"].pk if data.get("wording") else None,
            actor_label=(data.get("actor") or "").strip(),
            tag_id=data["tag"].pk if data.get("tag") else None,
            segment_id=data["segment"].pk if data.get("segment") else None,
            contact_ids=self.contact_ids(),
        )


class ConsentAtForm(_ExportOptions, _ContactFilters):
    purpose = forms.ChoiceField(choices=Purpose.choices)
    at = forms.DateTimeField(label="At", help_text=_INSTANT_HELP, validators=[validate_in_range])
    reading = forms.ChoiceField(
        choices=list(point_in_time.READINGS.items()),
        initial=point_in_time.HAPPENED,
        widget=forms.RadioSelect,
        required=False,
    )
    everyone = forms.BooleanField(
        label="Include opted-out contacts", required=False, help_text="Otherwise only who was opted in."
    )
    field_order = ["purpose", "at", "reading", "everyone"]

    def clean_reading(self):
        return self.cleaned_data.get("reading") or point_in_time.HAPPENED

    def filters(self) -> ConsentFilters:
        data = self.cleaned_data
        return ConsentFilters(
            purpose=data["purpose"],
            tag_id=data["tag"].pk if data.get("tag") else None,
            segment_id=data["segment"].pk if data.get("segment") else None,
            contact_ids=self.contact_ids(),
        )
