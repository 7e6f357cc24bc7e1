"""Where each value of a campaign's template gets its value, for each contact.

``Campaign.bindings`` (docs/campaign-content.md)::

    {"body":    {"<var>": {"source": "field" | "attribute" | "literal",
                           "value": "first_name" | "<custom field key>" | "<text>",
                           "fallback": "<text or empty>",
                           "format": "" | "upper" | "lower" | "title" | "date:<strftime>"}},
     "header":  {"<var>": {...}},            # a text header's variable
     "buttons": {"<button index>": {...}},   # a link button's suffix, a coupon code
     "location": {"latitude": {...}, "longitude": {...},   # a LOCATION header's place
                  "name": {...}, "address": {...}},        # (name and address may stay unbound)
     "offer":   {"expiration": {...}},       # when a limited-time offer ends
     "cards":   {"<card index>": {"header": {...},                # the card's image or video link
                                  "body": {"<var>": {...}},      # the card text's variables
                                  "buttons": {"<index>": {...}}}}}  # a card link's suffix

Each value is a :class:`Slot`: ``section`` is the path to its binding (``"body"``,
``"cards.1.body"``, ``"cards.1"`` for a card's header, ``"offer"``, ``"location"``) and ``name``
the key in it. The location sits at the top, not under ``header``: a named text header may have a
variable called ``location``. Slots of kind ``link``, ``datetime``, ``latitude`` and
``longitude`` take a text or a custom field (never a contact field, never a format); their values
are checked when the message is built: a card link with ``media.link_problems`` for the card's
kind, an offer's end as an ISO date or date and time (a date ends at 23:59:59 in the project's time
zone; a time without offset is in that zone) that must lie ahead, a latitude or longitude as a
number in range — a value that fails is not sent: the message fails with the reason.

A contact's value is normalised before it is sent — every run of whitespace becomes one space,
ends trimmed — because WhatsApp refuses a variable with a line break, a tab or more than four
spaces, and a contact's data may hold them. A value that is empty after that (or, for a date
format, not a ``YYYY-MM-DD`` date; for a coupon code, longer than 15 characters) is *missing*:
the fallback is sent as written, and without a fallback the contact is excluded with reason
"missing variable" — :func:`missing_value_q` is that rule in SQL (per language:
:func:`language_missing_value_q`, a variable counting only for those who get a translation with
it), :func:`contact_parameters` in Python, and the tests hold them to each other on both databases.
Card, offer and location slots are missing by the same rule.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from typing import Any
from urllib.parse import quote

from django.db.models import Q
from django.utils import timezone

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
    buttons_of,
    carousel_cards,
    header_examples,
    header_format,
    header_of,
    offer_has_expiration,
    text_of,
    url_has_variable,
    url_sample_suffix,
    variable_names,
)
from templates_app.parameters import (
    COUPON_CODE_MAX_LENGTH,
    MAX_CONSECUTIVE_SPACES,
    OFFER_MAX_AHEAD,
    REFUSE_LAYOUT_CHARACTERS_IN_TEXT_PARAMETERS,
    TEXT_PARAMETER_MAX_LENGTH,
    coordinate,
    decimal_text,
)

BINDABLE_FIELDS = ("first_name", "last_name", "full_name", "phone", "country", "language")
SECTIONS = ("header", "body", "buttons", "location", "offer", "cards")
CARD_PARTS = ("header", "body", "buttons")  # a card's "header" is a binding, the others map names
LOCATION_NAMES = ("latitude", "longitude", "name", "address")
OFFER_NAMES = ("expiration",)
SOURCES = ("field", "attribute", "literal")
# Kinds whose value is not a text of the message: a text or a custom field, no contact field, no format.
VALUE_KINDS = frozenset({"link", "datetime", "latitude", "longitude"})
# The custom field types each such kind reads.
VALUE_KIND_ATTRIBUTE_TYPES = {
    "link": (AttributeType.TEXT,),
    "datetime": (AttributeType.DATE, AttributeType.TEXT),
    "latitude": (AttributeType.NUMBER, AttributeType.TEXT),
    "longitude": (AttributeType.NUMBER, AttributeType.TEXT),
}
COORDINATE_RANGES = {"latitude": 90.0, "longitude": 180.0}
# A test send with sample values: an offer bound to each contact's date ends this long after now.
SAMPLE_OFFER_DURATION = timedelta(days=7)
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
    """One value a template language needs: a text header's or the body's variable, a button's, a
    location header's coordinate or name, the offer's end, or a card's link, variable or suffix."""

    section: str  # "header", "body", "buttons", "location", "offer", "cards.<c>", "cards.<c>.body" …
    name: str  # the variable's name, the button's index, "latitude", "expiration", "header" …
    kind: str  # "text", "url" (a link's suffix), "code" (a coupon code), or one of VALUE_KINDS
    sample: str = ""  # the template's own sample for it, if any
    media: str = ""  # a card link's header kind: IMAGE or VIDEO
    optional: bool = False  # may stay unbound (a location's name and address): then not sent

    @property
    def path(self) -> tuple[str, ...]:
        """The keys leading to its binding in ``Campaign.bindings``."""
        return (*self.section.split("."), self.name)

    @property
    def card(self) -> int | None:
        """The card's 0-based index for a carousel card's slot, else None."""
        parts = self.section.split(".")
        return int(parts[1]) if parts[0] == "cards" else None

    @property
    def label(self) -> str:
        card = self.card
        if card is not None:
            part = self.path[2]
            if part == "header":
                what = f"{self.media.lower() or 'image or video'} link"
            elif part == "body":
                what = f"{{{{{self.name}}}}} in the card text"
            else:
                what = f"the link suffix of button {int(self.name) + 1}"
            return f"card {card + 1} — {what}"
        if self.section == "location":
            return f"the location's {self.name}"
        if self.section == "offer":
            return "the offer's end"
        if self.section == "buttons":
            what = "link suffix" if self.kind == "url" else "coupon code"
            return f"the {what} of button {int(self.name) + 1}"
        return f"{{{{{self.name}}}}} in the {self.section}"

    @property
    def max_length(self) -> int | None:
        return COUPON_CODE_MAX_LENGTH if self.kind == "code" else None


def _button_slots(section: str, buttons: list, *, codes: bool) -> list[Slot]:
    slots = []
    for index, button in enumerate(buttons):
        kind = button_type(button)
        if kind == ButtonType.URL and url_has_variable(button):
            slots.append(Slot(section, str(index), "url", url_sample_suffix(button)))
        elif kind == ButtonType.COPY_CODE and codes:
            slots.append(Slot(section, str(index), "code", button_example(button)))
    return slots


def template_slots(components: Any) -> list[Slot]:
    """The values a template version takes, in order: header (a text header's variables or a
    location's place), body, buttons, the offer's end, then each carousel card's link, variables
    and link suffixes."""
    slots: list[Slot] = []
    header = header_of(components)
    fmt = header_format(header)
    if fmt == HeaderFormat.TEXT:
        samples = header_examples(header)
        slots += [Slot("header", n, "text", samples.get(n, "")) for n in variable_names(text_of(header))]
    elif fmt == HeaderFormat.LOCATION:
        slots += [
            Slot(
                "location",
                name,
                name if name in COORDINATE_RANGES else "text",
                optional=name not in COORDINATE_RANGES,
            )
            for name in LOCATION_NAMES
        ]
    body = body_of(components)
    samples = body_examples(body)
    slots += [Slot("body", n, "text", samples.get(n, "")) for n in variable_names(text_of(body))]
    slots += _button_slots("buttons", buttons_of(components), codes=True)
    if offer_has_expiration(components):
        slots.append(Slot("offer", "expiration", "datetime"))
    for index, card in enumerate(carousel_cards(components)):
        kind = header_format(header_of(card))
        if kind in (HeaderFormat.IMAGE, HeaderFormat.VIDEO):
            slots.append(Slot(f"cards.{index}", "header", "link", media=kind))
        card_body = body_of(card)
        samples = body_examples(card_body)
        section = f"cards.{index}.body"
        slots += [Slot(section, n, "text", samples.get(n, "")) for n in variable_names(text_of(card_body))]
        slots += _button_slots(f"cards.{index}.buttons", buttons_of(card), codes=False)
    return slots


def is_button_index(name: str) -> bool:
    """A button binding's key: the button's index in ASCII digits ("0", "1", …). Not
    ``str.isdigit()`` alone, which is True for "²" — and ``int("²")`` raises."""
    return name.isascii() and name.isdigit() and len(name) < 3


def _binding(bindings: Any, section: str, name: str) -> Mapping[str, Any] | None:
    """The binding at ``section`` (a dotted path: "body", "cards.1.body") under ``name``, or None."""
    node = bindings
    for key in (*section.split("."), name):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _text(binding: Mapping[str, Any], key: str) -> str:
    value = binding.get(key, "")
    return value if isinstance(value, str) else ""


def _blank(text: str) -> bool:
    return not text.strip(WHITESPACE)


def normalise(text: str) -> str:
    """Every run of whitespace one space, ends trimmed: what WhatsApp accepts in a variable."""
    return _WHITESPACE_RUN.sub(" ", text).strip(" ")


# --- the document's shape -------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One binding found in the document: where it is, and the entry as stored (maybe not an object)."""

    section: str
    name: str
    entry: Any


def _entries(section: str, entries: Any, *, names=None, indexes: bool = False):
    """(leaves, problems) of one mapping of names to bindings."""
    if not isinstance(entries, Mapping):
        return [], [f"The {_where(section)} bindings must map each variable to its binding."]
    leaves, problems = [], []
    for name, entry in entries.items():
        name = str(name)
        where = f"{_where(section)} “{name}”"
        if indexes and not is_button_index(name):
            problems.append(f"Buttons are bound by their index (0, 1, …): {where} is not one.")
            continue
        if names is not None and name not in names:
            problems.append(f"{_capital(where)} is not one of {', '.join(names)}.")
            continue
        leaves.append(Leaf(section, name, entry))
    return leaves, problems


def _where(section: str) -> str:
    parts = section.split(".")
    if parts[0] == "cards" and len(parts) > 1:
        return f"card {int(parts[1]) + 1}'s {parts[2] if len(parts) > 2 else 'header'}"
    return section


def binding_leaves(bindings: Any) -> tuple[list[Leaf], list[str]]:
    """Every binding of the document, and what is malformed in its shape (never raises: the
    document is whatever was stored)."""
    if not isinstance(bindings, Mapping):
        return [], ['The bindings must be an object: {"body": {...}, "header": {...}, "buttons": {...}}.']
    leaves: list[Leaf] = []
    problems: list[str] = []

    def add(found):
        leaves.extend(found[0])
        problems.extend(found[1])

    for section, entries in bindings.items():
        if section in ("header", "body"):
            add(_entries(section, entries))
        elif section == "buttons":
            add(_entries(section, entries, indexes=True))
        elif section == "location":
            add(_entries(section, entries, names=LOCATION_NAMES))
        elif section == "offer":
            add(_entries(section, entries, names=OFFER_NAMES))
        elif section == "cards":
            if not isinstance(entries, Mapping):
                problems.append(
                    'The cards bindings must map each card\'s index to {"header", "body", "buttons"}.'
                )
                continue
            for card, parts in entries.items():
                card = str(card)
                if not is_button_index(card):
                    problems.append(f"Cards are bound by their index (0, 1, …): “{card}” is not one.")
                    continue
                if not isinstance(parts, Mapping):
                    problems.append(
                        f"Card {int(card) + 1}'s bindings must be an object with header, body and buttons."
                    )
                    continue
                for part, value in parts.items():
                    if part == "header":
                        leaves.append(Leaf(f"cards.{card}", "header", value))
                    elif part in ("body", "buttons"):
                        add(_entries(f"cards.{card}.{part}", value, indexes=part == "buttons"))
                    else:
                        problems.append(
                            f"“{part}” is not a part of card {int(card) + 1}: "
                            "bind under header, body and buttons."
                        )
        else:
            problems.append(
                f"“{section}” is not a part of a template: bind under header, body, buttons, location, "
                "offer and cards."
            )
    for leaf in leaves:
        where = _where(leaf.section) + (
            "" if leaf.name == "header" and leaf.section.startswith("cards.") else f" “{leaf.name}”"
        )
        if not isinstance(leaf.entry, Mapping):
            problems.append(
                f"The binding of {where} must be an object with source and value: the bindings map "
                'each variable to {"source": …, "value": …, "fallback": …, "format": …}.'
            )
            continue
        extra = sorted(str(key) for key in set(leaf.entry) - BINDING_KEYS)
        if extra:
            problems.append(f"The binding of {where} has unknown keys: {', '.join(extra)}.")
        for key in sorted(BINDING_KEYS):
            if key in leaf.entry and not isinstance(leaf.entry[key], str):
                problems.append(f"The {key} of {where} must be text.")
    return leaves, problems


# --- problems ----------------------------------------------------------------------------------


def binding_problems(campaign: Campaign) -> list[str]:
    """Every reason the bindings cannot fill the campaign's template, in words staff act on:
    unbound values (naming the languages), unknown fields or custom fields, empty texts without
    a fallback, texts WhatsApp would refuse, bad formats, links, dates and coordinates. Empty when
    the bindings are complete."""
    content = campaign_content(campaign)
    bindings = content.bindings
    leaves, problems = binding_leaves(bindings)
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
                if not slot.optional:
                    unbound.setdefault(key, []).append(code)
            else:
                used.setdefault(key, []).append(slot)
    languages = len(slots_by_language)
    for (section, name), codes in unbound.items():
        slot = next(s for s in slots_by_language[codes[0]] if (s.section, s.name) == (section, name))
        where = "" if len(codes) == languages == 1 else f" ({', '.join(codes)})"
        sources = (
            "a custom field or a text"
            if slot.kind in VALUE_KINDS
            else "a contact field, a custom field or a text"
        )
        problems.append(f"{_capital(slot.label)}{where} is not bound: choose {sources}.")
    for leaf in leaves:
        section, name = leaf.section, leaf.name
        if (section, name) not in used:
            problems.append(
                f"The template has no {_unused_label(section, name)} in any language; remove its binding."
            )
    for (section, name), slots in used.items():
        binding = _binding(bindings, section, name)
        for problem in _binding_problems(binding, slots, attribute_types):
            if problem not in problems:
                problems.append(problem)
    return problems


def _unused_label(section: str, name: str) -> str:
    parts = section.split(".")
    if parts[0] == "cards":
        card = f"card {int(parts[1]) + 1}"
        if len(parts) == 2:
            return f"{card} with a media header"
        if parts[2] == "body":
            return f"variable {{{{{name}}}}} in the text of {card}"
        return f"button {int(name) + 1} that takes a value in {card}"
    if section == "buttons":
        return f"button {int(name) + 1} that takes a value"
    if section == "location":
        return "location header"
    if section == "offer":
        return "limited-time offer that ends"
    return f"variable {{{{{name}}}}} in its {section}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _binding_problems(binding: Mapping[str, Any], slots: list[Slot], attribute_types: dict) -> list[str]:
    slot = slots[0]
    label = _capital(slot.label)
    source, value = _text(binding, "source"), _text(binding, "value")
    fallback, fmt = _text(binding, "fallback"), _text(binding, "format")
    problems = []
    if source not in SOURCES:
        return [f"{label}: “{source}” is not a source; use a contact field, a custom field or a text."]
    if slot.kind in VALUE_KINDS:
        return _value_binding_problems(binding, slots, attribute_types)
    if source == "field" and value not in BINDABLE_FIELDS:
        problems.append(
            f"{label} is bound to “{value}”, which is not a contact field; use one of "
            f"{', '.join(BINDABLE_FIELDS)}."
        )
    attribute_type = attribute_types.get(value) if source == "attribute" else None
    if source == "attribute":
        if attribute_type is None:
            problems.append(_undeclared(label, value))
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


def _undeclared(label: str, key: str) -> str:
    return (
        f"{label} is bound to the custom field “{key}”, which is not declared: declare it "
        "under Custom fields (or correct the key)."
    )


def _value_binding_problems(
    binding: Mapping[str, Any], slots: list[Slot], attribute_types: dict
) -> list[str]:
    """A card link, the offer's end or a coordinate: a text or a custom field of a fitting type,
    no format; a text or fallback that is not a valid link, date or coordinate."""
    slot = slots[0]
    label = _capital(slot.label)
    source, value = _text(binding, "source"), _text(binding, "value")
    fallback, fmt = _text(binding, "fallback"), _text(binding, "format")
    problems = []
    if source == "field":
        problems.append(f"{label} takes a text or a custom field, not a contact field.")
    elif source == "attribute":
        types = VALUE_KIND_ATTRIBUTE_TYPES[slot.kind]
        attribute_type = attribute_types.get(value)
        if attribute_type is None:
            problems.append(_undeclared(label, value))
        elif attribute_type not in types:
            wanted = " or ".join(AttributeType(t).label.lower() for t in types)
            problems.append(
                f"{label} is bound to “{value}”, a {AttributeType(attribute_type).label.lower()} "
                f"field; it needs a {wanted} custom field."
            )
    elif _blank(value) and _blank(fallback):
        problems.append(f"{label} is bound to an empty text without a fallback: type it.")
    if fmt:
        problems.append(f"{label} takes no format; leave the format empty.")
    checked = [("text", value)] if source == "literal" and not _blank(value) else []
    checked += [("fallback", fallback)] if not _blank(fallback) else []
    for what, text in checked:
        for each in {(s.kind, s.media): s for s in slots}.values():
            error = value_problem(each, text.strip(WHITESPACE))
            if error:
                problems.append(f"{label}'s {what}: {error}")
    return problems


def value_problem(slot: Slot, value: str) -> str:
    """Why ``value`` (trimmed) cannot be sent for a slot of ``VALUE_KINDS`` ("" when it can); the
    offer's end is judged by its form only — :func:`offer_problems` says when it passed."""
    if slot.kind == "link":
        from messaging.campaigns.media import link_problems

        kind = slot.media or HeaderFormat.IMAGE
        return " ".join(link_problems(header_kind=kind, link=value, what="The link"))
    if slot.kind == "datetime":
        return (
            ""
            if parse_expiration(value) is not None
            else (
                f"“{value}” is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM, with "
                "an optional offset such as +02:00)."
            )
        )
    if slot.kind in COORDINATE_RANGES:
        limit = COORDINATE_RANGES[slot.kind]
        if _coordinate(value, limit) is None:
            return f"“{value}” is not a {slot.kind}: a number from {-limit:g} to {limit:g}."
    return ""


def parse_expiration(value: str) -> datetime | None:
    """The moment an offer ends: an ISO date (its last second, in the project's time zone) or an
    ISO date and time (without an offset: in the project's time zone); None when it is neither."""
    value = value.strip(WHITESPACE)
    zone = timezone.get_default_timezone()
    try:
        if _ISO_DATE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), time(23, 59, 59), tzinfo=zone)
        if len(value) < 16 or value[10] not in "Tt ":
            return None
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _coordinate(value: str, limit: float) -> float | None:
    """The send path's reading (``parameters.coordinate``: plain decimals only), so what passes here
    passes there."""
    return coordinate(value.strip(WHITESPACE), low=-limit, high=limit)


def offer_problems(
    campaign: Campaign, *, now: datetime, starts_at: datetime | None = None
) -> list[tuple[str, str]]:
    """(code, message) for an offer's end written as a text (or a fallback) that is not after
    ``now`` (``campaign_offer_expired``), not after the campaign's first possible send
    ``starts_at`` (``campaign_offer_ends_before_send``: a campaign scheduled next week for an offer
    ending tomorrow), or lies more than ``OFFER_MAX_AHEAD`` ahead (``campaign_offer_too_far``):
    every message would be refused. Readiness refuses submitting and approving such a campaign."""
    content = campaign_content(campaign)
    binding = _binding(content.bindings, "offer", "expiration")
    if binding is None or not any(
        slot.section == "offer"
        for item in content.languages.values()
        for slot in template_slots(item.components)
    ):
        return []
    problems = []
    checked = [("text", _text(binding, "value"))] if _text(binding, "source") == "literal" else []
    checked.append(("fallback", _text(binding, "fallback")))
    for what, text in checked:
        moment = parse_expiration(text) if not _blank(text) else None
        shown = text.strip(WHITESPACE)
        if moment is not None and moment <= now:
            problems.append(
                (
                    "campaign_offer_expired",
                    f"The offer's end ({what} {shown}) has passed: every message would be refused; "
                    "give a later end.",
                )
            )
        elif moment is not None and starts_at is not None and moment <= starts_at:
            problems.append(
                (
                    "campaign_offer_ends_before_send",
                    f"The offer's end ({what} {shown}) comes before the campaign's send time "
                    f"({timezone.localtime(starts_at):%Y-%m-%d %H:%M}): every message would be refused; "
                    "give a later end or an earlier send time.",
                )
            )
        elif moment is not None and moment - now > OFFER_MAX_AHEAD:
            problems.append(
                (
                    "campaign_offer_too_far",
                    f"The offer's end ({what} {shown}) is more than {OFFER_MAX_AHEAD.days} days away: a "
                    "limited-time offer ends sooner.",
                )
            )
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
    """``Q`` on ``Contact``: TRUE where some value bound WITHOUT a fallback has no value.

    ``slots``: the (section, name) pairs that count — one language's values; None: every
    binding, for every contact (:func:`language_missing_value_q` asks it per language). Card,
    offer and location bindings count like the others (``binding_leaves`` finds them all).
    ``code_buttons``: the indexes of COPY_CODE buttons, whose values count only up to 15 characters.
    One predicate per binding on the contact's own row: no subquery.
    """
    codes = {str(index) for index in code_buttons}
    counted = None if slots is None else {(section, str(name)) for section, name in slots}
    parts = []
    for leaf in binding_leaves(bindings)[0]:
        if counted is not None and (leaf.section, leaf.name) not in counted:
            continue
        binding = leaf.entry
        if not isinstance(binding, Mapping):
            parts.append(Q(pk__isnull=False))
            continue
        if not _blank(_text(binding, "fallback")):
            continue
        code = leaf.section == "buttons" and leaf.name in codes
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
    """A number as people write it: 3 not 3.0, 0.00001 not 1e-05 (a coordinate's check refuses
    exponents, and a message should not show one)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and abs(value) < 1e15:
        return decimal_text(value)
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

    The twin of :func:`_present_q`: change one, change the other (the tests compare them). A
    value of ``VALUE_KINDS`` is only trimmed (no format): it is checked when it is converted."""
    source, fmt = _text(binding, "source"), _text(binding, "format")
    if contact is None:  # sample values
        raw = _text(binding, "value") if source == "literal" else slot.sample
        if _blank(raw):
            return None
        return raw.strip(WHITESPACE) if slot.kind in VALUE_KINDS else _formatted(normalise(raw), fmt)
    raw = _raw_value(binding, contact)
    if raw is None or _blank(raw):
        return None
    if fmt.startswith(DATE_PREFIX) and source == "attribute" and not _ISO_DATE.fullmatch(raw):
        return None
    if slot.max_length is not None and len(raw.strip(WHITESPACE)) > slot.max_length:
        return None
    if slot.kind in VALUE_KINDS:
        return raw.strip(WHITESPACE)
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


def _slot_value(
    bindings: Any, slot: Slot, contact: Contact | None, *, mark_missing: bool = False, now: datetime
) -> Any:
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
    if value is not None and slot.kind in VALUE_KINDS and _refusal(slot, value, now=now) is not None:
        # A contact's link, offer end or coordinate that is there but cannot be sent (an offer
        # ended last month) takes the fallback, as a missing one does; without one it fails below.
        fallback = _text(binding, "fallback")
        if not _blank(fallback):
            value = None
    if value is None:
        fallback = _text(binding, "fallback")
        if not _blank(fallback):
            value = fallback.strip(WHITESPACE) if slot.kind in VALUE_KINDS else fallback
        elif contact is not None and mark_missing:
            return f"[no value for {slot.label}]"
        elif contact is not None:
            raise ApplicationError(
                f"{contact} has no value for {slot.label} and the binding has no fallback.",
                code="campaign_value_missing",
                field="bindings",
            )
        else:
            value = _placeholder(binding, slot, now=now, mark_missing=mark_missing)
    if slot.kind in VALUE_KINDS:
        return _converted(slot, value, contact, now=now, mark_missing=mark_missing)
    if slot.kind == "url":
        return quote(value, safe=URL_SAFE)
    if slot.kind == "text" and len(value) > TEXT_PARAMETER_MAX_LENGTH:
        return value[: TEXT_PARAMETER_MAX_LENGTH - 1] + "…"
    return value


# Why a value of VALUE_KINDS cannot be sent: the message fails with this code and the reason.
VALUE_ERROR_CODES = {
    "link": "campaign_card_link_invalid",
    "datetime": "campaign_offer_expiration_invalid",
    "latitude": "campaign_location_invalid",
    "longitude": "campaign_location_invalid",
}


def _refusal(slot: Slot, value: str, *, now: datetime) -> tuple[str, str] | None:
    """(code, reason) why a value of ``VALUE_KINDS`` cannot be sent — malformed, or an offer end
    not ahead or too far — or None when it can. The one judgement both the fallback's use
    (:func:`_slot_value`) and the refusal (:func:`_converted`) read."""
    problem = value_problem(slot, value)
    if problem:
        return VALUE_ERROR_CODES[slot.kind], f"{slot.label}: {problem}"
    moment = parse_expiration(value) if slot.kind == "datetime" else None
    if moment is not None and moment <= now:
        return (
            "campaign_offer_expired",
            f"{slot.label} ({value}) has passed: WhatsApp would show an offer that is over.",
        )
    if moment is not None and moment - now > OFFER_MAX_AHEAD:
        return (
            "campaign_offer_too_far",
            f"{slot.label} ({value}) is more than {OFFER_MAX_AHEAD.days} days away: a limited-time offer "
            "ends sooner.",
        )
    return None


def _converted(slot: Slot, value: str, contact: Contact | None, *, now: datetime, mark_missing: bool) -> Any:
    """A link as it is, the offer's end in Unix milliseconds, a coordinate as a number; refused
    (ApplicationError naming the contact and the value) when it cannot be sent — a preview
    (``mark_missing``) shows what it can instead."""
    refusal = _refusal(slot, value, now=now)
    if refusal is not None and not mark_missing:
        code, reason = refusal
        whose = f"For {contact}," if contact is not None else "In the sample,"
        raise ApplicationError(f"{whose} {reason}", code=code, field="bindings")
    if slot.kind == "link":
        return value
    if slot.kind == "datetime":
        moment = parse_expiration(value)
        return None if moment is None else int(moment.timestamp() * 1000)
    return _coordinate(value, COORDINATE_RANGES[slot.kind]) or 0.0


def _placeholder(binding: Mapping[str, Any], slot: Slot, *, now: datetime, mark_missing: bool) -> str:
    if slot.kind == "code":
        return "SAMPLE"
    if slot.kind == "url":
        return "sample"
    if slot.kind == "datetime":
        return (now + SAMPLE_OFFER_DURATION).isoformat()
    if slot.kind in VALUE_KINDS:
        if mark_missing:
            return "https://example.com/sample.jpg" if slot.kind == "link" else "0"
        raise ApplicationError(
            f"{_capital(slot.label)} comes from each contact's data and has no fallback: give it a "
            "fallback, or send the test as a member.",
            code="campaign_sample_value_missing",
            field="bindings",
        )
    what = _text(binding, "value") or slot.name
    return f"[{what.replace('_', ' ')}]"


def build_parameters(
    content: CampaignContent,
    item: LanguageContent,
    *,
    contact: Contact | None,
    header_media: Mapping[str, Any] | None,
    mark_missing: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The parameters object (``templates_app.parameters``) for one language: the contact's values,
    or sample values when ``contact`` is None; ``header_media`` for a media header. With
    ``mark_missing`` (previews), a missing value is shown as such instead of refused.

    A location header gives ``header: {"type": "location", "location": {…}}``, a limited-time
    offer ``offer: {"expiration_time_ms": …}`` (refused once it is not after ``now``), a carousel
    ``cards``: one entry per card, in card order, each with its header's link, body and buttons."""
    now = now or timezone.now()
    parameters: dict[str, Any] = {}
    named = str(item.parameter_format).upper() == ParameterFormat.NAMED
    body: dict[str, str] = {}
    buttons: dict[str, str] = {}
    location: dict[str, Any] = {}
    cards: dict[int, dict[str, Any]] = {}
    for slot in template_slots(item.components):
        if slot.optional and _binding(content.bindings, slot.section, slot.name) is None:
            continue
        value = _slot_value(content.bindings, slot, contact, mark_missing=mark_missing, now=now)
        card = slot.card
        if card is not None:
            entry = cards.setdefault(card, {})
            part = slot.path[2]
            if part == "header":
                entry["header"] = {"type": slot.media.lower(), "link": value}
            else:
                entry.setdefault(part, {})[slot.name] = value
        elif slot.section == "header":
            parameters["header"] = {"type": "text", "text": value}
        elif slot.section == "location":
            location[slot.name] = value
        elif slot.section == "offer":
            if value is not None:
                parameters["offer"] = {"expiration_time_ms": value}
        elif slot.section == "body":
            body[slot.name] = value
        else:
            buttons[slot.name] = value
    if location:
        parameters["header"] = {"type": "location", "location": location}
    if header_media is not None:
        parameters["header"] = dict(header_media)
    if body:
        parameters["body"] = body if named else list(body.values())
    if buttons:
        parameters["buttons"] = buttons
    count = len(carousel_cards(item.components))
    if count:
        parameters["cards"] = [_card_parameters(cards.get(index, {}), named=named) for index in range(count)]
    return parameters


def _card_parameters(entry: Mapping[str, Any], *, named: bool) -> dict[str, Any]:
    card: dict[str, Any] = {}
    if "header" in entry:
        card["header"] = entry["header"]
    if entry.get("body"):
        card["body"] = dict(entry["body"]) if named else list(entry["body"].values())
    if entry.get("buttons"):
        card["buttons"] = dict(entry["buttons"])
    return card


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
