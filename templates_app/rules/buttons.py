"""Buttons of marketing and utility templates: kinds, counts, grouping, labels, links, numbers, codes."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from templates_app.components import (
    ButtonType,
    Component,
    ComponentType,
    button_example,
    button_type,
    button_url,
    buttons_of,
    find_component,
    has_stray_braces,
    url_static_part,
    variables_in,
)
from templates_app.rules import unsupported
from templates_app.rules.violation import Violation

BUTTONS_MAX = 10  # 5.3
BUTTON_TYPE_MAX = {  # 5.3
    ButtonType.QUICK_REPLY: 10,
    ButtonType.URL: 2,
    ButtonType.PHONE_NUMBER: 1,
    ButtonType.COPY_CODE: 1,
}
URL_BUTTON_LABEL_MAX_LENGTH = 25  # 5.3
PHONE_BUTTON_LABEL_MAX_LENGTH = 25  # 5.3
QUICK_REPLY_LABEL_MAX_LENGTH = 25  # [UNVERIFIED]: docs/meta-facts.md gives 25 only for URL/phone labels
URL_MAX_LENGTH = 2000  # 5.3
URL_MAX_VARIABLES = 1  # 5.3 ("1 variable appended at end")
# The one URL variable shape our sources show ({{1}}, also in NAMED templates) [UNVERIFIED for NAMED].
URL_VARIABLE_TOKEN = "{{1}}"
COPY_CODE_EXAMPLE_MAX_LENGTH = 15  # 5.3
# Meta's components page: "Alphanumeric string", at most 20 characters, its own example
# "15550051310" (country code, no "+"); the carousel page's is "+15550051310". So an optional "+",
# then the country code and number as digits. The 7-digit minimum is ours [UNVERIFIED].
PHONE_NUMBER_MAX_LENGTH = 20
PHONE_NUMBER_PATTERN = re.compile(r"\+?[1-9][0-9]{6,}")
# Quick replies with the same label are refused [UNVERIFIED at Meta; see _duplicate_quick_reply_violations].
QUICK_REPLY_LABELS_UNIQUE = True

# What this back-office can author, preview and send; the other kinds Meta knows are refused by
# name in ``unsupported``.
SUPPORTED_BUTTON_TYPES = frozenset(BUTTON_TYPE_MAX)

BUTTON_NOUNS = {
    ButtonType.QUICK_REPLY: "quick reply",
    ButtonType.URL: "website",
    ButtonType.PHONE_NUMBER: "call",
    ButtonType.COPY_CODE: "copy code",
}


@dataclass(frozen=True)
class ButtonPlace:
    """Where a button list sits: the template's own (``buttons[<i>]``) or a carousel card's
    (``cards[<c>].buttons[<i>]``), so one set of rules names the right field and says "button 2
    of card 3" where it must."""

    prefix: str = ""
    owner: str = ""

    @classmethod
    def card(cls, card_index: int) -> ButtonPlace:
        return cls(prefix=f"cards[{card_index}].", owner=f" of card {card_index + 1}")

    def field(self, index: int, key: str) -> str:
        return f"{self.prefix}buttons[{index}].{key}"

    def name(self, index: int) -> str:
        return f"button {index + 1}{self.owner}"

    def title(self, index: int) -> str:
        return f"Button {index + 1}{self.owner}"


TEMPLATE = ButtonPlace()


def buttons_violations(components: Any) -> list[Violation]:
    buttons = buttons_of(components)
    if find_component(components, ComponentType.BUTTONS) is not None and not buttons:
        return [Violation("buttons", "Add at least one button, or remove the buttons.", "buttons_empty")]
    violations = []
    types = [button_type(button) for button in buttons]
    for index, kind in enumerate(types):
        if kind == ButtonType.OTP:
            violations.append(
                Violation(
                    f"buttons[{index}].type",
                    f"Button {index + 1} is a one-time-password button, which only authentication "
                    "templates may have.",
                    "button_type_not_allowed",
                )
            )
        elif (unsupported_kind := unsupported.button_violation(index, kind)) is not None:
            violations.append(unsupported_kind)
        elif kind not in SUPPORTED_BUTTON_TYPES:
            violations.append(
                Violation(
                    f"buttons[{index}].type",
                    f"Button {index + 1} has a kind this back-office can't send yet ({kind or 'none'}). "
                    "Use quick reply, website, call or copy code.",
                    "button_type_unsupported",
                )
            )
    if len(buttons) > BUTTONS_MAX:
        violations.append(
            Violation(
                "buttons",
                f"A template can have at most {BUTTONS_MAX} buttons; this one has {len(buttons)}.",
                "buttons_too_many",
            )
        )
    counts = Counter(types)
    for kind, limit in BUTTON_TYPE_MAX.items():
        if counts[kind] > limit:
            noun = BUTTON_NOUNS[kind]
            violations.append(
                Violation(
                    "buttons",
                    f"A template can have at most {limit} {noun} button{'s' if limit > 1 else ''}; "
                    f"this one has {counts[kind]}.",
                    "buttons_too_many_of_kind",
                )
            )
    is_quick_reply = [kind == ButtonType.QUICK_REPLY for kind in types]
    switches = sum(1 for a, b in pairwise(is_quick_reply) if a != b)
    if switches > 1:
        violations.append(
            Violation(
                "buttons",
                "Keep the quick replies together: put all of them before or after the other buttons "
                "(website, call, copy code). WhatsApp refuses them mixed.",
                "buttons_not_grouped",
            )
        )
    violations += duplicate_quick_reply_violations(buttons)
    for index, button in enumerate(buttons):
        violations += button_violations(index, button)
    return violations


def duplicate_quick_reply_violations(
    buttons: list[Component], place: ButtonPlace = TEMPLATE
) -> list[Violation]:
    """Two quick replies with the same label can't be told apart when tapped.

    The tap comes back as the button's label (and the payload we send), so "Yes" twice makes the
    answer ambiguous — and an opt-out twin of another reply worse. Meta's pages read do not state
    the rule [UNVERIFIED]; ``QUICK_REPLY_LABELS_UNIQUE`` switches it off. A carousel's cards are
    checked one by one: the same reply on every card (Meta's own example) is how cards are alike.
    """
    if not QUICK_REPLY_LABELS_UNIQUE:
        return []
    seen: dict[str, int] = {}
    violations = []
    for index, button in enumerate(buttons):
        text = button.get("text")
        if button_type(button) != ButtonType.QUICK_REPLY or not isinstance(text, str) or not text.strip():
            continue
        key = " ".join(text.split()).casefold()
        if key in seen:
            violations.append(
                Violation(
                    place.field(index, "text"),
                    f"Buttons {seen[key] + 1} and {index + 1}{place.owner} are both quick replies "
                    f"labelled “{text.strip()}”: give each quick reply its own label, so their answers "
                    "can be told apart.",
                    "buttons_duplicate_text",
                )
            )
        else:
            seen[key] = index
    return violations


def _label_violations(index: int, button: Component, *, limit: int, place: ButtonPlace) -> list[Violation]:
    text = button.get("text")
    field = place.field(index, "text")
    if not isinstance(text, str) or not text.strip():
        return [Violation(field, f"Write the label of {place.name(index)}.", "button_label_required")]
    if len(text) > limit:
        return [
            Violation(
                field,
                f"The label of {place.name(index)} is {len(text)} characters long; WhatsApp allows {limit}.",
                "button_label_too_long",
            )
        ]
    return []


def button_violations(index: int, button: Component, place: ButtonPlace = TEMPLATE) -> list[Violation]:
    """One button's own rules (label, address, number, code), whatever list it stands in."""
    kind = button_type(button)
    if kind == ButtonType.QUICK_REPLY:
        return _label_violations(index, button, limit=QUICK_REPLY_LABEL_MAX_LENGTH, place=place)
    if kind == ButtonType.URL:
        return _label_violations(
            index, button, limit=URL_BUTTON_LABEL_MAX_LENGTH, place=place
        ) + _url_violations(index, button, place)
    if kind == ButtonType.PHONE_NUMBER:
        violations = _label_violations(index, button, limit=PHONE_BUTTON_LABEL_MAX_LENGTH, place=place)
        number = button.get("phone_number")
        if (
            not isinstance(number, str)
            or len(number) > PHONE_NUMBER_MAX_LENGTH
            or not PHONE_NUMBER_PATTERN.fullmatch(number)
        ):
            violations.append(
                Violation(
                    place.field(index, "phone_number"),
                    f"{place.title(index)} needs a phone number with its country code, digits only, "
                    f"at most {PHONE_NUMBER_MAX_LENGTH} characters (for example +4930123456).",
                    "button_phone_invalid",
                )
            )
        return violations
    if kind == ButtonType.COPY_CODE:
        code = button_example(button)
        field = place.field(index, "example")
        if not code.strip():
            return [
                Violation(
                    field, f"Give {place.name(index)} a sample code, for example SAVE20.", "example_missing"
                )
            ]
        if len(code) > COPY_CODE_EXAMPLE_MAX_LENGTH:
            return [
                Violation(
                    field,
                    f"The sample code of {place.name(index)} is {len(code)} characters long; WhatsApp "
                    f"allows {COPY_CODE_EXAMPLE_MAX_LENGTH}.",
                    "button_code_too_long",
                )
            ]
    return []


def _url_violations(index: int, button: Component, place: ButtonPlace) -> list[Violation]:
    url = button_url(button)
    field = place.field(index, "url")
    if not url.startswith(("https://", "http://")):
        return [
            Violation(
                field,
                f"{place.title(index)} needs a web address starting with https:// (or http://).",
                "button_url_invalid",
            )
        ]
    violations = []
    if len(url) > URL_MAX_LENGTH:
        violations.append(
            Violation(
                field,
                f"The address of {place.name(index)} is {len(url)} characters long; WhatsApp allows "
                f"{URL_MAX_LENGTH}.",
                "button_url_too_long",
            )
        )
    variables = variables_in(url)
    if not variables:
        return violations
    if (
        len(variables) > URL_MAX_VARIABLES
        or variables[0].token != URL_VARIABLE_TOKEN
        or has_stray_braces(url)
    ):
        violations.append(
            Violation(
                field,
                f"The address of {place.name(index)} can have one variable only, "
                f"written {URL_VARIABLE_TOKEN}.",
                "button_url_variables",
            )
        )
        return violations
    if variables[-1].end != len(url):
        violations.append(
            Violation(
                field,
                f"Put the variable of {place.name(index)} at the very end of the address "
                f"(like https://shop.example/track/{URL_VARIABLE_TOKEN}): WhatsApp only appends to links.",
                "button_url_variable_not_at_end",
            )
        )
        return violations
    sample = button_example(button)
    base = url_static_part(url)
    if not sample.strip():
        violations.append(
            Violation(
                place.field(index, "example"),
                f"Give {place.name(index)} a sample address with the variable filled in, for example "
                f"{base}ABC123.",
                "example_missing",
            )
        )
    elif not _sample_fits(sample, base):
        violations.append(
            Violation(
                place.field(index, "example"),
                f"The sample address of {place.name(index)} must be the button's address with the "
                f"variable filled in: it should start with {base} and continue after it.",
                "button_url_example_mismatch",
            )
        )
    return violations


def _sample_fits(sample: str, base: str) -> bool:
    """A URL sample is the address with the variable filled in — or, as Meta's own examples also
    write it, the variable's value alone (the carousel page: ``"BLUE_ELF"``) or a full address on
    the same site whose path or query differs (the limited-time offer page: ``…/offers?ref=n3mtql``
    for ``…/offers?code={{1}}``). Only an address on another site, or the bare address without a
    value, is refused: that sample would show reviewers a link the button can't open.
    """
    if sample.startswith(base):
        return len(sample) > len(base)
    if "://" not in sample:
        return not sample.startswith(("/", "?", "#", "&")) and " " not in sample.strip()
    return urlsplit(sample).netloc.casefold() == urlsplit(base).netloc.casefold() != ""
