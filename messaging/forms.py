"""The admin form for sending an approved template to one contact: one field per parameter slot."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from templates_app.components import (
    body_examples,
    body_of,
    button_example,
    button_type,
    buttons_of,
    header_examples,
    header_format,
    header_of,
    url_has_variable,
    url_static_part,
    variable_names,
)
from templates_app.models import MessageTemplate, TemplateVersion


@dataclass(frozen=True)
class Slot:
    """One value a template needs at send time, with where it goes in the parameters."""

    key: str  # form field name
    label: str
    sample: str
    help_text: str = ""


def parameter_slots(version: TemplateVersion) -> list[Slot]:
    components = version.components
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
                help_text=f"An https:// link to the {kind.lower()}.",
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
        queryset=MessageTemplate.objects.filter(status="APPROVED", approved_version__isnull=False),
        help_text="Only templates WhatsApp approved can be sent.",
    )


class TemplateParametersForm(forms.Form):
    def __init__(self, *args, version: TemplateVersion, **kwargs):
        super().__init__(*args, **kwargs)
        for slot in parameter_slots(version):
            options = {
                "label": slot.label,
                "initial": slot.sample,
                "help_text": slot.help_text,
                "max_length": 1024,
            }
            if slot.key == "header_link":
                self.fields[slot.key] = forms.URLField(assume_scheme="https", **options)
            else:
                self.fields[slot.key] = forms.CharField(**options)
