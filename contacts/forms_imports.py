"""Admin forms of contact imports: the upload, and the mapping of the file's columns.

The forms turn what staff picked into the mapping of docs/imports.md. The mapping form checks the
consent settings it can see by itself (a wording per opt-in column, a date, a source) all at once,
so staff fix them in one round trip; whether the mapping makes sense is still for
``import_set_mapping`` to say, and its refusal is shown on the field it names
(``ImportMappingForm.add_service_error``).
"""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from contacts.imports.mapping import ATTRIBUTE, FIELD_LABELS, FIELDS, IGNORE, PHONE, TEXT_FIELDS
from contacts.imports.reading import AUTO
from contacts.imports.reading import DELIMITERS as READABLE_DELIMITERS
from contacts.imports.reading import ENCODINGS as READABLE_ENCODINGS
from contacts.models import ConsentWording, ImportKind, Purpose
from core.errors import ApplicationError

ENCODINGS = [(AUTO, "Detect"), *((code, name) for code, name in READABLE_ENCODINGS.items())]
DELIMITERS = [
    (AUTO, "Detect"),
    *(
        (d, name.capitalize() + (f" ( {d} )" if d.isprintable() else ""))
        for d, name in READABLE_DELIMITERS.items()
    ),
]
CONSENT = "consent:"  # + purpose: an opt-in column for that purpose
CONTACT_FIELDS = [
    (IGNORE, "Ignore this column"),
    *(
        (field, FIELD_LABELS[field].removeprefix("the ").capitalize())
        for field in FIELDS
        if field in FIELD_LABELS
    ),
    (ATTRIBUTE, "Custom field…"),
]
CONSENT_FIELDS = [(f"{CONSENT}{purpose}", f"Opt-in: {label.lower()}") for purpose, label in Purpose.choices]
# A suppression list reads the numbers and nothing else (contacts.imports.mapping.check_mapping).
SUPPRESSION_FIELDS = [
    (IGNORE, "Ignore this column"),
    (PHONE, FIELD_LABELS[PHONE].removeprefix("the ").capitalize()),
]
# Fields where a blank cell can mean "clear it" (a row without a number is refused, never blank).
CLEARABLE = {*TEXT_FIELDS, "tags", ATTRIBUTE}


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A CSV file (comma-, semicolon- or tab-separated; UTF-8, with or without BOM, or "
        "Windows-1252) or an Excel workbook (.xlsx), the first row naming the columns."
    )
    kind = forms.ChoiceField(
        label="What the file is",
        choices=ImportKind.choices,
        initial=ImportKind.CONTACTS,
        widget=forms.RadioSelect,
    )
    encoding = forms.ChoiceField(
        choices=ENCODINGS,
        initial=AUTO,
        help_text="How a CSV file's text is stored. “Detect” reads UTF-8 and falls back to Windows-1252.",
    )
    delimiter = forms.ChoiceField(
        label="Column separator",
        choices=DELIMITERS,
        initial=AUTO,
        help_text="What separates a CSV file's cells. “Detect” reads it from the first line.",
    )

    def __init__(self, *args, file_too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = filesizeformat(settings.CONTACT_IMPORT_MAX_BYTES)
        self.fields["file"].help_text += f" At most {self.limit}."
        # The upload handler dropped the file (contacts.admin_imports.ImportSizeLimit): say why,
        # instead of "this field is required".
        self.file_too_large = file_too_large
        if file_too_large:
            self.fields["file"].required = False

    def clean(self):
        data = super().clean()
        if self.file_too_large:
            self.add_error(
                "file",
                f"The file is larger than {self.limit}, the most an import takes: split it into "
                "smaller files.",
            )
        return data


class ImportMappingForm(forms.Form):
    """One row per column of the file (what it is), then the consent or suppression settings.

    Field names per column ``i``: ``col<i>_field`` (the select), ``col<i>_key`` (a custom field's
    key) and ``col<i>_clear`` ("clear when blank"); a suppression list has only the select (phone
    or ignore), the purposes, the region and where the list comes from.
    """

    def __init__(self, *args, contact_import, samples: list[list[str]], **kwargs):
        self.contact_import = contact_import
        self.samples = samples
        self.is_contacts = contact_import.kind == ImportKind.CONTACTS
        kwargs.setdefault("initial", mapping_initial(contact_import.mapping, len(contact_import.header)))
        super().__init__(*args, **kwargs)
        choices = CONTACT_FIELDS + CONSENT_FIELDS if self.is_contacts else SUPPRESSION_FIELDS
        for index, header in enumerate(contact_import.header):
            name = header or f"(no header, column {index + 1})"
            self.fields[f"col{index}_field"] = forms.ChoiceField(
                label=f"Column {index + 1} “{name}” is", choices=choices
            )
            if not self.is_contacts:
                continue
            self.fields[f"col{index}_key"] = forms.CharField(
                label=f"Custom field key of column {index + 1}",
                required=False,
                max_length=64,
                widget=forms.TextInput(attrs={"placeholder": "e.g. customer_no", "size": 14}),
            )
            self.fields[f"col{index}_clear"] = forms.BooleanField(
                label=f"A blank cell in column {index + 1} clears the field", required=False
            )
        if self.is_contacts:
            for purpose, label in Purpose.choices:
                self.fields[f"wording_{purpose}"] = forms.ModelChoiceField(
                    label=f"Wording agreed to ({label.lower()})",
                    queryset=ConsentWording.objects.filter(purpose=purpose).order_by("-created_at", "-pk"),
                    required=False,
                    help_text=f"The exact text the people in a “opt-in: {label.lower()}” column agreed to.",
                )
                self.fields[f"wording_{purpose}"].label_from_instance = _wording_label
            self.fields["consent_date_column"] = forms.TypedChoiceField(
                label="Date of the opt-in, from the column",
                choices=[("", "— none: one date for the whole file —"), *self._column_choices()],
                coerce=int,
                empty_value=None,
                required=False,
                help_text="Each row's own date of opt-in (e.g. the sign-up date).",
            )
            self.fields["consent_date"] = forms.DateField(
                label="…or one date for the whole file",
                required=False,
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                help_text="When these people opted in, if the file has no date column. It never "
                "opts back in someone who opted out since.",
            )
            self.fields["consent_source"] = forms.CharField(
                label="Where and how it was collected",
                required=False,
                max_length=500,
                widget=forms.Textarea(
                    attrs={"rows": 2, "placeholder": "e.g. Loyalty-card form at the shop counter, 2024–2025"}
                ),
                help_text="Kept in every imported consent event's evidence.",
            )
        else:
            self.fields["suppress_purposes"] = forms.MultipleChoiceField(
                label="Record opt-outs for",
                choices=Purpose.choices,
                widget=forms.CheckboxSelectMultiple,
                help_text="Every number in the file is opted out of these purposes.",
                error_messages={"required": "Pick the purposes every number in the list is opted out of."},
            )
            self.fields["consent_source"] = forms.CharField(
                label="Where the list comes from",
                max_length=500,
                widget=forms.Textarea(
                    attrs={"rows": 2, "placeholder": "e.g. Opt-out list of the old SMS provider, 2025-03"}
                ),
                help_text="Kept in every opt-out's evidence: who asked not to be messaged, and how we know.",
                error_messages={
                    "required": "Say where the list comes from (e.g. “Opt-out list of the old SMS "
                    "provider”): it goes into every opt-out's evidence."
                },
            )
        self.fields["region"] = forms.CharField(
            label="Country of numbers without a country code",
            max_length=2,
            required=False,
            widget=forms.TextInput(attrs={"size": 3}),
            help_text="Two letters (e.g. DE), for numbers written like 0151 2345 6789. "
            f"Blank: {settings.PHONE_DEFAULT_REGION}.",
        )

    def _column_choices(self):
        return [
            (index, f"Column {index + 1}: {header}")
            for index, header in enumerate(self.contact_import.header)
        ]

    def column_rows(self):
        """What the mapping table shows: per column, its header, sample values and its three fields."""
        for index, header in enumerate(self.contact_import.header):
            yield {
                "index": index,
                "number": index + 1,
                "header": header,
                "samples": self.samples[index] if index < len(self.samples) else [],
                "field": self[f"col{index}_field"],
                "key": self[f"col{index}_key"] if self.is_contacts else None,
                "clear": self[f"col{index}_clear"] if self.is_contacts else None,
                "errors": [
                    *self[f"col{index}_field"].errors,
                    *(self[f"col{index}_key"].errors if self.is_contacts else []),
                ],
                "is_date_column": "consent_date_column" in self.fields
                and str(self["consent_date_column"].value()) == str(index),
            }

    def consent_fields(self):
        """The consent settings (kind=contacts), in the order the page shows them."""
        names = [f"wording_{purpose}" for purpose in Purpose.values]
        names += ["consent_date_column", "consent_date", "consent_source"]
        return [self[name] for name in names if name in self.fields]

    def clean_region(self):
        return self.cleaned_data["region"].strip().upper()

    def clean(self):
        """Every consent setting missing, each on its field, in one go (the service stops at the first)."""
        data = super().clean()
        if self.is_contacts:
            self._check_consent(data)
        elif "consent_source" in data and not any(ch.isalnum() for ch in data["consent_source"]):
            self.add_error("consent_source", self.fields["consent_source"].error_messages["required"])
        return data

    def _check_consent(self, data: dict) -> None:
        opt_ins = [
            (index, data[f"col{index}_field"].removeprefix(CONSENT))
            for index in range(len(self.contact_import.header))
            if data.get(f"col{index}_field", "").startswith(CONSENT)
        ]
        if not opt_ins:
            return
        for index, purpose in opt_ins:
            if not data.get(f"wording_{purpose}") and f"wording_{purpose}" not in self.errors:
                self.add_error(
                    f"wording_{purpose}",
                    f"Column {index + 1} (“{self.contact_import.header[index]}”) holds opt-ins to "
                    f"{Purpose(purpose).label.lower()}: pick the consent wording these people agreed to.",
                )
        has_column = data.get("consent_date_column") is not None
        has_date = data.get("consent_date") is not None
        if has_column and has_date:
            self.add_error(
                "consent_date_column",
                "Give either the column with each row's date of opt-in or one date for the whole file, "
                "not both.",
            )
        elif not has_column and not has_date and "consent_date" not in self.errors:
            self.add_error(
                "consent_date_column",
                "Say when these people opted in: pick the column with each row's date, or give one date "
                "for the whole file.",
            )
        if (
            not any(ch.isalnum() for ch in data.get("consent_source") or "")
            and "consent_source" not in self.errors
        ):
            self.add_error(
                "consent_source",
                "Say where and how these opt-ins were collected (e.g. “Loyalty-card form at the shop "
                "counter”): it goes into every consent event's evidence.",
            )

    def mapping(self) -> dict:
        """The mapping of docs/imports.md, from the cleaned data (checked by ``import_set_mapping``)."""
        data = self.cleaned_data
        columns, consent = [], []
        for index in range(len(self.contact_import.header)):
            field = data[f"col{index}_field"]
            if field.startswith(CONSENT):
                purpose = field.removeprefix(CONSENT)
                wording = data.get(f"wording_{purpose}")
                consent.append(
                    {"column": index, "purpose": purpose, "wording": wording.pk if wording else None}
                )
                continue
            column = {"column": index, "field": field}
            if not self.is_contacts:
                columns.append(column)
                continue
            if field == ATTRIBUTE:
                column["key"] = data[f"col{index}_key"].strip()
            if field in CLEARABLE:
                column["blank"] = "clear" if data[f"col{index}_clear"] else "keep"
            columns.append(column)
        mapping = {"columns": columns, "region": data["region"] or settings.PHONE_DEFAULT_REGION}
        if self.is_contacts:
            date = data.get("consent_date")
            mapping.update(
                consent=consent,
                consent_date_column=data.get("consent_date_column"),
                consent_date=date.isoformat() if date else None,
                consent_source=(data.get("consent_source") or "").strip(),
            )
        else:
            mapping["suppress_purposes"] = list(data.get("suppress_purposes") or [])
            mapping["consent_source"] = data["consent_source"].strip()
        return mapping

    def add_service_error(self, error: ApplicationError) -> None:
        """Show ``import_set_mapping``'s refusal on the column or setting it names."""
        self.add_error(self._field_of(error), error.message)

    def _field_of(self, error: ApplicationError) -> str | None:
        # check_mapping names the setting in ``field`` and the column or purpose in ``details``.
        column, purpose = error.details.get("column"), error.details.get("purpose")
        if error.field in ("field", "key") and f"col{column}_{error.field}" in self.fields:
            return f"col{column}_{error.field}"
        if error.field == "wording" and f"wording_{purpose}" in self.fields:
            return f"wording_{purpose}"
        return error.field if error.field in self.fields else None


def mapping_initial(mapping: dict, column_count: int) -> dict:
    """The form's initial values from a stored mapping (the one guessed at upload, or the last one)."""
    initial = {f"col{index}_field": IGNORE for index in range(column_count)}
    for column in mapping.get("columns", []):
        index = column.get("column")
        if not isinstance(index, int) or not 0 <= index < column_count:
            continue
        initial[f"col{index}_field"] = column.get("field", IGNORE)
        initial[f"col{index}_key"] = column.get("key", "")
        initial[f"col{index}_clear"] = column.get("blank") == "clear"
    for consent in mapping.get("consent", []):
        index = consent.get("column")
        if isinstance(index, int) and 0 <= index < column_count:
            initial[f"col{index}_field"] = f"{CONSENT}{consent.get('purpose')}"
            if consent.get("wording"):
                initial[f"wording_{consent.get('purpose')}"] = consent["wording"]
    initial["consent_date_column"] = mapping.get("consent_date_column")
    initial["consent_date"] = mapping.get("consent_date")
    initial["consent_source"] = mapping.get("consent_source", "")
    initial["suppress_purposes"] = mapping.get("suppress_purposes", [])
    initial["region"] = mapping.get("region", "")
    return initial


def _wording_label(wording: ConsentWording) -> str:
    text = wording.text if len(wording.text) <= 70 else wording.text[:69] + "…"
    return f"{wording} — {text}"
