"""The template editor's forms: every broken Meta rule is an error on the field it concerns."""

from __future__ import annotations

import re

from django import forms
from django.forms.models import BaseInlineFormSet

from templates_app.drafts import Draft, DraftButton, field_errors
from templates_app.models import Category, MessageTemplate

_SAMPLE_LINE = re.compile(r"^\s*\{{0,2}\s*([A-Za-z0-9_]+)\s*\}{0,2}\s*[:=]\s*(.*)$")


class SamplesField(forms.CharField):
    """Sample values, one per line as ``1: Pablo`` or ``first_name: Pablo``; stored as a dict."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "1: Pablo\n2: ORD-9271"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{key}: {sample}" for key, sample in value.items())
        return value

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        samples = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = _SAMPLE_LINE.match(line)
            if not match:
                raise forms.ValidationError(
                    f"Line {number} (“{line.strip()}”): write each sample as the variable, a colon and the "
                    "sample, e.g. “1: Pablo” or “first_name: Pablo”."
                )
            samples[match.group(1)] = match.group(2).strip()
        return samples


# An AUTHENTICATION template's options: WhatsApp writes its text (docs/meta-facts.md 8.3).
AUTHENTICATION_FIELDS = [
    "add_security_recommendation",
    "code_expiration_minutes",
    "otp_kind",
    "otp_button_text",
    "otp_package_name",
    "otp_signature_hash",
    "zero_tap_terms_accepted",
]


class MessageTemplateForm(forms.ModelForm):
    body_samples = SamplesField(
        required=False, label="Body samples", help_text="One per line: “1: Pablo” or “first_name: Pablo”."
    )

    class Meta:
        model = MessageTemplate
        fields = [
            "name",
            "language",
            "category",
            "parameter_format",
            "header_kind",
            "header_text",
            "header_sample",
            "header_media",
            "body",
            "body_samples",
            "footer",
            *AUTHENTICATION_FIELDS,
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}

    def _post_clean(self):
        """Meta's rules on everything but the button rows (the button formset checks those).

        Runs after the instance is built from the form, so the draft validated is exactly the one
        that will be saved.
        """
        super()._post_clean()
        if self.errors:
            return
        draft = Draft.from_template(self.instance, buttons=[])
        authentication = draft.category == Category.AUTHENTICATION
        for error in field_errors(draft, draft.violations()):
            if error.button is not None and not authentication:
                continue  # button rules are reported on the button rows
            self.add_error(error.field if error.field in self.fields else None, error.message)


class TemplateButtonFormSet(BaseInlineFormSet):
    """Checks the buttons against Meta's rules together with the template they belong to."""

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms):
            return
        rows = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("kind")
        ]
        rows.sort(key=lambda form: form.cleaned_data.get("position") or 0)
        if self.instance.category == Category.AUTHENTICATION:
            if rows:
                raise forms.ValidationError(
                    "Authentication templates carry only the code button set above; remove these buttons."
                )
            return
        buttons = [DraftButton.from_data(row.cleaned_data.get) for row in rows]
        draft = Draft.from_template(self.instance, buttons=buttons)
        form_level = []
        for error in field_errors(draft, draft.violations()):
            if error.button is None:
                continue  # shown on the template's own fields
            if 0 <= error.button < len(rows):
                form = rows[error.button]
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                form_level.append(error.message)
        if sum(1 for b in buttons if b.opt_out_purpose) > 1:
            form_level.append("Mark only one button as the opt-out button.")
        if form_level:
            raise forms.ValidationError(form_level)
