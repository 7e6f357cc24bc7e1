"""The composer's forms: each builds free-form content (``messaging.sending.content``) from a POST.

The limits here are Meta's (the browser checks them too, as the agent types); what the form lets
through is checked once more by ``content.check`` when the message is queued, so a hand-made POST
gets the same clear refusal.
"""

from __future__ import annotations

import json

from django import forms

from messaging.media import MEDIA_LIMITS
from messaging.sending import content as build

BUTTON_SLOTS = 3  # Meta: one to three reply buttons
ROW_SLOTS = 10  # Meta: at most ten rows in a list
BUTTON_TITLE = 20
ROW_TITLE = 24
ROW_DESCRIPTION = 72
HEADER = FOOTER = 60
SECTION_TITLE = 24


def _text(max_length: int, *, required: bool = True, label: str = "", rows: int = 0) -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    field = forms.CharField(max_length=max_length, required=required, label=label or None, widget=widget)
    # No maxlength attribute: the browser would cut a pasted "Reschedule appointment" to a button's
    # 20 characters without a word. The composer's script names the limit and holds Send instead.
    field.widget.attrs.pop("maxlength", None)
    field.widget.attrs["data-max"] = max_length
    return field


def _media_limits() -> dict[str, dict]:
    """Meta's limit per file name extension, for the composer's check before uploading (the
    server judges the file's bytes again: ``messaging.media.check_upload``)."""
    return {
        extension: {"label": rule.label, "max": rule.max_bytes}
        for rule in MEDIA_LIMITS.values()
        for extensions in rule.types.values()
        for extension in extensions
    }


class TextForm(forms.Form):
    body = _text(4096, label="Message", rows=3)

    def content(self) -> dict:
        return build.text(self.cleaned_data["body"])


class MediaForm(forms.Form):
    file = forms.FileField(
        label="File",
        widget=forms.ClearableFileInput(
            attrs={"accept": ",".join(sorted(_media_limits())), "data-limits": json.dumps(_media_limits())}
        ),
    )
    caption = _text(1024, required=False, label="Caption", rows=2)


class ButtonsForm(forms.Form):
    header = _text(HEADER, required=False)
    body = _text(1024, label="Question", rows=2)
    footer = _text(FOOTER, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for number in range(1, BUTTON_SLOTS + 1):
            self.fields[f"button_{number}"] = _text(BUTTON_TITLE, required=False, label=f"Button {number}")

    def clean(self):
        cleaned = super().clean()
        titles = [cleaned.get(f"button_{n}", "").strip() for n in range(1, BUTTON_SLOTS + 1)]
        titles = [t for t in titles if t]
        if not titles:
            self.add_error("button_1", "Give at least one button (at most three).")
        elif len(set(titles)) != len(titles):
            self.add_error("button_1", "Each button needs a title of its own.")
        self.titles = titles
        return cleaned

    def content(self) -> dict:
        data = self.cleaned_data
        return build.buttons(
            data["body"],
            [(f"b{number}", title) for number, title in enumerate(self.titles, start=1)],
            header=data.get("header", ""),
            footer=data.get("footer", ""),
        )


class ListForm(forms.Form):
    header = _text(HEADER, required=False)
    body = _text(4096, label="Question", rows=2)
    footer = _text(FOOTER, required=False)
    button = _text(BUTTON_TITLE, label="Button that opens the list")
    section = _text(SECTION_TITLE, required=False, label="Section title")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for number in range(1, ROW_SLOTS + 1):
            self.fields[f"row_{number}"] = _text(ROW_TITLE, required=False, label=f"Row {number}")
            self.fields[f"row_{number}_description"] = _text(
                ROW_DESCRIPTION, required=False, label=f"Row {number} description"
            )

    def clean(self):
        cleaned = super().clean()
        rows = []
        for number in range(1, ROW_SLOTS + 1):
            title = cleaned.get(f"row_{number}", "").strip()
            description = cleaned.get(f"row_{number}_description", "").strip()
            if description and not title:
                self.add_error(f"row_{number}", "A row with a description needs a title.")
            if title:
                rows.append((f"r{number}", title, description))
        if not rows and not self.errors:
            self.add_error("row_1", "Give at least one row (at most ten).")
        titles = [title for _id, title, _description in rows]
        if len(set(titles)) != len(titles):
            self.add_error("row_1", "Each row needs a title of its own.")
        self.rows = rows
        return cleaned

    def content(self) -> dict:
        data = self.cleaned_data
        return build.choice_list(
            data["body"],
            data["button"],
            [(data.get("section", "") or data["button"], self.rows)],
            header=data.get("header", ""),
            footer=data.get("footer", ""),
        )


class NoteForm(forms.Form):
    text = _text(4000, label="Internal note (never sent)", rows=2)


FORMS = {"text": TextForm, "buttons": ButtonsForm, "list": ListForm}
