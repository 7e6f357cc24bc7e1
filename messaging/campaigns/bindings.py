"""Where each variable of a campaign's template gets its value, for each contact.

``Campaign.bindings`` (docs/campaign-content.md)::

    {"body":    {"<var>": {"source": "field" | "attribute" | "literal",
                           "value": "first_name" | "<custom field key>" | "<text>",
                           "fallback": "<text or empty>",
                           "format": "" | "upper" | "lower" | "title" | "date:<strftime>"}},
     "header":  {"<var>": {...}},            # a text header's variable
     "buttons": {"<button index>": {...}}}   # a link button's suffix, a coupon code

A contact's value is normalised before it is sent — every run of whitespace becomes one space,
ends trimmed — because WhatsApp refuses a variable with a line break, a tab or more than four
spaces, and a contact's data may hold them. A value that is empty after that (or, for a date
format, not a ``YYYY-MM-DD`` date; for a coupon code, longer than 15 characters) is *missing*:
the fallback is sent as written, and without a fallback the contact is excluded with reason
"missing variable" — :func:`missing_value_q` is that rule in SQL (per language:
:func:`language_missing_value_q`, a variable counting only for those who get a translation with
it), :func:`contact_parameters` in Python, and the tests hold them to each other on both databases.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import Any
from urllib.parse import quote

from django.db.models import Q

from contacts.models import AttributeDefinition, AttributeType, Contact
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.binding_sql import WHITESPACE, AttributePresent, TextPresent
from messaging.campaigns.languages import (
    CampaignContent,
    LanguageContent,
    campaign_content,
    gets_language_q,
)
from templates_app.components import (
    ButtonType,
    HeaderFormat,
    ParameterFormat,
    body_examples,
    body_of,
    button_example,
    button_type,
    button_url,
    buttons_of,
    header_examples,
    header_format,
    header_of,
    text_of,
    url_has_variable,
    url_static_part,
    variable_names,
)
from templates_app.parameters import (
    COUPON_CODE_MAX_LENGTH,
    MAX_CONSECUTIVE_SPACES,
    REFUSE_LAYOUT_CHARACTERS_IN_TEXT_PARAMETERS,
    TEXT_PARAMETER_MAX_LENGTH,
)

BINDABLE_FIELDS = ("first_name", "last_name", "full_name", "phone", "country", "language")
SECTIONS = ("header", "body", "buttons")
SOURCES = ("field", "attribute", "literal")
CASE_FORMATS = ("upper", "lower", "title")
DATE_PREFIX = "date:"
# strftime directives a date format may use: day, month, year, weekday and day of the year. Names
# of months and days are English (Python's C locale): use numbers for other languages.
DATE_DIRECTIVES = frozenset("dmyYbBaAj%")
DATE_FORMAT_MAX_LENGTH = 64
BINDING_KEYS = frozenset({"source", "value", "fallback", "format"})
# Characters a link suffix keeps as they are: RFC 3986's reserved and unreserved ones, and "%" so
# a suffix already encoded is not encoded twice. Everything else (spaces, umlauts) is %-encoded.
URL_SAFE = ":/?#[]@!$&'()*+,;=-._~%"

_WHITESPACE_RUN = re.compile(f"[{re.escape(WHITESPACE)}]+")
_LAYOUT = re.compile(r"[\n\r\t]| {" + str(MAX_CONSECUTIVE_SPACES + 1) + ",}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TITLE_WORD_START = re.compile(r"(^|[\s\-])(\w)")


@dataclass(frozen=True)
class Slot:
    """One value a template language needs: a text header's or the body's variable, or a button's."""

    section: str  # "header", "body" or "buttons"
    name: str  # the variable's name, or the button's index
    kind: str  # "text", "url" (a link's suffix) or "code" (a coupon code)
    sample: str = ""  # the template's own sample for it, if any

    @property
    def label(self) -> str:
        if self.section == "buttons":
            what = "link suffix" if self.kind == "url" else "coupon code"
            return f"the {what} of button {int(self.name) + 1}"
        return f"{{{{{self.name}}}}} in the {self.section}"

    @property
    def max_length(self) -> int | None:
        return COUPON_CODE_MAX_LENGTH if self.kind == "code" else None


def template_slots(components: Any) -> list[Slot]:
    """The values a template version takes, in order: header, body, buttons."""
    slots: list[Slot] = []
    header = header_of(components)
    if header_format(header) == HeaderFormat.TEXT:
        samples = header_examples(header)
        slots += [Slot("header", n, "text", samples.get(n, "")) for n in variable_names(text_of(header))]
    body = body_of(components)
    samples = body_examples(body)
    slots += [Slot("body", n, "text", samples.get(n, "")) for n in variable_names(text_of(body))]
    for index, button in enumerate(buttons_of(components)):
        kind = button_type(button)
        if kind == ButtonType.URL and url_has_variable(button):
            static, example = url_static_part(button_url(button)), button_example(button)
            sample = example[len(static) :] if example.startswith(static) else ""
            slots.append(Slot("buttons", str(index), "url", sample))
        elif kind == ButtonType.COPY_CODE:
            slots.append(Slot("buttons", str(index), "code", button_example(button)))
    return slots


def is_button_index(name: str) -> bool:
    """A button binding's key: the button's index in ASCII digits ("0", "1", …). Not
    ``str.isdigit()`` alone, which is True for "²" — and ``int("²")`` raises."""
    return name.isascii() and name.isdigit() and len(name) < 3


def _binding(bindings: Any, section: str, name: str) -> Mapping[str, Any] | None:
    entries = bindings.get(section) if isinstance(bindings, Mapping) else None
    entry = entries.get(name) if isinstance(entries, Mapping) else None
    return entry if isinstance(entry, Mapping) else None


def _text(binding: Mapping[str, Any], key: str) -> str:
    value = binding.get(key, "")
    return value if isinstance(value, str) else ""


def _blank(text: str) -> bool:
    return not text.strip(WHITESPACE)


def normalise(text: str) -> str:
    """Every run of whitespace one space, ends trimmed: what WhatsApp accepts in a variable."""
    return _WHITESPACE_RUN.sub(" ", text).strip(" ")


# --- problems ----------------------------------------------------------------------------------


def binding_problems(campaign: Campaign) -> list[str]:
    """Every reason the bindings cannot fill the campaign's template, in words staff act on:
    unbound variables (naming the languages), unknown fields or custom fields, empty texts without
    a fallback, texts WhatsApp would refuse, bad formats. Empty when the bindings are complete."""
    content = campaign_content(campaign)
    bindings = content.bindings
    problems = _shape_problems(bindings)
    if problems:
        return problems
    slots_by_language = {code: template_slots(item.components) for code, item in content.languages.items()}
    attribute_types = dict(AttributeDefinition.objects.values_list("key", "type"))
    unbound: dict[tuple[str, str], list[str]] = {}
    used: dict[tuple[str, str], list[Slot]] = {}
    for code, slots in sorted(slots_by_language.items()):
        for slot in slots:
            key = (slot.section, slot.name)
            if _binding(bindings, *key) is None:
                unbound.setdefault(key, []).append(code)
            else:
                used.setdefault(key, []).append(slot)
    languages = len(slots_by_language)
    for (section, name), codes in unbound.items():
        slot = next(s for s in slots_by_language[codes[0]] if (s.section, s.name) == (section, name))
        where = "" if len(codes) == languages == 1 else f" ({', '.join(codes)})"
        problems.append(
            f"{_capital(slot.label)}{where} is not bound: choose a contact field, a custom field or a text."
        )
    for section in SECTIONS:
        for name in bindings.get(section, {}):
            if (section, name) not in used:
                if section != "buttons":
                    label = f"variable {{{{{name}}}}} in its {section}"
                elif is_button_index(str(name)):
                    label = f"button {int(name) + 1} that takes a value"
                else:
                    label = f"button “{name}” (buttons are bound by their index: 0, 1, …)"
                problems.append(f"The template has no {label} in any language; remove its binding.")
    for (section, name), slots in used.items():
        binding = _binding(bindings, section, name)
        for problem in _binding_problems(binding, slots, attribute_types):
            if problem not in problems:
                problems.append(problem)
    return problems


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _shape_problems(bindings: Any) -> list[str]:
    if not isinstance(bindings, Mapping):
        return ['The bindings must be an object: {"body": {...}, "header": {...}, "buttons": {...}}.']
    problems = []
    for section, entries in bindings.items():
        if section not in SECTIONS:
            problems.append(f"“{section}” is not a part of a template: bind under header, body and buttons.")
        elif not isinstance(entries, Mapping):
            problems.append(f"The {section} bindings must map each variable to its binding.")
        else:
            for name, binding in entries.items():
                where = f"{section} “{name}”"
                if section == "buttons" and not is_button_index(str(name)):
                    problems.append(f"Buttons are bound by their index (0, 1, …): {where} is not one.")
                    continue
                if not isinstance(binding, Mapping):
                    problems.append(f"The binding of {where} must be an object with source and value.")
                    continue
                extra = sorted(set(binding) - BINDING_KEYS)
                if extra:
                    problems.append(f"The binding of {where} has unknown keys: {', '.join(extra)}.")
                for key in BINDING_KEYS:
                    if key in binding and not isinstance(binding[key], str):
                        problems.append(f"The {key} of {where} must be text.")
    return problems


def _binding_problems(binding: Mapping[str, Any], slots: list[Slot], attribute_types: dict) -> list[str]:
    slot = slots[0]
    label = _capital(slot.label)
    source, value = _text(binding, "source"), _text(binding, "value")
    fallback, fmt = _text(binding, "fallback"), _text(binding, "format")
    problems = []
    if source not in SOURCES:
        return [f"{label}: “{source}” is not a source; use a contact field, a custom field or a text."]
    if source == "field" and value not in BINDABLE_FIELDS:
        problems.append(
            f"{label} is bound to “{value}”, which is not a contact field; use one of "
            f"{', '.join(BINDABLE_FIELDS)}."
        )
    attribute_type = attribute_types.get(value) if source == "attribute" else None
    if source == "attribute":
        if attribute_type is None:
            problems.append(
                f"{label} is bound to the custom field “{value}”, which is not declared: declare it "
                "under Custom fields (or correct the key)."
            )
        elif attribute_type == AttributeType.BOOLEAN:
            problems.append(f"{label} is bound to “{value}”, a yes/no field, which cannot fill a text.")
    if source == "literal" and _blank(value) and _blank(fallback):
        problems.append(f"{label} is bound to an empty text without a fallback: type the text to send.")
    if fmt and fmt not in CASE_FORMATS:
        if not fmt.startswith(DATE_PREFIX):
            problems.append(f"{label}: “{fmt}” is not a format; use upper, lower, title or date:<format>.")
        else:
            problems += _date_format_problems(fmt[len(DATE_PREFIX) :], label)
            if source != "attribute" or (attribute_type is not None and attribute_type != AttributeType.DATE):
                problems.append(f"{label} has a date format but is not bound to a date custom field.")
    for checked_slot in {s.kind: s for s in slots}.values():
        if source == "literal" and not _blank(value):
            problems += _text_problems(value, checked_slot, f"{label}'s text")
        if not _blank(fallback):
            problems += _text_problems(fallback, checked_slot, f"{label}'s fallback")
    return problems


def _date_format_problems(pattern: str, label: str) -> list[str]:
    if not pattern.strip() or len(pattern) > DATE_FORMAT_MAX_LENGTH or _LAYOUT.search(pattern):
        return [f"{label}: the date format must be one line of at most {DATE_FORMAT_MAX_LENGTH} characters."]
    directives = re.findall(r"%(.?)", pattern)
    unknown = sorted({d for d in directives if d not in DATE_DIRECTIVES})
    if unknown:
        return [
            f"{label}: the date format uses %{', %'.join(unknown)}; use %d, %m, %Y, %y, %B, %b, %A, %a "
            "or %j (e.g. date:%d.%m.%Y)."
        ]
    if not [d for d in directives if d != "%"]:
        return [f"{label}: the date format has no date in it; use e.g. date:%d.%m.%Y."]
    return []


def _text_problems(text: str, slot: Slot, what: str) -> list[str]:
    """What WhatsApp would refuse in a text sent as written (a literal or a fallback)."""
    problems = []
    limit = COUPON_CODE_MAX_LENGTH if slot.kind == "code" else TEXT_PARAMETER_MAX_LENGTH
    if len(text) > limit:
        problems.append(f"{what} is {len(text)} characters long; WhatsApp allows {limit} here.")
    if REFUSE_LAYOUT_CHARACTERS_IN_TEXT_PARAMETERS and slot.kind != "url" and _LAYOUT.search(text):
        problems.append(
            f"{what} contains a line break, a tab or more than {MAX_CONSECUTIVE_SPACES} spaces in a row, "
            "which WhatsApp refuses inside a variable."
        )
    return problems


# --- missing values in SQL ------------------------------------------------------------------------


def _present_q(binding: Mapping[str, Any], *, max_length: int | None) -> Q:
    """TRUE for contacts who have a value for this binding (see the module's docstring)."""
    source, value, fmt = _text(binding, "source"), _text(binding, "value"), _text(binding, "format")
    if source == "literal":
        text = value.strip(WHITESPACE)
        fits = text and (max_length is None or len(text) <= max_length)
        return Q(pk__isnull=False) if fits else Q(pk__in=[])
    if source == "field":
        if value == "full_name":
            return Q(TextPresent("first_name", "last_name", max_length=max_length))
        if value in BINDABLE_FIELDS:
            return Q(TextPresent(value, max_length=max_length))
        return Q(pk__in=[])  # not a field: nobody has a value (binding_problems says why)
    if source == "attribute" and value:
        date_only = fmt.startswith(DATE_PREFIX)
        return Q(AttributePresent(value, date_only=date_only, max_length=max_length))
    return Q(pk__in=[])


def missing_value_q(bindings: Any, *, code_buttons=(), slots=None) -> Q:
    """``Q`` on ``Contact``: TRUE where some variable bound WITHOUT a fallback has no value.

    ``slots``: the (section, name) pairs that count — one language's variables; None: every
    binding, for every contact (:func:`language_missing_value_q` asks it per language).
    ``code_buttons``: the indexes of COPY_CODE buttons, whose values count only up to 15 characters.
    One predicate per binding on the contact's own row: no subquery.
    """
    codes = {str(index) for index in code_buttons}
    counted = None if slots is None else {(section, str(name)) for section, name in slots}
    parts = []
    if isinstance(bindings, Mapping):
        for section in SECTIONS:
            entries = bindings.get(section)
            for name, binding in entries.items() if isinstance(entries, Mapping) else []:
                if counted is not None and (section, str(name)) not in counted:
                    continue
                if not isinstance(binding, Mapping):
                    parts.append(Q(pk__isnull=False))
                    continue
                if not _blank(_text(binding, "fallback")):
                    continue
                code = section == "buttons" and str(name) in codes
                parts.append(~_present_q(binding, max_length=COUPON_CODE_MAX_LENGTH if code else None))
    return reduce(operator.or_, parts) if parts else Q(pk__in=[])


def language_missing_value_q(
    bindings: Any, slots_by_language: Mapping[str, Iterable[Slot]], *, default: str
) -> Q:
    """:func:`missing_value_q` as each contact's own language asks it: TRUE where a variable of the
    template language the contact gets (``languages.language_expression``) has no value.

    A variable only one translation uses must not exclude people who get another one, as
    :func:`contact_parameters` (one language's slots) does not. One ``OR`` branch per group of
    languages taking the same variables, each ``(gets one of them) AND (missing among theirs)``;
    a single predicate, without the language condition, when every language takes the same.
    """
    groups: dict[frozenset[tuple[str, str, str]], list[str]] = {}
    for language, slots in sorted(slots_by_language.items()):
        key = frozenset((slot.section, slot.name, slot.kind) for slot in slots)
        groups.setdefault(key, []).append(language)
    branches = []
    for key, languages in groups.items():
        missing = missing_value_q(
            bindings,
            code_buttons={name for section, name, kind in key if kind == "code"},
            slots={(section, name) for section, name, _ in key},
        )
        if missing == Q(pk__in=[]):
            continue
        if len(groups) > 1:
            missing = gets_language_q(slots_by_language, default, languages) & missing
        branches.append(missing)
    return reduce(operator.or_, branches) if branches else Q(pk__in=[])


def campaign_missing_value_q(campaign: Campaign) -> Q:
    """:func:`language_missing_value_q` for the campaign's content (frozen or live)."""
    content = campaign_content(campaign)
    slots = {code: template_slots(item.components) for code, item in content.languages.items()}
    return language_missing_value_q(content.bindings, slots, default=content.default_language)


# --- values in Python -----------------------------------------------------------------------------


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _raw_value(binding: Mapping[str, Any], contact: Contact) -> str | None:
    """The contact's value as stored (None when it holds no value of a usable kind)."""
    source, value = _text(binding, "source"), _text(binding, "value")
    if source == "literal":
        return value
    if source not in SOURCES:
        return None
    if source == "field":
        if value == "full_name":
            return f"{contact.first_name or ''} {contact.last_name or ''}"
        return (getattr(contact, value, "") or "") if value in BINDABLE_FIELDS else None
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    raw = attributes.get(value)
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return _number_text(raw)
    return raw if isinstance(raw, str) else None


def _value(binding: Mapping[str, Any], contact: Contact | None, slot: Slot) -> str | None:
    """The formatted value to send, or None when it is missing (then the fallback counts).

    The twin of :func:`_present_q`: change one, change the other (the tests compare them)."""
    source, fmt = _text(binding, "source"), _text(binding, "format")
    if contact is None:  # sample values
        raw = _text(binding, "value") if source == "literal" else slot.sample
        return None if _blank(raw) else _formatted(normalise(raw), fmt)
    raw = _raw_value(binding, contact)
    if raw is None or _blank(raw):
        return None
    if fmt.startswith(DATE_PREFIX) and source == "attribute" and not _ISO_DATE.fullmatch(raw):
        return None
    if slot.max_length is not None and len(raw.strip(WHITESPACE)) > slot.max_length:
        return None
    return _formatted(normalise(raw), fmt)


def _formatted(text: str, fmt: str) -> str:
    if fmt == "upper":
        return text.upper()
    if fmt == "lower":
        return text.lower()
    if fmt == "title":
        return _TITLE_WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), text.lower())
    if fmt.startswith(DATE_PREFIX) and _ISO_DATE.fullmatch(text):
        try:
            return normalise(date.fromisoformat(text).strftime(fmt[len(DATE_PREFIX) :])) or text
        except ValueError:  # shaped like a date but none (2025-02-30): sent as stored
            return text
    return text


def _slot_value(bindings: Any, slot: Slot, contact: Contact | None, *, mark_missing: bool = False) -> str:
    binding = _binding(bindings, slot.section, slot.name)
    if binding is None:
        if mark_missing and contact is not None:
            return f"[{slot.label} is not bound]"
        if contact is not None:
            raise ApplicationError(
                f"{_capital(slot.label)} is not bound: complete the campaign's bindings.",
                code="campaign_variable_unbound",
                field="bindings",
            )
        binding = {"source": "field", "value": ""}
    value = _value(binding, contact, slot)
    if value is None:
        fallback = _text(binding, "fallback")
        if not _blank(fallback):
            value = fallback
        elif contact is not None and mark_missing:
            return f"[no value for {slot.label}]"
        elif contact is not None:
            raise ApplicationError(
                f"{contact} has no value for {slot.label} and the binding has no fallback.",
                code="campaign_value_missing",
                field="bindings",
            )
        else:
            value = _placeholder(binding, slot)
    if slot.kind == "url":
        return quote(value, safe=URL_SAFE)
    if slot.kind == "text" and len(value) > TEXT_PARAMETER_MAX_LENGTH:
        return value[: TEXT_PARAMETER_MAX_LENGTH - 1] + "…"
    return value


def _placeholder(binding: Mapping[str, Any], slot: Slot) -> str:
    if slot.kind == "code":
        return "SAMPLE"
    if slot.kind == "url":
        return "sample"
    what = _text(binding, "value") or slot.name
    return f"[{what.replace('_', ' ')}]"


def build_parameters(
    content: CampaignContent,
    item: LanguageContent,
    *,
    contact: Contact | None,
    header_media: Mapping[str, Any] | None,
    mark_missing: bool = False,
) -> dict[str, Any]:
    """The parameters object (``templates_app.parameters``) for one language: the contact's values,
    or sample values when ``contact`` is None; ``header_media`` for a media header. With
    ``mark_missing`` (previews), a missing value is shown as such instead of refused."""
    parameters: dict[str, Any] = {}
    named = str(item.parameter_format).upper() == ParameterFormat.NAMED
    body: dict[str, str] = {}
    buttons: dict[str, str] = {}
    for slot in template_slots(item.components):
        value = _slot_value(content.bindings, slot, contact, mark_missing=mark_missing)
        if slot.section == "header":
            parameters["header"] = {"type": "text", "text": value}
        elif slot.section == "body":
            body[slot.name] = value
        else:
            buttons[slot.name] = value
    if header_media is not None:
        parameters["header"] = dict(header_media)
    if body:
        parameters["body"] = body if named else list(body.values())
    if buttons:
        parameters["buttons"] = buttons
    return parameters


def contact_parameters(campaign: Campaign, contact: Contact, *, language: str) -> dict[str, Any]:
    """The parameters ``send_message`` takes for ``contact`` in ``language`` (a template language
    of the campaign): values with fallbacks and formats applied, and the header's media (its
    uploaded id or link — ``media.campaign_media_ensure`` uploads first). Refused, naming the
    variable, when a value is missing without a fallback or a variable is unbound."""
    from messaging.campaigns.media import header_media_parameter

    content = campaign_content(campaign)
    item = content.for_language(language)
    media = header_media_parameter(campaign, item, required=True)
    return build_parameters(content, item, contact=contact, header_media=media)


def sample_parameters(campaign: Campaign, *, language: str) -> dict[str, Any]:
    """Parameters with sample values, for a test send: each text as bound, each contact value the
    template's own sample for that variable (else the fallback, else a placeholder such as
    ``[first name]``), formats applied."""
    from messaging.campaigns.media import header_media_parameter

    content = campaign_content(campaign)
    item = content.for_language(language)
    media = header_media_parameter(campaign, item, required=True)
    return build_parameters(content, item, contact=None, header_media=media)
