"""The admin forms for sending an approved template to one contact: one field per value it needs.

The fields start empty. A template's samples are what WhatsApp's reviewers were shown, not values
for anyone: pre-filling them once sent "Hi Pablo, your order ORD-9271" to another customer, so a
sample appears only as a placeholder. Every value is checked by the same rules the send path
applies (``templates_app.parameters.check_parameters``), and each problem is put on the field it
concerns.

Issue 15's kinds get their own fields: a location header's latitude, longitude, name and address; a
counting-down offer's end (a date and time in the operator's time zone, sent as Unix milliseconds);
and a carousel's values card by card (``card<n>__…``, n from 1 as the problems name cards: its
media link, its body's variables, its links' suffixes). Every value is kept as text, so the signed
confirmation carries exactly what was typed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from django import forms
from django.core import signing
from django.utils import timezone

from templates_app.components import (
    body_examples,
    body_of,
    button_example,
    button_type,
    buttons_of,
    carousel_cards,
    header_examples,
    header_format,
    header_of,
    is_authentication_template,
    offer_has_expiration,
    text_of,
    url_has_variable,
    url_sample_suffix,
    url_static_part,
    variable_names,
)
from templates_app.models import MessageTemplate, TemplateStatus, TemplateVersion
from templates_app.parameters import BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH, check_parameters

AUTHENTICATION_CODE_KEY = "body__1"
LOCATION_KEYS = ("latitude", "longitude", "name", "address")
OFFER_ENDS_KEY = "offer_ends"
_CARD_KEY = re.compile(r"card([0-9]+)__(.+)")
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
    kind: str = "text"  # "text", "link" (a web address), "number" or "datetime"
    required: bool = True
    group: str = ""  # the fieldset it is shown in ("" for the template's own values)


def parameter_slots(version: TemplateVersion) -> list[Slot]:
    components = version.components
    if is_authentication_template(components):
        # WhatsApp writes the text; the one value is the code (sent in the body and the button).
        return [Slot(AUTHENTICATION_CODE_KEY, "Verification code", "")]
    slots = _part_slots(components, prefix="", label="", group="")
    if offer_has_expiration(components):
        zone = timezone.get_current_timezone_name()
        slots.append(
            Slot(
                OFFER_ENDS_KEY,
                "Offer ends",
                "",
                help_text=f"When the offer's countdown ends, in {zone} time.",
                kind="datetime",
                group="Limited-time offer",
            )
        )
    for number, card in enumerate(carousel_cards(components), 1):
        group = f"Card {number}"
        slots += _part_slots(card, prefix=f"card{number}__", label=f"{group}: ", group=group)
    return slots


def _part_slots(components, *, prefix: str, label: str, group: str) -> list[Slot]:
    """The values of a template, or of one carousel card (``prefix`` "card2__", ``label`` "Card 2: ")."""
    slots: list[Slot] = []
    header = header_of(components)
    kind = header_format(header)
    if kind == "TEXT":
        for name, sample in header_examples(header).items():
            slots.append(
                Slot(f"{prefix}header__{name}", f"{label}Header {{{{{name}}}}}", sample, group=group)
            )
    elif kind in ("IMAGE", "VIDEO", "DOCUMENT"):
        example = "https://shop.example/file.pdf" if kind == "DOCUMENT" else "https://shop.example/spring.jpg"
        slots.append(
            Slot(
                f"{prefix}header_link",
                f"{label}{kind.title()} link",
                "",
                help_text=f"A web address of the {kind.lower()}, e.g. {example}.",
                kind="link",
                group=group,
            )
        )
    elif kind == "LOCATION":
        slots += [
            Slot(
                "location__latitude", "Latitude", "37.483307", "From -90 to 90.", "number", group="Location"
            ),
            Slot(
                "location__longitude",
                "Longitude",
                "-122.148981",
                "From -180 to 180.",
                "number",
                group="Location",
            ),
            Slot("location__name", "Place name", "", "Optional.", required=False, group="Location"),
            Slot("location__address", "Address", "", "Optional.", required=False, group="Location"),
        ]
    body = body_of(components)
    samples = body_examples(body)
    for name in variable_names(text_of(body)):
        slots.append(
            Slot(f"{prefix}body__{name}", f"{label}Body {{{{{name}}}}}", samples.get(name, ""), group=group)
        )
    for index, button in enumerate(buttons_of(components)):
        if button_type(button) == "URL" and url_has_variable(button):
            suffix = url_sample_suffix(button)
            static = url_static_part(button.get("url", ""))
            slots.append(
                Slot(
                    f"{prefix}button__{index}",
                    f"{label}Link suffix for “{button.get('text', '')}”",
                    suffix,
                    help_text=f"Appended to {static}",
                    group=group,
                )
            )
        elif button_type(button) == "COPY_CODE":
            slots.append(
                Slot(f"{prefix}button__{index}", f"{label}Offer code", button_example(button), group=group)
            )
    return slots


def parameters_from_slots(version: TemplateVersion, data: dict) -> dict:
    """The parameters shape of templates_app.parameters from the form's cleaned data."""
    cards: dict[int, dict] = {}
    own: dict = {}
    for key, value in data.items():
        match = _CARD_KEY.fullmatch(key)
        if match:
            cards.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            own[key] = value
    parameters = _part_parameters(version.components, version.parameter_format, own)
    place = {name: own[f"location__{name}"] for name in LOCATION_KEYS if own.get(f"location__{name}")}
    if place:
        parameters["header"] = {"type": "location", "location": place}
    if own.get(OFFER_ENDS_KEY):
        ends = offer_end(own[OFFER_ENDS_KEY])
        parameters["offer"] = {"expiration_time_ms": int(ends.timestamp() * 1000) if ends else None}
    card_components = carousel_cards(version.components)
    if card_components:
        parameters["cards"] = [
            _part_parameters(card, version.parameter_format, cards.get(number, {}))
            for number, card in enumerate(card_components, 1)
        ]
    return parameters


def _part_parameters(components, parameter_format: str, data: dict) -> dict:
    parameters: dict = {}
    named = str(parameter_format).upper() == "NAMED"
    body: dict[str, str] = {}
    buttons: dict[str, str] = {}
    for key, value in data.items():
        if key.startswith("header__"):
            parameters["header"] = {"type": "text", "text": value}
        elif key == "header_link":
            kind = header_format(header_of(components)).lower()
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


def offer_end(value: str) -> datetime | None:
    """A datetime-local value ("2026-12-31T23:59") in the operator's time zone, or None if it is not one."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


class ChooseTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.filter(
            status=TemplateStatus.APPROVED, approved_version__isnull=False
        ),
        help_text="Only templates WhatsApp approved can be sent.",
    )


def _check_offer_end(value: str) -> None:
    if offer_end(value) is None:
        raise forms.ValidationError(
            "Give the date and time the offer ends, e.g. 2026-12-31 23:59.", code="offer_end_invalid"
        )


class TemplateParametersForm(forms.Form):
    """Step 1 of a send: every value, empty to start with; ``parameters`` once valid."""

    def __init__(self, *args, version: TemplateVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.parameters: dict | None = None
        self.slot_groups: dict[str, list[str]] = {}
        for slot in parameter_slots(version):
            attrs = {"placeholder": f"e.g. {slot.sample}"} if slot.sample else {}
            options = {
                "label": slot.label,
                "help_text": slot.help_text,
                "required": slot.required,
                # The rules below judge the length WhatsApp allows; this only bounds the request.
                "max_length": BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH,
            }
            if slot.kind == "link":
                field = forms.URLField(assume_scheme="https", widget=forms.URLInput(attrs=attrs), **options)
            elif slot.kind == "datetime":
                widget = forms.TextInput(attrs={**attrs, "type": "datetime-local"})
                field = forms.CharField(widget=widget, validators=[_check_offer_end], **options)
            elif slot.kind == "number":
                field = forms.CharField(
                    widget=forms.TextInput(attrs={**attrs, "inputmode": "decimal"}), **options
                )
            else:
                field = forms.CharField(widget=forms.TextInput(attrs={**attrs, "size": 40}), **options)
            self.fields[slot.key] = field
            self.slot_groups.setdefault(slot.group, []).append(slot.key)

    def field_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields in fieldsets: the template's own values first, then location, offer, each card."""
        return [(title, [self[key] for key in keys]) for title, keys in self.slot_groups.items()]

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

        The rules name the card ("Card 2: …"), the variable (``{{2}}``), the button (``button 1``),
        the location's part, the offer or the header; whatever cannot be placed is shown above the
        form, so nothing is lost if their wording changes.
        """
        if is_authentication_template(self.version.components) and AUTHENTICATION_CODE_KEY in self.fields:
            return AUTHENTICATION_CODE_KEY
        components = self.version.components
        prefix = ""
        card = re.match(r"Card ([0-9]+): (.*)", problem, re.DOTALL)
        if card:
            prefix, problem = f"card{card.group(1)}__", card.group(2)
            cards = carousel_cards(components)
            number = int(card.group(1))
            components = cards[number - 1] if 0 < number <= len(cards) else []
        keys = [
            key for key in self.fields if key.startswith(prefix) and (prefix or not _CARD_KEY.fullmatch(key))
        ]
        for key in keys:
            own = key.removeprefix(prefix)
            if own.startswith("body__") and f"{{{{{own.removeprefix('body__')}}}}}" in problem:
                return key
            if own.startswith("button__"):
                number = int(own.removeprefix("button__")) + 1
                if re.search(rf"\bbutton {number}\b", problem, re.IGNORECASE):
                    return key
        lowered = problem.lower()
        if not prefix and OFFER_ENDS_KEY in self.fields and "offer" in lowered:
            return OFFER_ENDS_KEY
        if not prefix and "location__latitude" in self.fields and "location" in lowered:
            named = (f"location__{name}" for name in LOCATION_KEYS if f"location's {name}" in lowered)
            return next(named, "location__latitude")
        kind = header_format(header_of(components)).lower()
        if "header" in lowered or (kind and re.search(rf"\bthe {kind}\b", lowered)):
            return next((key for key in keys if key.removeprefix(prefix).startswith("header")), None)
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
