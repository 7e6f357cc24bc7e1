"""The admin forms for sending an approved template to one contact: one field per value it needs.

The fields start empty. A template's samples are what WhatsApp's reviewers were shown, not values
for anyone: pre-filling them once sent "Hi Pablo, your order ORD-9271" to another customer, so a
sample appears only as a placeholder. Every value is checked by the same rules the send path
applies (``templates_app.parameters.check_parameters``), and each problem is put on the field it
concerns.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from django import forms
from django.core import signing

from templates_app.components import (
    body_examples,
    body_of,
    button_example,
    button_type,
    buttons_of,
    header_examples,
    header_format,
    header_of,
    is_authentication_template,
    url_has_variable,
    url_static_part,
    variable_names,
)
from templates_app.models import MessageTemplate, TemplateStatus, TemplateVersion
from templates_app.parameters import BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH, check_parameters

AUTHENTICATION_CODE_KEY = "body__1"
CONFIRMATION_SALT = "messaging.send_template"
# The preview shows what the send-time rules say *now*; after this long it is shown again.
CONFIRMATION_MAX_AGE = 30 * 60  # seconds


@dataclass(frozen=True)
class Slot:
    """One value a template needs at send time, with where it goes in the parameters."""

    key: str  # form field name
    label: str
    sample: str
    help_text: str = ""


def parameter_slots(version: TemplateVersion) -> list[Slot]:
    components = version.components
    if is_authentication_template(components):
        # WhatsApp writes the text; the one value is the code (sent in the body and the button).
        return [Slot(AUTHENTICATION_CODE_KEY, "Verification code", "")]
    slots: list[Slot] = []
    header = header_of(components)
    kind = header_format(header)
    if kind == "TEXT":
        for name, sample in header_examples(header).items():
            slots.append(Slot(f"header__{name}", f"Header {{{{{name}}}}}", sample))
    elif kind in ("IMAGE", "VIDEO", "DOCUMENT"):
        slots.append(
            Slot(
                "header_link",
                f"{kind.title()} link",
                "",
                help_text=f"A web address of the {kind.lower()}, e.g. https://shop.example/file.pdf.",
            )
        )
    body = body_of(components)
    samples = body_examples(body)
    for name in variable_names(body.get("text", "") if body else ""):
        slots.append(Slot(f"body__{name}", f"Body {{{{{name}}}}}", samples.get(name, "")))
    for index, button in enumerate(buttons_of(components)):
        if button_type(button) == "URL" and url_has_variable(button):
            example = button_example(button)
            suffix = example[len(url_static_part(button.get("url", ""))) :] if example else ""
            slots.append(
                Slot(
                    f"button__{index}",
                    f"Link suffix for “{button.get('text', '')}”",
                    suffix,
                    help_text=f"Appended to {url_static_part(button.get('url', ''))}",
                )
            )
        elif button_type(button) == "COPY_CODE":
            slots.append(Slot(f"button__{index}", "Offer code", button_example(button)))
    return slots


def parameters_from_slots(version: TemplateVersion, data: dict) -> dict:
    """The parameters shape of templates_app.parameters from the form's cleaned data."""
    parameters: dict = {}
    named = version.parameter_format == "NAMED"
    body: dict[str, str] = {}
    buttons: dict[str, str] = {}
    for key, value in data.items():
        if key.startswith("header__"):
            parameters["header"] = {"type": "text", "text": value}
        elif key == "header_link":
            kind = header_format(header_of(version.components)).lower()
            parameters["header"] = {"type": kind, "link": value}
        elif key.startswith("body__"):
            body[key.removeprefix("body__")] = value
        elif key.startswith("button__"):
            buttons[key.removeprefix("button__")] = value
    if body:
        parameters["body"] = body if named else [body[name] for name in sorted(body, key=int)]
    if buttons:
        parameters["buttons"] = buttons
    return parameters


class ChooseTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.filter(
            status=TemplateStatus.APPROVED, approved_version__isnull=False
        ),
        help_text="Only templates WhatsApp approved can be sent.",
    )


class TemplateParametersForm(forms.Form):
    """Step 1 of a send: every value, empty to start with; ``parameters`` once valid."""

    def __init__(self, *args, version: TemplateVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.parameters: dict | None = None
        for slot in parameter_slots(version):
            attrs = {"placeholder": f"e.g. {slot.sample}"} if slot.sample else {}
            options = {
                "label": slot.label,
                "help_text": slot.help_text,
                # The rules below judge the length WhatsApp allows; this only bounds the request.
                "max_length": BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH,
            }
            if slot.key == "header_link":
                field = forms.URLField(assume_scheme="https", widget=forms.URLInput(attrs=attrs), **options)
            else:
                field = forms.CharField(widget=forms.TextInput(attrs={**attrs, "size": 40}), **options)
            self.fields[slot.key] = field

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned  # a missing or malformed value is already reported on its field
        parameters = parameters_from_slots(self.version, cleaned)
        problems = check_parameters(
            components=self.version.components,
            parameter_format=self.version.parameter_format,
            parameters=parameters,
        )
        for problem in problems:
            self.add_error(self._field_of(problem), problem)
        if not problems:
            self.parameters = parameters
        return cleaned

    def _field_of(self, problem: str) -> str | None:
        """The field a problem of ``check_parameters`` is about (None: the form as a whole).

        The rules name the variable (``{{2}}``), the button (``button 1``) or the header; whatever
        cannot be placed is shown above the form, so nothing is lost if their wording changes.
        """
        if is_authentication_template(self.version.components) and AUTHENTICATION_CODE_KEY in self.fields:
            return AUTHENTICATION_CODE_KEY
        for key in self.fields:
            if key.startswith("body__") and f"{{{{{key.removeprefix('body__')}}}}}" in problem:
                return key
            if key.startswith("button__"):
                number = int(key.removeprefix("button__")) + 1
                if re.search(rf"\bbutton {number}\b", problem, re.IGNORECASE):
                    return key
        kind = header_format(header_of(self.version.components)).lower()
        lowered = problem.lower()
        if "header" in lowered or (kind and re.search(rf"\bthe {kind}\b", lowered)):
            return next((key for key in self.fields if key.startswith("header")), None)
        return None


# --- Step 2: the confirmation ----------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    """What a preview was made of, signed into the confirm page so it cannot be changed there.

    The signature proves only that this server drew that preview; the view checks every part
    again against the request (the user, the contact, the template and its approved version)
    and validates the values again before anything is queued.
    """

    user_id: int
    contact_id: int
    template_id: int
    version_id: int
    values: dict[str, str]
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def sign(self) -> str:
        data = {
            "user": self.user_id,
            "contact": self.contact_id,
            "template": self.template_id,
            "version": self.version_id,
            "values": self.values,
            "nonce": self.nonce,
        }
        return signing.dumps(data, salt=CONFIRMATION_SALT, compress=True)


class ConfirmationRefused(Exception):
    """A confirmation that may not be used; ``values`` (if they can be trusted) refill the form."""

    def __init__(self, message: str, values: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.values = values or {}


def read_confirmation(token: str, *, expires: bool = True) -> Confirmation:
    """The confirmation a confirm page posted, or ``ConfirmationRefused`` saying why not."""
    changed = ConfirmationRefused(
        "The confirmation was changed or is incomplete, so nothing was sent. Check the message again."
    )
    try:
        data = signing.loads(
            token or "", salt=CONFIRMATION_SALT, max_age=CONFIRMATION_MAX_AGE if expires else None
        )
    except signing.SignatureExpired:
        data = _loads_unexpired_or_none(token)
        minutes = CONFIRMATION_MAX_AGE // 60
        raise ConfirmationRefused(
            f"The preview is too old (more than {minutes} minutes), so nothing was sent: what the rules "
            "say may have changed. Check the message again.",
            values=_values(data),
        ) from None
    except signing.BadSignature:
        raise changed from None
    try:
        return Confirmation(
            user_id=int(data["user"]),
            contact_id=int(data["contact"]),
            template_id=int(data["template"]),
            version_id=int(data["version"]),
            values=_values(data),
            nonce=str(data["nonce"]),
        )
    except (KeyError, TypeError, ValueError):
        raise changed from None


def _loads_unexpired_or_none(token: str):
    try:
        return signing.loads(token, salt=CONFIRMATION_SALT)
    except signing.BadSignature:
        return None


def _values(data) -> dict[str, str]:
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        return {}
    return {str(key): str(value) for key, value in values.items()}
