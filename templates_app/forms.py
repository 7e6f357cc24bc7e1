"""The template editor's forms: every broken Meta rule is an error on the field it concerns."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from django import forms
from django.contrib.admin.widgets import AdminFileWidget
from django.core.files.uploadedfile import UploadedFile
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from templates_app.drafts import PENDING_UPLOAD_HANDLE, Draft, DraftButton, DraftCard, field_errors
from templates_app.models import Category, HeaderKind, MessageTemplate, TemplateCard, TemplateKind

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


class _LinkedSample:
    """A saved sample as the file widget shows it: its name, linked to the staff-only sample view."""

    def __init__(self, file, url: str):
        self.file, self.url = file, url

    def __str__(self) -> str:
        return str(self.file)


class SampleFileInput(AdminFileWidget):
    """The admin's file widget whose "Currently: …" link opens the sample through the template admin.

    Sample files are not under any public URL (nothing serves MEDIA_URL); ``sample_url`` is set by
    the form for a saved row, and without it the file's name is shown with no link at all.
    """

    sample_url = ""

    def format_value(self, value):
        value = super().format_value(value)
        if self.is_initial(value):
            return _LinkedSample(value, self.sample_url)
        return value

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if context["widget"]["is_initial"] and not self.sample_url:
            context["widget"]["is_initial"] = False  # never a link that cannot open
        return context


def header_sample_url(template_id) -> str:
    return reverse("admin:templates_app_messagetemplate_sample_header", args=[template_id])


def card_sample_url(template_id, card_id) -> str:
    return reverse("admin:templates_app_messagetemplate_sample_card", args=[template_id, card_id])


MB = 1024 * 1024


@dataclass(frozen=True)
class SampleRule:
    """What a media sample of one header kind may be: Meta's types for template samples, and sizes."""

    label: str  # what the sample must be, in words
    max_bytes: int
    extensions: dict[str, str]  # file name extension → MIME type


# Meta's Resumable Upload API takes JPEG, PNG, MP4 and PDF samples (docs/meta-facts.md 8.2); the
# sizes are Meta's media limits for each kind (image 5 MB, video 16 MB, document 100 MB).
SAMPLE_RULES = {
    HeaderKind.IMAGE: SampleRule(
        "a JPEG or PNG image", 5 * MB, {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
    ),
    HeaderKind.VIDEO: SampleRule("an MP4 video", 16 * MB, {".mp4": "video/mp4"}),
    HeaderKind.DOCUMENT: SampleRule("a PDF document", 100 * MB, {".pdf": "application/pdf"}),
}


def _content_type(head: bytes) -> str:
    """The sample type the file's first bytes show ("" when none): a renamed file is caught here."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp" and head[8:11] != b"3gp":
        return "video/mp4"
    if head.startswith(b"%PDF"):
        return "application/pdf"
    return ""


def sample_file_problem(file, *, kind: str, what: str = "The sample") -> str | None:
    """Why ``file`` cannot be the sample of a ``kind`` header, or None. A new upload is read (its first
    bytes and size); a stored file is judged by its name, as submission does."""
    rule = SAMPLE_RULES.get(kind)
    if rule is None or not file:
        return None
    name = posixpath.basename(file.name or "")
    mime = rule.extensions.get(posixpath.splitext(name.lower())[1])
    if mime is None:
        return f"{what} “{name}” must be {rule.label} for a {kind.lower()} header."
    if not isinstance(file, UploadedFile):
        return None
    if file.size is not None and file.size > rule.max_bytes:
        return (
            f"{what} “{name}” has {file.size / MB:.1f} MB; WhatsApp takes at most "
            f"{rule.max_bytes // MB} MB for {rule.label}."
        )
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    if _content_type(head) != mime:
        return f"{what} “{name}” is not {rule.label} inside, whatever its name says: choose the file again."
    return None


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
            "kind",
            "header_kind",
            "header_text",
            "header_sample",
            "header_media",
            "offer_text",
            "offer_has_expiration",
            "body",
            "body_samples",
            "footer",
            *AUTHENTICATION_FIELDS,
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 6}), "header_media": SampleFileInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "header_media" in self.fields:
            self.fields["header_media"].widget.sample_url = header_sample_url(self.instance.pk)
        # A form posted without the format (an older page, a script) means a standard message.
        if "kind" in self.fields:  # read-only for viewers
            self.fields["kind"].required = False
            self.fields["kind"].help_text = (
                "Carousels and limited-time offers are marketing templates. Product card carousels and "
                "single- or multi-product messages are not supported yet: they need a Meta commerce "
                "catalog, which this product does not connect."
            )

    def clean_kind(self):
        return self.cleaned_data.get("kind") or TemplateKind.STANDARD

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == TemplateKind.CAROUSEL:
            # The draft leaves these out of a carousel; say so rather than drop what was typed.
            if cleaned.get("header_kind"):
                self.add_error(
                    "header_kind",
                    "A carousel has no header of its own: each card carries its image or video. "
                    "Choose “No header”.",
                )
            if cleaned.get("footer"):
                self.add_error("footer", "A carousel has no footer: clear it.")
        if kind in (TemplateKind.CAROUSEL, TemplateKind.LIMITED_TIME_OFFER) and (
            cleaned.get("category") == Category.AUTHENTICATION
        ):
            self.add_error(
                "kind",
                "Carousels and limited-time offers are marketing templates: choose the Marketing "
                "category, or the standard format.",
            )
        self._refuse_unsent_header_text(cleaned)
        if cleaned.get("header_media") and cleaned.get("header_kind"):
            problem = sample_file_problem(
                cleaned["header_media"], kind=cleaned["header_kind"], what="The header sample"
            )
            if problem:
                self.add_error("header_media", problem)
        return cleaned

    def _refuse_unsent_header_text(self, cleaned) -> None:
        """Header text and its sample go only with a text header: anything else would be kept in the
        draft, never submitted nor previewed — so it is refused where it was typed."""
        header_kind = cleaned.get("header_kind")
        if header_kind == HeaderKind.TEXT or "header_kind" not in cleaned:
            return
        if header_kind:
            label = HeaderKind(header_kind).name.lower() if header_kind in HeaderKind.values else "media"
            text_problem = f"A {label} header has no text; clear it."
            sample_problem = f"A {label} header has no text sample; clear it."
        else:
            text_problem = "There is no header: clear the header text, or choose a text header."
            sample_problem = "There is no header: clear the header sample, or choose a text header."
        code = "header_location_content" if header_kind == HeaderKind.LOCATION else "header_text_unused"
        if (cleaned.get("header_text") or "").strip():
            self.add_error("header_text", forms.ValidationError(text_problem, code=code))
        if (cleaned.get("header_sample") or "").strip():
            self.add_error("header_sample", forms.ValidationError(sample_problem, code=code))

    def _post_clean(self):
        """Meta's rules on everything but the button and card rows (their formsets check those).

        Runs after the instance is built from the form, so the draft validated is exactly the one
        that will be saved.
        """
        super()._post_clean()
        if self.errors:
            return
        draft = Draft.from_template(self.instance, buttons=[], cards=[])
        authentication = draft.category == Category.AUTHENTICATION
        for error in field_errors(draft, draft.violations()):
            if error.card is not None:
                continue  # carousel rules are reported on the card rows
            if error.button is not None and not authentication:
                continue  # button rules are reported on the button rows
            self.add_error(error.field if error.field in self.fields else None, error.message)


def _rows(formset) -> list[forms.Form]:
    """The formset's filled rows that stay, in their position order."""
    rows = [
        form
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE") and formset.row_is_filled(form)
    ]
    rows.sort(key=lambda form: form.cleaned_data.get("position") or 0)
    return rows


class TemplateButtonFormSet(BaseInlineFormSet):
    """Checks the buttons against Meta's rules together with the template they belong to."""

    @staticmethod
    def row_is_filled(form) -> bool:
        return bool(form.cleaned_data.get("kind"))

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms):
            return
        rows = _rows(self)
        if self.instance.category == Category.AUTHENTICATION:
            if rows:
                raise forms.ValidationError(
                    "Authentication templates carry only the code button set above; remove these buttons."
                )
            return
        if self.instance.kind == TemplateKind.CAROUSEL:
            if rows:
                raise forms.ValidationError(
                    "A carousel has no buttons of its own: each card carries its buttons. Remove these "
                    "buttons, or add them to the cards."
                )
            return
        buttons = [DraftButton.from_data(row.cleaned_data.get) for row in rows]
        draft = Draft.from_template(self.instance, buttons=buttons, cards=[])
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


CARD_BUTTON_FIELDS = ("kind", "text", "url", "url_sample", "phone_number")


class TemplateCardForm(forms.ModelForm):
    """One carousel card: its media sample is checked here, Meta's rules by the formset."""

    body_samples = SamplesField(
        required=False, label="Card text samples", help_text="One per line: “1: BLUE_ELF”."
    )

    class Meta:
        model = TemplateCard
        fields = [
            "position",
            "header_kind",
            "header_media",
            "body",
            "body_samples",
            *(f"button1_{name}" for name in CARD_BUTTON_FIELDS),
            *(f"button2_{name}" for name in CARD_BUTTON_FIELDS),
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 3}), "header_media": SampleFileInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "header_media" in self.fields:
            self.fields["header_media"].widget.sample_url = card_sample_url(
                self.instance.template_id, self.instance.pk
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("button2_kind") and not cleaned.get("button1_kind"):
            self.add_error("button2_kind", "Fill button 1 first: a card's buttons are read in order.")
        media = cleaned.get("header_media")
        kind = cleaned.get("header_kind")
        if media and kind and (isinstance(media, UploadedFile) or "header_kind" in self.changed_data):
            problem = sample_file_problem(media, kind=kind, what="The card's sample")
            if problem:
                self.add_error("header_media", problem)
        return cleaned

    def sample_handle(self) -> str:
        """The handle validation sees for this card: a chosen file counts as a sample to upload."""
        media = self.cleaned_data.get("header_media")
        if isinstance(media, UploadedFile):
            return PENDING_UPLOAD_HANDLE
        if media:
            return self.instance.header_handle or PENDING_UPLOAD_HANDLE
        if media is False:  # "clear" ticked
            return ""
        return self.instance.header_handle  # a card imported from WhatsApp: Meta's handle, no file

    def save(self, commit=True):
        if self.cleaned_data.get("header_media") is False:
            # The sample is gone: its uploaded handle no longer stands for anything here.
            self.instance.header_handle = self.instance.header_handle_for = ""
        return super().save(commit)


class TemplateCardFormSet(BaseInlineFormSet):
    """Checks a carousel's cards against Meta's rules together with the template they belong to."""

    @staticmethod
    def row_is_filled(form) -> bool:
        return True  # an untouched extra card has no cleaned data; every other row is a card

    def clean(self):
        super().clean()
        if any(form.errors for form in self.forms):
            return
        rows = _rows(self)
        if self.instance.kind != TemplateKind.CAROUSEL:
            if rows:
                raise forms.ValidationError(
                    "Only a carousel has cards: delete these cards, or choose “Media card carousel” as "
                    "the format."
                )
            return
        if self.instance.category == Category.AUTHENTICATION:
            return  # the format itself is refused on the template's fields
        cards = [DraftCard.from_data(row.cleaned_data.get, header_handle=row.sample_handle()) for row in rows]
        draft = Draft.from_template(self.instance, buttons=[], cards=cards)
        form_level = []
        for error in field_errors(draft, draft.violations()):
            if error.card is None:
                continue  # shown on the template's own fields
            if 0 <= error.card < len(rows):
                form = rows[error.card]
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                form_level.append(error.message)
        if form_level:
            raise forms.ValidationError(form_level)
