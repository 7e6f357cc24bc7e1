"""Which column of a file is which field: guessed from the headers, remembered, and checked.

The mapping's shape is docs/imports.md's ("The mapping"). ``guess_mapping`` reads header names in
English, German, Spanish, Portuguese and French; ``check_mapping`` is the one place that decides
whether a mapping can be staged, so nothing is staged from one it would refuse.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.audience_models import ATTRIBUTE_KEY
from contacts.imports.cells import CellError, parse_moment
from contacts.models import ConsentWording, ImportKind, ImportMapping, Purpose
from core.errors import ApplicationError

PHONE, ATTRIBUTE, IGNORE = "phone", "attribute", "ignore"
TEXT_FIELDS = ("first_name", "last_name", "language", "country", "time_zone")
FIELDS = (PHONE, *TEXT_FIELDS, "tags", ATTRIBUTE, IGNORE)
FIELD_LABELS = {
    PHONE: "the phone number",
    "first_name": "first name",
    "last_name": "last name",
    "language": "language",
    "country": "country",
    "time_zone": "time zone",
    "tags": "tags",
}
KEEP, CLEAR = "keep", "clear"
SOURCE_MAX_LENGTH = 500
# The last column of the refused rows' download (contacts.imports.preview.import_refused_csv):
# a fixed file uploaded again carries it, and is still the file whose mapping was remembered.
REASON_COLUMN = "reason"

# Header words per field, normalised (lower case, no accents, words separated by one space).
# A header equal to one of them is that field; otherwise a header containing one as whole words is.
_WORDS = {
    "consent_date": [
        "consent date", "opt in date", "optin date", "date of consent", "date of opt in", "signup date",
        "sign up date", "subscribed", "subscribed at", "einwilligungsdatum", "datum der einwilligung",
        "anmeldedatum", "fecha de consentimiento", "fecha de alta", "data do consentimento",
        "data de consentimento", "date de consentement", "date d inscription",
    ],
    "consent": [
        "consent", "marketing", "opt in", "optin", "whatsapp opt in", "newsletter", "einwilligung",
        "zustimmung", "marketing einwilligung", "consentimiento", "consentimento", "consentement",
        "accepts marketing",
    ],
    PHONE: [
        "phone", "phone number", "telephone", "tel", "mobile", "mobile number", "mobile phone", "cell",
        "cellphone", "cell phone", "whatsapp", "whatsapp number", "msisdn", "number", "telefon",
        "telefonnummer", "handy", "handynummer", "mobil", "mobilnummer", "mobiltelefon", "rufnummer",
        "telefono", "numero de telefono", "movil", "celular", "numero de celular", "telefone",
        "numero de telefone", "telemovel", "portable", "numero de telephone", "telephone portable",
    ],
    "first_name": [
        "first name", "firstname", "given name", "forename", "vorname", "nombre", "primer nombre",
        "nome", "primeiro nome", "prenom",
    ],
    "last_name": [
        "last name", "lastname", "surname", "family name", "nachname", "familienname", "apellido",
        "apellidos", "sobrenome", "apelido", "nom", "nom de famille",
    ],
    "language": ["language", "lang", "locale", "sprache", "idioma", "lingua", "langue"],
    "country": ["country", "country code", "land", "pais", "pays", "pais de residencia"],
    "time_zone": [
        "time zone", "timezone", "tz", "zeitzone", "zona horaria", "fuso horario", "fuseau horaire",
    ],
    "tags": ["tags", "tag", "labels", "label", "schlagworte", "schlagwort", "etiquetas", "etiquettes"],
}  # fmt: skip
# A bare date column is the opt-in date only when the file has an opt-in column.
_DATE_WORDS = ["date", "datum", "fecha", "data"]
# A consent word with one of these ("Einwilligung am", "Opt-in since", "Consentement le") names the
# date of the opt-in, not the opt-in itself.
_DATE_PARTS = {"am", "datum", "date", "on", "fecha", "data", "le", "since", "seit"}


def normalise_header(name: str) -> str:
    """Lower case, accents dropped, anything but letters and digits a single space."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(re.split(r"[^a-z0-9]+", plain)).strip()


def header_key(header: list[str], kind: str) -> str:
    """The key a mapping is remembered under: the kind and the normalised headers, in order.

    A trailing ``reason`` column (exactly as the refused rows' download names it) is left out, so
    the fixed refused rows find the mapping of the file they came from.
    """
    text = "\x1f".join([kind, *(normalise_header(name) for name in _without_reason(header))])
    return hashlib.sha256(text.encode()).hexdigest()


def initial_mapping(header: list[str], kind: str) -> dict:
    """The mapping staff last confirmed for these headers, or else one guessed from them."""
    remembered = ImportMapping.objects.filter(header_key=header_key(header, kind)).first()
    if remembered is not None and isinstance(remembered.mapping, dict):
        return _fitted(remembered.mapping, header)
    return guess_mapping(header, kind)


def _without_reason(header: list[str]) -> list[str]:
    if len(header) > 1 and header[-1] == REASON_COLUMN:
        return header[:-1]
    return header


def _fitted(mapping: dict, header: list[str]) -> dict:
    """A remembered mapping made to fit this file: with or without the download's reason column
    (which is ignored), so it names no column the file does not have."""
    width = len(header)

    def inside(entry) -> bool:
        return isinstance(entry, dict) and isinstance(entry.get("column"), int) and entry["column"] < width

    columns = [entry for entry in mapping.get("columns") or [] if inside(entry)]
    consent = [entry for entry in mapping.get("consent") or [] if inside(entry)]
    date_column = mapping.get("consent_date_column")
    if not (isinstance(date_column, int) and date_column < width):
        date_column = None
    used = {entry["column"] for entry in columns + consent} | {date_column}
    if len(_without_reason(header)) < width and width - 1 not in used:
        columns.append({"column": width - 1, "field": IGNORE})
    return {**mapping, "columns": columns, "consent": consent, "consent_date_column": date_column}


def remember_mapping(header: list[str], kind: str, mapping: dict) -> None:
    """Offer this mapping for the next file with the same headers (without its one date: a date
    for a whole file is that file's fact, and must be given again)."""
    kept = {**mapping, "consent_date": None}
    ImportMapping.objects.update_or_create(header_key=header_key(header, kind), defaults={"mapping": kept})


def guess_mapping(header: list[str], kind: str) -> dict:
    """A first mapping from the header names; staff check and complete it (a consent column still
    needs its wording, the date and the source)."""
    names = [normalise_header(name) for name in header]
    found: dict[str, int] = {}
    fields = list(_WORDS) if kind == ImportKind.CONTACTS else [PHONE]
    for exact in (True, False):
        for field in fields:
            if field in found:
                continue
            for index, name in enumerate(names):
                if index in found.values():
                    continue
                if _matches(name, _WORDS[field], exact=exact) or (
                    field == "consent_date" and not exact and _is_consent_date(name)
                ):
                    found[field] = index
                    break
    if "consent" in found and "consent_date" not in found:
        for index, name in enumerate(names):
            if index not in found.values() and _matches(name, _DATE_WORDS, exact=False):
                found["consent_date"] = index
                break
    columns = []
    for index in range(len(header)):
        field = next((f for f, i in found.items() if i == index), IGNORE)
        if field in ("consent", "consent_date"):
            continue
        entry = {"column": index, "field": field}
        if field in TEXT_FIELDS or field == "tags":
            entry["blank"] = KEEP
        columns.append(entry)
    consent = []
    if "consent" in found:
        consent.append({"column": found["consent"], "purpose": Purpose.MARKETING, "wording": None})
    return {
        "columns": columns,
        "consent": consent,
        "consent_date_column": found.get("consent_date") if consent else None,
        "consent_date": None,
        "consent_source": "",
        "suppress_purposes": list(Purpose.values) if kind == ImportKind.SUPPRESSION else [],
        "region": settings.PHONE_DEFAULT_REGION,
    }


def _is_consent_date(name: str) -> bool:
    return _matches(name, _WORDS["consent"], exact=False) and not _DATE_PARTS.isdisjoint(name.split())


def _matches(name: str, words: list[str], *, exact: bool) -> bool:
    if exact:
        return name in words
    padded = f" {name} "
    return any(f" {word} " in padded for word in words)


# --- Checking a mapping ---------------------------------------------------------------------------


def check_mapping(mapping, *, header: list[str], kind: str) -> dict:
    """The mapping in its full shape, or ApplicationError naming the column or setting that is wrong.

    The error's ``field`` names the setting (``field``/``key`` of a column, ``wording``,
    ``consent_date_column``, ``consent_date``, ``consent_source``, ``suppress_purposes``,
    ``region``) and its details name the column index or the purpose.
    """
    if not isinstance(mapping, dict):
        raise _error("The mapping must be a JSON object (docs/imports.md).", "mapping_invalid", "mapping")
    checker = _Checker(header)
    columns = checker.columns(mapping.get("columns"), kind=kind)
    region = _region(mapping.get("region"))
    if kind == ImportKind.SUPPRESSION:
        return {
            "columns": columns,
            "consent": [],
            "consent_date_column": None,
            "consent_date": None,
            # Where the list comes from: the opt-outs' evidence (the admin form requires it).
            "consent_source": _source(mapping.get("consent_source"), required=False),
            "suppress_purposes": _purposes(mapping.get("suppress_purposes")),
            "region": region,
        }
    consent = checker.consent(mapping.get("consent"))
    date_column, one_date, source = None, None, ""
    if consent:
        date_column, one_date = checker.consent_date(
            mapping.get("consent_date_column"), mapping.get("consent_date")
        )
        source = _source(mapping.get("consent_source"))
    return {
        "columns": columns,
        "consent": consent,
        "consent_date_column": date_column,
        "consent_date": one_date,
        "consent_source": source,
        "suppress_purposes": [],
        "region": region,
    }


class _Checker:
    """Checks the parts of one mapping, keeping track of which column is used for what."""

    def __init__(self, header: list[str]):
        self.header = header
        self.used: dict[int, str] = {}

    def name(self, index: int, *, first: bool = False) -> str:
        """The column as staff see it, numbered from 1; ``first`` to begin a sentence."""
        return f"{'Column' if first else 'column'} {index + 1} (“{self.header[index]}”)"

    def index(self, value, *, field: str, details: dict | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(self.header):
            raise _error(
                f"{value!r} is not a column of this file, which has {len(self.header)} columns "
                f"(numbered from 0 in the mapping).",
                "mapping_bad_column",
                field,
                details,
            )
        return value

    def use(self, index: int, what: str, *, field: str, details: dict) -> None:
        if index in self.used:
            raise _error(
                f"{self.name(index, first=True)} is mapped twice: to {self.used[index]} and to {what}. "
                "A column is one thing.",
                "mapping_column_twice",
                field,
                details,
            )
        self.used[index] = what

    def columns(self, entries, *, kind: str) -> list[dict]:
        if not isinstance(entries, list):
            raise _error("The mapping has no list of columns.", "mapping_invalid", "mapping")
        kept: list[dict] = []
        fields: dict[str, int] = {}
        keys: dict[str, int] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise _error(
                    "Each column of the mapping must be a JSON object.", "mapping_invalid", "mapping"
                )
            index = self.index(entry.get("column"), field="field")
            details = {"column": index}
            field = entry.get("field")
            if kind == ImportKind.SUPPRESSION and field != PHONE:
                continue  # a suppression list reads numbers only
            if field not in FIELDS:
                raise _error(
                    f"{self.name(index, first=True)}: “{field}” is not a field an import fills; "
                    f"use one of: {', '.join(FIELDS)}.",
                    "mapping_unknown_field",
                    "field",
                    details,
                )
            if field == IGNORE:
                continue
            blank = entry.get("blank") or KEEP
            if blank not in (KEEP, CLEAR):
                raise _error(
                    f"{self.name(index, first=True)}: a blank cell may keep or clear the field, "
                    f"not “{blank}”.",
                    "mapping_invalid",
                    "field",
                    details,
                )
            checked = {"column": index, "field": field}
            if field == ATTRIBUTE:
                key = self._attribute_key(entry.get("key"), index)
                if key in keys:
                    raise _error(
                        f"{self.name(keys[key], first=True)} and {self.name(index)} are both the custom "
                        f"field “{key}”: map one of them.",
                        "mapping_field_twice",
                        "key",
                        details,
                    )
                keys[key] = index
                checked["key"] = key
                what = f"the custom field “{key}”"
            else:
                if field in fields:
                    raise _error(
                        f"{self.name(fields[field], first=True)} and {self.name(index)} are both mapped "
                        f"to {FIELD_LABELS[field]}: map one of them.",
                        "mapping_field_twice",
                        "field",
                        details,
                    )
                fields[field] = index
                what = FIELD_LABELS[field]
            if field != PHONE:
                checked["blank"] = blank
            self.use(index, what, field="field", details=details)
            kept.append(checked)
        if PHONE not in fields:
            raise _error(
                "No column is mapped to the phone number: pick the column that holds the numbers.",
                "mapping_no_phone",
                "mapping",
            )
        return kept

    def _attribute_key(self, key, index: int) -> str:
        key = key.strip() if isinstance(key, str) else ""
        try:
            ATTRIBUTE_KEY(key)
        except ValidationError as exc:
            shown = f"“{key}”" if key else "no key"
            raise _error(
                f"{self.name(index, first=True)} is a custom field with {shown}: {exc.messages[0]}",
                "mapping_bad_key",
                "key",
                {"column": index},
            ) from exc
        return key

    def consent(self, entries) -> list[dict]:
        if entries in (None, []):
            return []
        if not isinstance(entries, list):
            raise _error("The mapping's consent columns must be a list.", "mapping_invalid", "mapping")
        checked, purposes = [], {}
        for entry in entries:
            if not isinstance(entry, dict):
                raise _error("Each consent column must be a JSON object.", "mapping_invalid", "mapping")
            index = self.index(entry.get("column"), field="field")
            purpose = entry.get("purpose")
            details = {"column": index, "purpose": purpose}
            if purpose not in Purpose.values:
                raise _error(
                    f"{self.name(index, first=True)}: “{purpose}” is not a purpose of consent; use one of: "
                    f"{', '.join(Purpose.values)}.",
                    "mapping_bad_purpose",
                    "field",
                    details,
                )
            label = Purpose(purpose).label.lower()
            if purpose in purposes:
                raise _error(
                    f"{self.name(purposes[purpose], first=True)} and {self.name(index)} are both opt-ins to "
                    f"{label}: map one of them.",
                    "mapping_field_twice",
                    "field",
                    details,
                )
            purposes[purpose] = index
            self.use(index, f"the opt-in to {label}", field="field", details=details)
            checked.append(
                {"column": index, "purpose": purpose, "wording": self._wording(entry, purpose, index)}
            )
        return checked

    def _wording(self, entry: dict, purpose: str, index: int) -> int:
        wording_id = entry.get("wording")
        details = {"column": index, "purpose": purpose}
        label = Purpose(purpose).label.lower()
        if wording_id in (None, ""):
            raise _error(
                f"{self.name(index, first=True)} holds opt-ins to {label}: pick the consent wording "
                "these people agreed to.",
                "mapping_wording_required",
                "wording",
                details,
            )
        wording = None
        if isinstance(wording_id, int) and not isinstance(wording_id, bool):
            wording = ConsentWording.objects.filter(pk=wording_id).first()
        if wording is None:
            raise _error(
                f"Consent wording {wording_id!r} does not exist: pick one from the list.",
                "mapping_wording_unknown",
                "wording",
                details,
            )
        if wording.purpose != purpose:
            raise _error(
                f"The wording “{wording}” is for {wording.get_purpose_display().lower()}, but "
                f"{self.name(index)} holds opt-ins to {label}.",
                "mapping_wording_purpose",
                "wording",
                details,
            )
        return wording.pk

    def consent_date(self, column, one_date) -> tuple[int | None, str | None]:
        has_column = column not in (None, "")
        has_date = one_date not in (None, "")
        if has_column == has_date:
            message = (
                "Give either the column with each row's date of opt-in or one date for the whole file, "
                "not both."
                if has_column
                else "Say when these people opted in: pick the column with each row's date, or give one "
                "date for the whole file."
            )
            raise _error(message, "mapping_consent_date", "consent_date_column")
        if has_column:
            index = self.index(column, field="consent_date_column")
            self.use(index, "the date of opt-in", field="consent_date_column", details={"column": index})
            return index, None
        return None, _one_date(one_date)


def _one_date(value) -> str:
    if isinstance(value, date):
        value = value.isoformat()
    try:
        moment, _ = parse_moment(value if isinstance(value, str) else "")
    except CellError as exc:
        raise _error(f"“{value}” {exc.message}.", "mapping_consent_date", "consent_date") from exc
    if moment.date() > timezone.localdate():
        raise _error(
            f"The date of opt-in {moment.date():%Y-%m-%d} is in the future: give the date the people "
            "actually opted in.",
            "mapping_consent_date",
            "consent_date",
        )
    return moment.date().isoformat()


def _source(value, *, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not required and not text:
        return ""
    if not any(ch.isalnum() for ch in text):
        raise _error(
            "Say where and how these opt-ins were collected (e.g. “Loyalty-card form at the shop "
            "counter”): it goes into every consent event's evidence.",
            "mapping_source_required",
            "consent_source",
        )
    if len(text) > SOURCE_MAX_LENGTH:
        raise _error(
            f"The description of where the opt-ins were collected is {len(text)} characters long; "
            f"keep it under {SOURCE_MAX_LENGTH}.",
            "mapping_source_too_long",
            "consent_source",
        )
    return text


def _purposes(value) -> list[str]:
    purposes = value if isinstance(value, list) else []
    unknown = [p for p in purposes if p not in Purpose.values]
    if unknown or not purposes:
        raise _error(
            "Pick the purposes every number in the list is opted out of "
            f"({', '.join(Purpose.values)})" + (f"; “{unknown[0]}” is none of them." if unknown else "."),
            "mapping_suppress_purposes",
            "suppress_purposes",
        )
    return list(dict.fromkeys(purposes))


def _region(value) -> str:
    region = (value.strip().upper() if isinstance(value, str) else "") or settings.PHONE_DEFAULT_REGION
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise _error(
            f"“{region}” is not a two-letter country code such as DE: numbers without a country code "
            "are read as that country's.",
            "mapping_bad_region",
            "region",
        )
    return region


def _error(message: str, code: str, field: str, details: dict | None = None) -> ApplicationError:
    return ApplicationError(message, code=code, field=field, details=details)
