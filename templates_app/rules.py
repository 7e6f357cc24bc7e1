"""What Meta requires of a template before it accepts it for review, checked before we submit.

``validate_template`` runs on every save of a draft and again before every submission, so a
marketer learns in the editor — in words they understand, on the field they typed — what Meta
would otherwise refuse minutes later with a code like 2388299. Rules follow docs/meta-facts.md
(sections 5 and 8.3); limits it marks as library-only or
unverified are named constants below with their source, so a correction is a one-line change.

Field keys (``Violation.field``) — the form field each message is shown on:

- ``name``, ``language``, ``category``, ``parameter_format``, ``components`` (structure: unknown
  or repeated component types);
- ``header`` (format, not allowed), ``header_text``, ``header_example`` (text sample or media handle);
- ``body``, ``body_example``;
- ``footer``, ``code_expiration_minutes`` (AUTHENTICATION footer);
- ``buttons`` (counts, grouping, what the template may carry) and ``buttons[<i>].<key>`` for one
  button, ``<i>`` its 0-based position and ``<key>`` one of ``type``, ``text``, ``url``, ``example``,
  ``phone_number``, ``otp_type``, ``supported_apps``, ``zero_tap_terms_accepted``;
- ``opt_out_button`` (the app's own marking of the opt-out quick reply; ``opt_out_purpose`` for
  its purpose).

Messages count buttons from 1, the way a person reads them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any

from templates_app.components import (
    MEDIA_HEADER_FORMATS,
    VARIABLE_TOKEN_PATTERN,
    ButtonType,
    Component,
    ComponentType,
    HeaderFormat,
    OtpType,
    ParameterFormat,
    Variable,
    body_examples,
    body_of,
    button_example,
    button_type,
    button_url,
    buttons_of,
    component_type,
    find_component,
    footer_of,
    has_stray_braces,
    header_examples,
    header_format,
    header_handle,
    header_of,
    otp_type,
    supported_apps,
    url_static_part,
    variable_names,
    variables_in,
)


class Category(StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


OPT_OUT_PURPOSES = ("marketing", "service")

# --- limits from docs/meta-facts.md (Meta docs unless noted) ---------------------------------
NAME_PATTERN = re.compile(r"[a-z0-9_]+")  # 5.2
NAME_MAX_LENGTH = 512  # 5.2
# Meta's locale codes look like "en", "en_US", "pt_BR", "fil" (5.2 gives examples, not a grammar;
# the list of languages we offer is not this module's business).
LANGUAGE_CODE_PATTERN = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
HEADER_TEXT_MAX_LENGTH = 60  # 5.3
HEADER_TEXT_MAX_VARIABLES = 1  # 5.3
BODY_MAX_LENGTH = 1024  # 5.3
FOOTER_MAX_LENGTH = 60  # 5.3 (footer treated as static: sources disagree on variables there)
NAMED_VARIABLE_MAX_LENGTH = 20  # 1.3 [LIB whatsapp-api-js], not stated by Meta
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
OTP_BUTTON_LABEL_MAX_LENGTH = 25  # [UNVERIFIED]: assumed equal to the other button labels
URL_MAX_LENGTH = 2000  # 5.3
URL_MAX_VARIABLES = 1  # 5.3 ("1 variable appended at end")
# The one URL variable shape our sources show ({{1}}, also in NAMED templates) [UNVERIFIED for NAMED].
URL_VARIABLE_TOKEN = "{{1}}"
COPY_CODE_EXAMPLE_MAX_LENGTH = 15  # 5.3
CODE_EXPIRATION_MINUTES_MIN = 1  # 8.3
CODE_EXPIRATION_MINUTES_MAX = 90  # 8.3
# Meta refuses "too many variables for the length" (2388293) without publishing the ratio. This
# is a deliberately lenient guess [UNVERIFIED]: at least one word of fixed text per variable, so
# it only catches bodies that are nearly all variables and never blocks an ordinary sentence such
# as "Hi {{1}}, your order {{2}} ships on {{3}}.". Set to 0 to switch the rule off.
MIN_STATIC_WORDS_PER_VARIABLE = 1
# E.164 with the leading "+" [UNVERIFIED: Meta's exact phone-button grammar is not in docs/meta-facts.md].
PHONE_NUMBER_PATTERN = re.compile(r"\+[1-9][0-9]{6,19}")
# Meta's zero-tap page asks for ``zero_tap_terms_accepted: true`` [UNVERIFIED: not in docs/meta-facts.md].
ZERO_TAP_REQUIRES_TERMS_ACCEPTED = True

# What this back-office can author, preview and send. LOCATION headers and FLOW/CATALOG/MPM/SPM
# buttons exist at Meta (5.3) but need send parameters we don't build yet.
SUPPORTED_HEADER_FORMATS = frozenset({HeaderFormat.TEXT, *MEDIA_HEADER_FORMATS})
SUPPORTED_BUTTON_TYPES = frozenset(BUTTON_TYPE_MAX)

_MEDIA_NOUNS = {HeaderFormat.IMAGE: "image", HeaderFormat.VIDEO: "video", HeaderFormat.DOCUMENT: "document"}
_BUTTON_NOUNS = {
    ButtonType.QUICK_REPLY: "quick reply",
    ButtonType.URL: "website",
    ButtonType.PHONE_NUMBER: "call",
    ButtonType.COPY_CODE: "copy code",
}


@dataclass(frozen=True)
class Violation:
    """One refusal: the form field to show it on, the sentence to show, a stable machine code."""

    field: str
    message: str
    code: str


@dataclass(frozen=True)
class OptOutButton:
    """The app's marking of one QUICK_REPLY as the opt-out button; it is not part of Meta's JSON."""

    index: int
    purpose: str  # one of OPT_OUT_PURPOSES


def validate_template(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: Any,
    opt_out_button: OptOutButton | None = None,
) -> list[Violation]:
    """Every reason Meta (or this app) would refuse the template; an empty list means it may go."""
    violations: list[Violation] = []
    violations += _name_violations(name)
    violations += _language_violations(language)
    violations += _category_violations(category)
    violations += _parameter_format_violations(parameter_format)
    violations += _structure_violations(components)
    fmt = parameter_format if parameter_format in ParameterFormat.__members__ else None
    if category == Category.AUTHENTICATION:
        violations += _authentication_violations(components)
    else:
        violations += _header_violations(header_of(components), fmt)
        violations += _body_violations(body_of(components), fmt)
        violations += _footer_violations(footer_of(components))
        violations += _buttons_violations(components)
    violations += _opt_out_violations(components, opt_out_button)
    return violations


# --- fields ----------------------------------------------------------------------------------


def _name_violations(name: str) -> list[Violation]:
    if not name:
        return [Violation("name", "Give the template a name, for example order_update.", "name_required")]
    if len(name) > NAME_MAX_LENGTH:
        return [
            Violation(
                "name",
                f"The name is too long: WhatsApp allows {NAME_MAX_LENGTH} characters.",
                "name_too_long",
            )
        ]
    if not NAME_PATTERN.fullmatch(name):
        return [
            Violation(
                "name",
                "Use only lowercase letters, numbers and underscores in the name (for example "
                "order_update): WhatsApp refuses spaces, capitals and other signs.",
                "name_invalid",
            )
        ]
    return []


def _language_violations(language: str) -> list[Violation]:
    if not language:
        return [Violation("language", "Choose the language the template is written in.", "language_required")]
    if not LANGUAGE_CODE_PATTERN.fullmatch(language):
        return [
            Violation(
                "language",
                f"“{language}” isn't a WhatsApp language code; use one like en, en_US or pt_BR.",
                "language_invalid",
            )
        ]
    return []


def _category_violations(category: str) -> list[Violation]:
    if category in Category.__members__:
        return []
    return [
        Violation("category", "Choose a category: Marketing, Utility or Authentication.", "category_invalid")
    ]


def _parameter_format_violations(parameter_format: str) -> list[Violation]:
    if parameter_format in ParameterFormat.__members__:
        return []
    return [
        Violation(
            "parameter_format",
            "Choose how variables are written: numbered ({{1}}) or named ({{first_name}}).",
            "parameter_format_invalid",
        )
    ]


def _structure_violations(components: Any) -> list[Violation]:
    if not isinstance(components, Sequence) or isinstance(components, str):
        return [Violation("components", "The template content is unreadable.", "components_invalid")]
    violations = []
    kinds = [component_type(component) for component in components]
    unknown = [kind or "(untyped)" for kind in kinds if kind not in ComponentType.__members__]
    if unknown:
        violations.append(
            Violation(
                "components",
                f"The template has parts WhatsApp doesn't know: {', '.join(unknown)}.",
                "components_unknown_type",
            )
        )
    for kind, count in Counter(kinds).items():
        if kind in ComponentType.__members__ and count > 1:
            violations.append(
                Violation(
                    "components",
                    f"A template has at most one {kind.lower()}; this one has {count}.",
                    "components_repeated",
                )
            )
    return violations


# --- variables (shared by header and body) ---------------------------------------------------


def _variable_violations(
    text: str, *, field: str, where: str, parameter_format: str | None
) -> tuple[list[Violation], list[Variable]]:
    """Malformed tokens, names, and mixing of kinds; returns the well-formed variables as well."""
    violations: list[Violation] = []
    valid: list[Variable] = []
    if has_stray_braces(text):
        violations.append(
            Violation(
                field,
                f"The {where} has a “{{{{” or “}}}}” that isn't part of a variable. Write variables "
                "as {{1}} or {{first_name}}.",
                "variable_malformed",
            )
        )
    for variable in variables_in(text):
        if variable.is_positional:
            kind = ParameterFormat.POSITIONAL
        elif variable.is_named:
            kind = ParameterFormat.NAMED
        else:
            violations.append(
                Violation(
                    field,
                    f"{variable.token} in the {where} isn't a valid variable: use numbers like {{{{1}}}} "
                    "or lowercase names with underscores like {{first_name}}, without spaces.",
                    "variable_malformed",
                )
            )
            continue
        if parameter_format is not None and kind != parameter_format:
            expected = (
                "numbered variables like {{1}}"
                if parameter_format == ParameterFormat.POSITIONAL
                else "named variables like {{first_name}}"
            )
            violations.append(
                Violation(
                    field,
                    f"{variable.token} in the {where} doesn't match the template's variable style: "
                    f"it uses {expected}. Header and body must use the same kind.",
                    "variable_wrong_kind",
                )
            )
            continue
        if variable.is_named and len(variable.name) > NAMED_VARIABLE_MAX_LENGTH:
            violations.append(
                Violation(
                    field,
                    f"The variable name “{variable.name}” is too long: keep it to "
                    f"{NAMED_VARIABLE_MAX_LENGTH} characters.",
                    "variable_name_too_long",
                )
            )
            continue
        valid.append(variable)
    return violations, valid


def _sample_violations(
    *, names: list[str], samples: Mapping[str, str], field: str, where: str
) -> list[Violation]:
    violations = []
    missing = [name for name in names if not samples.get(name, "").strip()]
    if missing:
        tokens = ", ".join("{{" + name + "}}" for name in missing)
        violations.append(
            Violation(
                field,
                f"Give a sample value for {tokens} in the {where}: WhatsApp's reviewers need an "
                "example of what each variable will contain.",
                "example_missing",
            )
        )
    extra = [name for name in samples if name not in names]
    if extra:
        tokens = ", ".join("{{" + name + "}}" for name in extra)
        violations.append(
            Violation(
                field,
                f"There are samples for {tokens}, which the {where} doesn't use. Remove them.",
                "example_extra",
            )
        )
    return violations


def _numbering_violations(variables: list[Variable], *, field: str, where: str) -> list[Violation]:
    numbers = sorted({variable.number for variable in variables if variable.number is not None})
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        expected = ", ".join("{{" + str(n) + "}}" for n in range(1, len(numbers) + 1))
        return [
            Violation(
                field,
                f"Number the variables in the {where} from {{{{1}}}} without gaps ({expected}).",
                "variable_numbering",
            )
        ]
    return []


# --- header, body, footer --------------------------------------------------------------------


def _header_violations(header: Component | None, parameter_format: str | None) -> list[Violation]:
    if header is None:
        return []
    fmt = header_format(header)
    if fmt not in SUPPORTED_HEADER_FORMATS:
        return [
            Violation(
                "header",
                "Choose a header type: text, image, video or document.",
                "header_format_unsupported",
            )
        ]
    if fmt in MEDIA_HEADER_FORMATS:
        if not header_handle(header):
            noun = _MEDIA_NOUNS[HeaderFormat(fmt)]
            return [
                Violation(
                    "header_example",
                    f"Upload a sample {noun}: WhatsApp's reviewers need to see what the header will show.",
                    "header_media_example_missing",
                )
            ]
        return []
    text = header.get("text")
    if not isinstance(text, str) or not text.strip():
        return [
            Violation("header_text", "Write the header text, or remove the header.", "header_text_required")
        ]
    violations = []
    if len(text) > HEADER_TEXT_MAX_LENGTH:
        violations.append(
            Violation(
                "header_text",
                f"The header is {len(text)} characters long; WhatsApp allows {HEADER_TEXT_MAX_LENGTH}.",
                "header_text_too_long",
            )
        )
    problems, variables = _variable_violations(
        text, field="header_text", where="header", parameter_format=parameter_format
    )
    violations += problems
    if len(variables_in(text)) > HEADER_TEXT_MAX_VARIABLES:
        violations.append(
            Violation(
                "header_text",
                f"A text header can hold only {HEADER_TEXT_MAX_VARIABLES} variable. "
                "Move the others to the body.",
                "header_too_many_variables",
            )
        )
    violations += _numbering_violations(variables, field="header_text", where="header")
    if not problems:
        violations += _sample_violations(
            names=variable_names(text),
            samples=header_examples(header),
            field="header_example",
            where="header",
        )
    return violations


def _body_violations(body: Component | None, parameter_format: str | None) -> list[Violation]:
    text = body.get("text") if body is not None else None
    if not isinstance(text, str) or not text.strip():
        return [
            Violation(
                "body", "Write the message body: it is the one part every template needs.", "body_required"
            )
        ]
    violations = []
    if len(text) > BODY_MAX_LENGTH:
        violations.append(
            Violation(
                "body",
                f"The body is {len(text)} characters long; WhatsApp allows {BODY_MAX_LENGTH}.",
                "body_too_long",
            )
        )
    problems, variables = _variable_violations(
        text, field="body", where="body", parameter_format=parameter_format
    )
    violations += problems
    violations += _numbering_violations(variables, field="body", where="body")
    violations += _body_placement_violations(text)
    if not problems:
        violations += _sample_violations(
            names=variable_names(text), samples=body_examples(body), field="body_example", where="body"
        )
    return violations


def _body_placement_violations(text: str) -> list[Violation]:
    """Meta's 2388299 (start/end), INVALID_FORMAT (adjacent) and 2388293 (too many for the length)."""
    stripped = text.strip()
    occurrences = variables_in(stripped)
    if not occurrences:
        return []
    violations = []
    if occurrences[0].start == 0:
        violations.append(
            Violation(
                "body",
                f"The body can't start with a variable: WhatsApp rejects templates whose text begins "
                f"with {occurrences[0].token}. Add a greeting before it.",
                "body_starts_with_variable",
            )
        )
    if occurrences[-1].end == len(stripped):
        violations.append(
            Violation(
                "body",
                f"The body can't end with a variable: WhatsApp rejects templates whose text ends with "
                f"{occurrences[-1].token}. Add a few words or a full stop after it.",
                "body_ends_with_variable",
            )
        )
    for before, after in pairwise(occurrences):
        if not stripped[before.end : after.start].strip():
            violations.append(
                Violation(
                    "body",
                    f"{before.token} and {after.token} sit next to each other: WhatsApp needs some "
                    "words between two variables.",
                    "body_adjacent_variables",
                )
            )
    static_words = len(re.findall(r"\w+", VARIABLE_TOKEN_PATTERN.sub(" ", stripped)))
    if MIN_STATIC_WORDS_PER_VARIABLE and static_words < MIN_STATIC_WORDS_PER_VARIABLE * len(occurrences):
        violations.append(
            Violation(
                "body",
                f"The body has too many variables for its length ({len(occurrences)} variables, "
                f"{static_words} other words): WhatsApp rejects such templates. Add more text or use "
                "fewer variables.",
                "body_too_many_variables",
            )
        )
    return violations


def _footer_violations(footer: Component | None) -> list[Violation]:
    if footer is None:
        return []
    if "code_expiration_minutes" in footer:
        return [
            Violation(
                "footer",
                "A code expiry footer is only for authentication templates.",
                "footer_expiry_not_allowed",
            )
        ]
    text = footer.get("text")
    if not isinstance(text, str) or not text.strip():
        return [Violation("footer", "Write the footer text, or remove the footer.", "footer_text_required")]
    violations = []
    if len(text) > FOOTER_MAX_LENGTH:
        violations.append(
            Violation(
                "footer",
                f"The footer is {len(text)} characters long; WhatsApp allows {FOOTER_MAX_LENGTH}.",
                "footer_too_long",
            )
        )
    if variables_in(text) or has_stray_braces(text):
        violations.append(
            Violation(
                "footer",
                "The footer can't contain variables: it is the same for every recipient.",
                "footer_has_variables",
            )
        )
    return violations


# --- buttons ---------------------------------------------------------------------------------


def _buttons_violations(components: Any) -> list[Violation]:
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
            noun = _BUTTON_NOUNS[kind]
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
    for index, button in enumerate(buttons):
        violations += _button_violations(index, button)
    return violations


def _label_violations(index: int, button: Component, *, limit: int) -> list[Violation]:
    text = button.get("text")
    field = f"buttons[{index}].text"
    if not isinstance(text, str) or not text.strip():
        return [Violation(field, f"Write the label of button {index + 1}.", "button_label_required")]
    if len(text) > limit:
        return [
            Violation(
                field,
                f"The label of button {index + 1} is {len(text)} characters long; WhatsApp allows {limit}.",
                "button_label_too_long",
            )
        ]
    return []


def _button_violations(index: int, button: Component) -> list[Violation]:
    kind = button_type(button)
    if kind == ButtonType.QUICK_REPLY:
        return _label_violations(index, button, limit=QUICK_REPLY_LABEL_MAX_LENGTH)
    if kind == ButtonType.URL:
        return _label_violations(index, button, limit=URL_BUTTON_LABEL_MAX_LENGTH) + _url_violations(
            index, button
        )
    if kind == ButtonType.PHONE_NUMBER:
        violations = _label_violations(index, button, limit=PHONE_BUTTON_LABEL_MAX_LENGTH)
        number = button.get("phone_number")
        if not isinstance(number, str) or not PHONE_NUMBER_PATTERN.fullmatch(number):
            violations.append(
                Violation(
                    f"buttons[{index}].phone_number",
                    f"Button {index + 1} needs a phone number with + and the country code, digits only "
                    "(for example +4930123456).",
                    "button_phone_invalid",
                )
            )
        return violations
    if kind == ButtonType.COPY_CODE:
        code = button_example(button)
        field = f"buttons[{index}].example"
        if not code.strip():
            return [
                Violation(
                    field, f"Give button {index + 1} a sample code, for example SAVE20.", "example_missing"
                )
            ]
        if len(code) > COPY_CODE_EXAMPLE_MAX_LENGTH:
            return [
                Violation(
                    field,
                    f"The sample code of button {index + 1} is {len(code)} characters long; WhatsApp "
                    f"allows {COPY_CODE_EXAMPLE_MAX_LENGTH}.",
                    "button_code_too_long",
                )
            ]
    return []


def _url_violations(index: int, button: Component) -> list[Violation]:
    url = button_url(button)
    field = f"buttons[{index}].url"
    if not url.startswith(("https://", "http://")):
        return [
            Violation(
                field,
                f"Button {index + 1} needs a web address starting with https:// (or http://).",
                "button_url_invalid",
            )
        ]
    violations = []
    if len(url) > URL_MAX_LENGTH:
        violations.append(
            Violation(
                field,
                f"The address of button {index + 1} is {len(url)} characters long; WhatsApp allows "
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
                f"The address of button {index + 1} can have one variable only, "
                f"written {URL_VARIABLE_TOKEN}.",
                "button_url_variables",
            )
        )
        return violations
    if variables[-1].end != len(url):
        violations.append(
            Violation(
                field,
                f"Put the variable of button {index + 1} at the very end of the address "
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
                f"buttons[{index}].example",
                f"Give button {index + 1} a sample address with the variable filled in, for example "
                f"{base}ABC123.",
                "example_missing",
            )
        )
    elif not sample.startswith(base) or len(sample) == len(base):
        violations.append(
            Violation(
                f"buttons[{index}].example",
                f"The sample address of button {index + 1} must be the button's address with the "
                f"variable filled in: it should start with {base} and continue after it.",
                "button_url_example_mismatch",
            )
        )
    return violations


# --- AUTHENTICATION (docs/meta-facts.md 8.3) ---------------------------------------------------------


def _authentication_violations(components: Any) -> list[Violation]:
    violations = []
    if header_of(components) is not None:
        violations.append(
            Violation(
                "header", "Authentication templates have no header.", "authentication_header_not_allowed"
            )
        )
    body = body_of(components)
    if body is None:
        violations.append(
            Violation(
                "body",
                "Authentication templates need their body section (WhatsApp writes the text).",
                "body_required",
            )
        )
    elif "text" in body:
        violations.append(
            Violation(
                "body",
                "Authentication templates can't have your own text: WhatsApp writes it (“<code> is "
                "your verification code.”). Choose only whether to add the security recommendation.",
                "authentication_body_text_not_allowed",
            )
        )
    elif not isinstance(body.get("add_security_recommendation", False), bool):
        violations.append(
            Violation(
                "body", "The security recommendation is either on or off.", "authentication_body_invalid"
            )
        )
    violations += _authentication_footer_violations(footer_of(components))
    violations += _otp_button_violations(buttons_of(components))
    return violations


def _authentication_footer_violations(footer: Component | None) -> list[Violation]:
    if footer is None:
        return []
    violations = []
    if "text" in footer:
        violations.append(
            Violation(
                "footer",
                "Authentication templates can't have your own footer text; only the code expiry.",
                "authentication_footer_text_not_allowed",
            )
        )
    minutes = footer.get("code_expiration_minutes")
    if "code_expiration_minutes" in footer and (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not CODE_EXPIRATION_MINUTES_MIN <= minutes <= CODE_EXPIRATION_MINUTES_MAX
    ):
        violations.append(
            Violation(
                "code_expiration_minutes",
                f"The code expiry must be a whole number of minutes from {CODE_EXPIRATION_MINUTES_MIN} "
                f"to {CODE_EXPIRATION_MINUTES_MAX}.",
                "authentication_expiry_out_of_range",
            )
        )
    return violations


def _otp_button_violations(buttons: list[Component]) -> list[Violation]:
    if len(buttons) != 1 or button_type(buttons[0]) != ButtonType.OTP:
        return [
            Violation(
                "buttons",
                "Authentication templates need exactly one button: the one-time-password button "
                "(copy code, one-tap or zero-tap).",
                "authentication_otp_button_required",
            )
        ]
    button = buttons[0]
    kind = otp_type(button)
    if kind not in OtpType.__members__:
        return [
            Violation(
                "buttons[0].otp_type",
                "Choose how the code is delivered: copy code, one-tap autofill or zero-tap.",
                "authentication_otp_type_invalid",
            )
        ]
    violations = []
    text = button.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > OTP_BUTTON_LABEL_MAX_LENGTH):
        violations.append(
            Violation(
                "buttons[0].text",
                f"The button label can be at most {OTP_BUTTON_LABEL_MAX_LENGTH} characters.",
                "button_label_too_long",
            )
        )
    if kind in (OtpType.ONE_TAP, OtpType.ZERO_TAP):
        apps = supported_apps(button)
        complete = apps and all(
            isinstance(app.get("package_name"), str)
            and app["package_name"].strip()
            and isinstance(app.get("signature_hash"), str)
            and app["signature_hash"].strip()
            for app in apps
        )
        if not complete:
            violations.append(
                Violation(
                    "buttons[0].supported_apps",
                    "One-tap and zero-tap codes need your Android app's package name and signature hash.",
                    "authentication_app_required",
                )
            )
    if (
        kind == OtpType.ZERO_TAP
        and ZERO_TAP_REQUIRES_TERMS_ACCEPTED
        and button.get("zero_tap_terms_accepted") is not True
    ):
        violations.append(
            Violation(
                "buttons[0].zero_tap_terms_accepted",
                "Zero-tap codes need you to accept WhatsApp's zero-tap terms.",
                "authentication_zero_tap_terms",
            )
        )
    return violations


# --- the app's opt-out marking ---------------------------------------------------------------


def _opt_out_violations(components: Any, opt_out_button: OptOutButton | None) -> list[Violation]:
    if opt_out_button is None:
        return []
    violations = []
    if opt_out_button.purpose not in OPT_OUT_PURPOSES:
        violations.append(
            Violation(
                "opt_out_purpose",
                "Say what the opt-out button stops: marketing or service messages.",
                "opt_out_purpose_invalid",
            )
        )
    buttons = buttons_of(components)
    index = opt_out_button.index
    if not 0 <= index < len(buttons) or button_type(buttons[index]) != ButtonType.QUICK_REPLY:
        violations.append(
            Violation(
                "opt_out_button",
                "The opt-out button must be one of the template's quick replies, so the recipient's tap "
                "comes back to us.",
                "opt_out_not_quick_reply",
            )
        )
    return violations
