"""Typed readers over Meta's template ``components`` JSON.

The canonical content of a template version is exactly the ``components`` list that
``POST /<WABA_ID>/message_templates`` takes and the list endpoint returns (docs/meta-facts.md 5.2–5.3).
The validator, the renderer and the send path all read that JSON through these functions, so each
of them agrees on what "the body text" or "the URL button's variable" is.

Readers never raise on malformed JSON: a missing or mistyped piece reads as absent ("" / None /
[]), and judging it is left to :mod:`templates_app.rules`. Component types, header formats and
button types are compared upper-cased, the way Meta's list endpoint returns them.

Conventions of the JSON read here (Meta's own shapes):

- ``{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["ORD-1"]}}``
  (named: ``"header_text_named_params": [{"param_name": "order", "example": "ORD-1"}]``);
  media: ``{"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["<handle>"]}}``.
- ``{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Pablo"]]}}``
  (named: ``"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]``);
  AUTHENTICATION: ``{"type": "BODY", "add_security_recommendation": true}``.
- ``{"type": "FOOTER", "text": "..."}``;
  AUTHENTICATION: ``{"type": "FOOTER", "code_expiration_minutes": 10}``.
- ``{"type": "BUTTONS", "buttons": [...]}`` with QUICK_REPLY ``{text}``, URL ``{text, url, example: [url]}``,
  PHONE_NUMBER ``{text, phone_number}``, COPY_CODE ``{example: "SAVE20"}``, and for AUTHENTICATION
  OTP ``{otp_type, text?, supported_apps?: [{package_name, signature_hash}]}``.
- Location header: ``{"type": "HEADER", "format": "LOCATION"}`` (the place is given per send).
- Media card carousel (MARKETING): ``[{"type": "BODY", ...}, {"type": "CAROUSEL", "cards": [{"components":
  [HEADER (IMAGE|VIDEO, header_handle), BODY?, BUTTONS (≤ 2: QUICK_REPLY, URL, PHONE_NUMBER)]}, ...]}]``;
  each card's ``components`` is read with the same functions as a whole template's
  (:func:`carousel_cards`).
- Limited-time offer (MARKETING): ``{"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text":
  "Expiring offer!", "has_expiration": true}}`` beside an optional IMAGE/VIDEO header, the body and
  BUTTONS with a COPY_CODE and a URL button (:func:`limited_time_offer_of`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

Component = Mapping[str, Any]
Components = Sequence[Component]


class ComponentType(StrEnum):
    HEADER = "HEADER"
    BODY = "BODY"
    FOOTER = "FOOTER"
    BUTTONS = "BUTTONS"
    CAROUSEL = "CAROUSEL"
    LIMITED_TIME_OFFER = "LIMITED_TIME_OFFER"


class HeaderFormat(StrEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    LOCATION = "LOCATION"


MEDIA_HEADER_FORMATS = frozenset({HeaderFormat.IMAGE, HeaderFormat.VIDEO, HeaderFormat.DOCUMENT})


class ButtonType(StrEnum):
    QUICK_REPLY = "QUICK_REPLY"
    URL = "URL"
    PHONE_NUMBER = "PHONE_NUMBER"
    COPY_CODE = "COPY_CODE"
    OTP = "OTP"
    FLOW = "FLOW"
    CATALOG = "CATALOG"
    MPM = "MPM"
    SPM = "SPM"
    VOICE_CALL = "VOICE_CALL"


class OtpType(StrEnum):
    COPY_CODE = "COPY_CODE"
    ONE_TAP = "ONE_TAP"
    ZERO_TAP = "ZERO_TAP"


class ParameterFormat(StrEnum):
    """Meta's ``parameter_format``: ``{{1}}`` variables (the default) or ``{{first_name}}`` ones."""

    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"


# Anything between double braces is meant as a variable; whether it is a *valid* one is decided
# by the patterns below, so the validator can name the malformed token instead of ignoring it.
VARIABLE_TOKEN_PATTERN = re.compile(r"\{\{([^{}\n]*)\}\}")
POSITIONAL_NAME_PATTERN = re.compile(r"0|[1-9][0-9]*")
NAMED_NAME_PATTERN = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class Variable:
    """One occurrence of ``{{name}}`` in a text, with its position (for start/end/adjacency rules)."""

    name: str
    start: int
    end: int

    @property
    def token(self) -> str:
        return "{{" + self.name + "}}"

    @property
    def is_positional(self) -> bool:
        return POSITIONAL_NAME_PATTERN.fullmatch(self.name) is not None

    @property
    def is_named(self) -> bool:
        return NAMED_NAME_PATTERN.fullmatch(self.name) is not None

    @property
    def number(self) -> int | None:
        return int(self.name) if self.is_positional else None


# --- components ------------------------------------------------------------------------------


def component_type(component: Any) -> str:
    if not isinstance(component, Mapping):
        return ""
    value = component.get("type")
    return value.upper() if isinstance(value, str) else ""


class FrozenComponents(list):
    """A template version's components with their structure read once.

    The send path asks for the header, body, buttons and kind of the same version for every
    message of a batch — a campaign's thousand — and reading them again for each message was a
    fifth of the dispatcher's work. A version's content never changes (``TemplateVersion``),
    nor does a campaign's frozen copy of it, so what is read when the list is made stays true:
    the dispatcher and the campaign's frozen content hand these to every function here, which
    look the answers up instead of searching the list.
    """

    def __init__(self, components: Any = ()):
        super().__init__(
            components if isinstance(components, Sequence) and not isinstance(components, str) else ()
        )
        self.first_of_kind: dict[str, Component] = {}
        for component in self:
            self.first_of_kind.setdefault(component_type(component), component)
        self.buttons = _buttons_in(self.first_of_kind.get(ComponentType.BUTTONS))
        self.cards = [
            FrozenComponents(card) for card in _cards_in(self.first_of_kind.get(ComponentType.CAROUSEL))
        ]
        self.authentication = is_authentication_template(self)

    def __reduce__(self):  # copies and pickles are made from the plain list, read again
        return (FrozenComponents, (list(self),))


def find_component(components: Any, kind: ComponentType) -> Component | None:
    """The first component of ``kind``; Meta allows one of each, the validator refuses repeats."""
    if type(components) is FrozenComponents:
        return components.first_of_kind.get(kind)
    if not isinstance(components, Sequence) or isinstance(components, str):
        return None
    for component in components:
        if component_type(component) == kind:
            return component
    return None


def header_of(components: Any) -> Component | None:
    return find_component(components, ComponentType.HEADER)


def body_of(components: Any) -> Component | None:
    return find_component(components, ComponentType.BODY)


def footer_of(components: Any) -> Component | None:
    return find_component(components, ComponentType.FOOTER)


def buttons_of(components: Any) -> list[Component]:
    """The buttons in Meta's order; their position is the ``index`` used at send time."""
    if type(components) is FrozenComponents:
        return list(components.buttons)
    return _buttons_in(find_component(components, ComponentType.BUTTONS))


def _buttons_in(section: Component | None) -> list[Component]:
    if section is None:
        return []
    buttons = section.get("buttons")
    if not isinstance(buttons, Sequence) or isinstance(buttons, str):
        return []
    return [button for button in buttons if isinstance(button, Mapping)]


def text_of(component: Component | None) -> str:
    if component is None:
        return ""
    value = component.get("text")
    return value if isinstance(value, str) else ""


def header_format(header: Component | None) -> str:
    if header is None:
        return ""
    value = header.get("format")
    return value.upper() if isinstance(value, str) else ""


def button_type(button: Component) -> str:
    value = button.get("type")
    return value.upper() if isinstance(value, str) else ""


def _example_of(component: Component | None) -> Mapping[str, Any]:
    if component is None:
        return {}
    example = component.get("example")
    return example if isinstance(example, Mapping) else {}


# --- variables -------------------------------------------------------------------------------


def variables_in(text: str) -> list[Variable]:
    """Every ``{{...}}`` occurrence in ``text``, valid or not, in reading order."""
    return [
        Variable(name=m.group(1), start=m.start(), end=m.end()) for m in VARIABLE_TOKEN_PATTERN.finditer(text)
    ]


def variable_names(text: str) -> list[str]:
    """The distinct variables of a text in the order their values are sent.

    Positional values are matched by number (``{{1}}`` first, whatever its place in the text);
    named ones are listed in order of first appearance.
    """
    return list(_variable_names(text))


@lru_cache(maxsize=4096)
def _variable_names(text: str) -> tuple[str, ...]:
    """Kept per text: a batch reads the same few texts for every message (a text is immutable)."""
    names: list[str] = []
    for variable in variables_in(text):
        if variable.name not in names:
            names.append(variable.name)
    if names and all(POSITIONAL_NAME_PATTERN.fullmatch(name) for name in names):
        names.sort(key=int)
    return tuple(names)


def has_stray_braces(text: str) -> bool:
    """True when ``{{`` or ``}}`` remains outside a ``{{...}}`` token — a half-typed variable."""
    remainder = VARIABLE_TOKEN_PATTERN.sub("", text)
    return "{{" in remainder or "}}" in remainder


def detect_parameter_format(components: Any) -> ParameterFormat | None:
    """The kind of variables the header and body text use, or None when they use none or a mix.

    Meta's ``parameter_format`` field says the same thing; this reads it back from the text, e.g.
    for templates imported from the list endpoint of an older API version.
    """
    variables = variables_in(text_of(header_of(components))) + variables_in(text_of(body_of(components)))
    if not variables:
        return None
    if all(variable.is_positional for variable in variables):
        return ParameterFormat.POSITIONAL
    if all(variable.is_named for variable in variables):
        return ParameterFormat.NAMED
    return None


# --- samples (``example``) -------------------------------------------------------------------


def _named_examples(entries: Any) -> dict[str, str]:
    samples: dict[str, str] = {}
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return samples
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("param_name"), str):
            value = entry.get("example")
            samples[entry["param_name"]] = value if isinstance(value, str) else ""
    return samples


def _positional_examples(values: Any) -> dict[str, str]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        return {}
    return {str(number): value if isinstance(value, str) else "" for number, value in enumerate(values, 1)}


def header_examples(header: Component | None) -> dict[str, str]:
    """Samples of a text header's variable keyed by variable name ("1" or "order_id")."""
    example = _example_of(header)
    samples = _positional_examples(example.get("header_text"))
    samples.update(_named_examples(example.get("header_text_named_params")))
    return samples


def body_examples(body: Component | None) -> dict[str, str]:
    """Samples of the body's variables keyed by variable name ("1", "2" or "first_name").

    Positional samples are Meta's ``body_text: [[...]]`` (one row; only the first is read).
    """
    example = _example_of(body)
    rows = example.get("body_text")
    first_row = rows[0] if isinstance(rows, Sequence) and not isinstance(rows, str) and rows else None
    samples = _positional_examples(first_row)
    samples.update(_named_examples(example.get("body_text_named_params")))
    return samples


def header_handle(header: Component | None) -> str:
    """The uploaded sample's handle a media header needs for review (docs/meta-facts.md 8.2), or ""."""
    handles = _example_of(header).get("header_handle")
    if isinstance(handles, Sequence) and not isinstance(handles, str) and handles:
        first = handles[0]
        return first if isinstance(first, str) else ""
    return ""


# --- buttons ---------------------------------------------------------------------------------


def button_url(button: Component) -> str:
    value = button.get("url")
    return value if isinstance(value, str) else ""


def url_static_part(url: str) -> str:
    """The part of a URL button's address before its variable: what the sent suffix is appended to."""
    position = url.find("{{")
    return url if position < 0 else url[:position]


def url_sample_suffix(button: Component) -> str:
    """The sample value of a URL button's variable: what its sample adds to the fixed part.

    Meta's sample is usually the full link (``https://shop.example/track/ORD-1``), but its own
    carousel example gives the value alone (``BLUE_ELF``); a full link to elsewhere gives "".
    """
    example = button_example(button)
    static = url_static_part(button_url(button))
    if example.startswith(static):
        return example[len(static) :]
    return example if "://" not in example else ""


def url_has_variable(button: Component) -> bool:
    return bool(variables_in(button_url(button)))


def button_example(button: Component) -> str:
    """A button's sample: the full sample URL of a URL button, the code of a COPY_CODE button.

    Meta writes URL samples as a one-item list and copy-code samples as a string; both are read.
    """
    value = button.get("example")
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def otp_type(button: Component) -> str:
    value = button.get("otp_type")
    return value.upper() if isinstance(value, str) else ""


def supported_apps(button: Component) -> list[Mapping[str, Any]]:
    """The Android apps of a ONE_TAP/ZERO_TAP OTP button.

    Meta's current shape is ``supported_apps: [{package_name, signature_hash}]``; older templates
    carry one ``package_name`` + ``signature_hash`` on the button itself, read here as one app.
    """
    apps = button.get("supported_apps")
    if isinstance(apps, Sequence) and not isinstance(apps, str):
        return [app for app in apps if isinstance(app, Mapping)]
    if "package_name" in button or "signature_hash" in button:
        return [{"package_name": button.get("package_name"), "signature_hash": button.get("signature_hash")}]
    return []


# --- carousels and limited-time offers --------------------------------------------------------


def carousel_cards(components: Any) -> list[list[Component]]:
    """Each card's own ``components`` list, in card order ([] when the template has no carousel).

    A card's list is shaped like a small template (HEADER, BODY, BUTTONS), so ``header_of``,
    ``body_of``, ``buttons_of`` and the rest read it; its buttons' indexes count within the card.
    """
    if type(components) is FrozenComponents:
        return components.cards
    return _cards_in(find_component(components, ComponentType.CAROUSEL))


def _cards_in(carousel: Component | None) -> list[list[Component]]:
    if carousel is None:
        return []
    cards = carousel.get("cards")
    if not isinstance(cards, Sequence) or isinstance(cards, str):
        return []
    read = []
    for card in cards:
        parts = card.get("components") if isinstance(card, Mapping) else None
        valid = isinstance(parts, Sequence) and not isinstance(parts, str)
        read.append([part for part in parts if isinstance(part, Mapping)] if valid else [])
    return read


def is_carousel_template(components: Any) -> bool:
    return find_component(components, ComponentType.CAROUSEL) is not None


def limited_time_offer_of(components: Any) -> Mapping[str, Any] | None:
    """The offer's settings (``{"text": …, "has_expiration": …}``), or None for any other template."""
    component = find_component(components, ComponentType.LIMITED_TIME_OFFER)
    if component is None:
        return None
    offer = component.get("limited_time_offer")
    return offer if isinstance(offer, Mapping) else {}


def offer_has_expiration(components: Any) -> bool:
    """True when the template's offer counts down: each send then carries ``expiration_time_ms``."""
    offer = limited_time_offer_of(components)
    return offer is not None and offer.get("has_expiration") is True


# --- AUTHENTICATION --------------------------------------------------------------------------


def is_authentication_template(components: Any) -> bool:
    """True for components shaped like an AUTHENTICATION template (docs/meta-facts.md 8.3).

    Such templates carry an OTP button, a body with Meta's fixed text (only options, no ``text``)
    or a footer with ``code_expiration_minutes``; the renderer and the send path treat them apart.
    """
    if type(components) is FrozenComponents and hasattr(components, "authentication"):
        return components.authentication
    if any(button_type(button) == ButtonType.OTP for button in buttons_of(components)):
        return True
    body = body_of(components)
    if body is not None and "add_security_recommendation" in body and "text" not in body:
        return True
    footer = footer_of(components)
    return footer is not None and "code_expiration_minutes" in footer


def adds_security_recommendation(body: Component | None) -> bool:
    return body is not None and body.get("add_security_recommendation") is True


def code_expiration_minutes(footer: Component | None) -> int | None:
    if footer is None:
        return None
    value = footer.get("code_expiration_minutes")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
