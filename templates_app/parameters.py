"""The values a template send fills in, checked and turned into Meta's send-time ``components``.

A campaign, a one-off send or an API call hands over one ``parameters`` object per recipient; this
module checks it against the template version's components (so a wrong value is refused before
the message is queued, not by Meta with a 132000-family error) and builds the ``components`` list
of docs/meta-facts.md section 1.3 send body.

The parameters shape (JSON-friendly; every key optional, absent means "none"):

    {
      "header": {"type": "text", "text": "ORD-1"}                       # text header with a variable
              | {"type": "image" | "video" | "document", "id": "<media id>"}
              | {"type": "image" | "video" | "document", "link": "https://..."},
                # documents may add "filename": "invoice.pdf"
      "body": ["Pablo", "ORD-9271"]             # POSITIONAL: item i fills {{i+1}}
            | {"first_name": "Pablo"},          # NAMED: one value per variable name
      "buttons": {"1": "ORD-9271", "3": "SAVE20"},
                # key = the button's 0-based index as a string; value = the URL button's suffix
                # (appended to its address) or the COPY_CODE button's coupon code
    }

Issue 15's kinds (the send path builds Meta's components for them; docs/templates.md):

      "header": {"type": "location", "location": {"latitude": 37.48, "longitude": -122.14,
                                                  "name": "Lucky Shrub", "address": "1 Hacker Way"}},
                # a LOCATION header: latitude −90..90 and longitude −180..180 (numbers, or numeric
                # text); name and address optional text
      "offer": {"expiration_time_ms": 1767225599000},
                # a limited-time offer whose offer has_expiration: when it ends, Unix milliseconds
                # (an integer), in the future and at most OFFER_MAX_AHEAD away; the coupon code is
                # the COPY_CODE button's value in "buttons", as for any template
      "cards": [{"header": {"type": "image" | "video", "id" | "link": …},
                 "body": [...] | {...},             # the card's own variables, as "body" above
                 "buttons": {"1": "BLUE_ELF"}},     # index within the card: a link's suffix
                …],
                # a media card carousel: exactly one entry per card, in card order; the carousel's
                # top "body" holds the message text's variables as for any template. A card's quick
                # replies always carry a payload: ``card:<card index>:<button index>`` (0-based)
                # unless ``card_quick_reply_payloads`` gives one, so a tap names its card.

Problems about a card start with "Card <n>: " (1-based), e.g. "Card 2: the link value of button 1 …".

AUTHENTICATION templates take only the code: ``{"body": ["123456"]}``; it is sent in the body
and in the OTP button's URL parameter (docs/meta-facts.md 8.3), so ``buttons`` is not given.

Quick-reply payloads are not values of the template but of the send (the opt-out payload
``optout:<purpose>:<message uuid>`` names the message), so they travel separately as
``quick_reply_payloads={"<index>": "<payload>"}``, and a carousel card's as
``card_quick_reply_payloads={"<card index>": {"<button index>": "<payload>"}}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.errors import ApplicationError
from templates_app.components import (
    MEDIA_HEADER_FORMATS,
    ButtonType,
    Component,
    HeaderFormat,
    ParameterFormat,
    body_of,
    button_type,
    buttons_of,
    carousel_cards,
    header_format,
    header_of,
    is_authentication_template,
    limited_time_offer_of,
    offer_has_expiration,
    text_of,
    url_has_variable,
    variable_names,
)

# Text-parameter size at send time: 32,768 if the template has only a body, else 1,024
# (docs/meta-facts.md 1.3, [LIB whatsapp-api-js] [UNVERIFIED in Meta docs]).
TEXT_PARAMETER_MAX_LENGTH = 1024
BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH = 32768
# Meta refuses text parameters with new lines, tabs or more than 4 consecutive spaces
# ("Param text cannot have new-line/tab characters or more than 4 consecutive spaces") [UNVERIFIED:
# not in docs/meta-facts.md; widely reported by integrators]. Flip the flag off if Meta relaxes it.
REFUSE_LAYOUT_CHARACTERS_IN_TEXT_PARAMETERS = True
MAX_CONSECUTIVE_SPACES = 4
# A coupon code sent for a COPY_CODE button; docs/meta-facts.md 5.3 gives 15 for the sample code,
# applied here to the sent code as well [UNVERIFIED for the send].
COUPON_CODE_MAX_LENGTH = 15
# Meta's one-time-password length limit [UNVERIFIED: from Meta's authentication template pages,
# not in docs/meta-facts.md].
AUTHENTICATION_CODE_MAX_LENGTH = 15

# A location header's name and address: Meta gives no limit of its own for them; the text-parameter
# limit above is applied [UNVERIFIED]. They are not text *variables*, so line breaks are allowed.
LOCATION_TEXT_MAX_LENGTH = 1024
LOCATION_KEYS = ("latitude", "longitude", "name", "address")
LOCATION_RANGES = {"latitude": (-90, 90), "longitude": (-180, 180)}
# How far ahead a limited-time offer may end. Meta names no limit; an end years away is almost
# always a mistake (seconds read as milliseconds the other way round, a wrong year), and a
# countdown of more than a year is no limited-time offer. Our decision, one constant.
OFFER_MAX_AHEAD = timedelta(days=365)

PARAMETER_KEYS = ("header", "body", "buttons", "offer", "cards")
CARD_PARAMETER_KEYS = ("header", "body", "buttons")
_LAYOUT_PATTERN = re.compile(r"[\n\r\t]| {" + str(MAX_CONSECUTIVE_SPACES + 1) + ",}")
# A coordinate given as text: plain decimal notation only ("nan", "1e5" and non-ASCII digits are not).
_DECIMAL_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


# --- reading the shape (shared with the renderer, which must never fail on it) ----------------


def body_values(parameters: Any) -> dict[str, Any]:
    """The body values keyed by variable name ("1", "2", … or "first_name"), whatever their type."""
    body = parameters.get("body") if isinstance(parameters, Mapping) else None
    if isinstance(body, Mapping):
        return {str(name): value for name, value in body.items()}
    if isinstance(body, Sequence) and not isinstance(body, str):
        return {str(number): value for number, value in enumerate(body, 1)}
    return {}


def header_value(parameters: Any) -> Mapping[str, Any] | None:
    header = parameters.get("header") if isinstance(parameters, Mapping) else None
    return header if isinstance(header, Mapping) else None


def button_values(parameters: Any) -> dict[str, Any]:
    """Button values keyed by the button's index as a string (integer keys are accepted too)."""
    buttons = parameters.get("buttons") if isinstance(parameters, Mapping) else None
    return {str(index): value for index, value in buttons.items()} if isinstance(buttons, Mapping) else {}


def authentication_code(parameters: Any) -> Any:
    return body_values(parameters).get("1")


def card_values(parameters: Any) -> list[Any]:
    """The values given per carousel card, in card order (each whatever was given; [] if none)."""
    cards = parameters.get("cards") if isinstance(parameters, Mapping) else None
    if isinstance(cards, Sequence) and not isinstance(cards, str | bytes):
        return list(cards)
    return []


def offer_expiration_ms(parameters: Any) -> Any:
    """The offer's ``expiration_time_ms`` as given (None if absent), whatever its type."""
    offer = parameters.get("offer") if isinstance(parameters, Mapping) else None
    return offer.get("expiration_time_ms") if isinstance(offer, Mapping) else None


# --- checking --------------------------------------------------------------------------------


def check_parameters(
    *, components: Any, parameter_format: str, parameters: Any, now: datetime | None = None
) -> list[str]:
    """Every reason the values don't fit the template, in words an operator can act on.

    ``now`` (default: the current time) is what an offer's end must come after.
    """
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        return ["The values must be an object with header, body and buttons (offer and cards where used)."]
    problems = [
        f"“{key}” isn't a kind of value a template takes (use header, body, buttons, offer and cards)."
        for key in parameters
        if key not in PARAMETER_KEYS
    ]
    if is_authentication_template(components):
        return problems + _authentication_problems(parameters)
    body_only = isinstance(components, Sequence) and len(components) == 1
    limit = BODY_ONLY_TEXT_PARAMETER_MAX_LENGTH if body_only else TEXT_PARAMETER_MAX_LENGTH
    format_ = str(parameter_format).upper()
    problems += _header_problems(header_of(components), parameters.get("header"), limit=limit)
    problems += _body_problems(body_of(components), format_, parameters, limit=limit)
    problems += _offer_problems(components, parameters.get("offer"), now=now)
    problems += _button_problems(buttons_of(components), parameters.get("buttons"))
    problems += _cards_problems(carousel_cards(components), format_, parameters.get("cards"))
    return problems


def _text_problems(value: Any, *, label: str, limit: int, layout_matters: bool = True) -> list[str]:
    if not isinstance(value, str):
        return [f"{label} must be text."]
    if not value.strip():
        return [f"{label} is empty: WhatsApp refuses empty values."]
    problems = []
    if len(value) > limit:
        problems.append(f"{label} is {len(value)} characters long; WhatsApp allows {limit}.")
    if layout_matters and REFUSE_LAYOUT_CHARACTERS_IN_TEXT_PARAMETERS and _LAYOUT_PATTERN.search(value):
        problems.append(
            f"{label} contains a line break, a tab or more than {MAX_CONSECUTIVE_SPACES} spaces in a "
            "row, which WhatsApp refuses inside a variable."
        )
    return problems


def _header_problems(header: Component | None, value: Any, *, limit: int) -> list[str]:
    fmt = header_format(header)
    if fmt in MEDIA_HEADER_FORMATS:
        return _media_header_problems(fmt.lower(), value)
    if fmt == HeaderFormat.LOCATION:
        return _location_problems(value)
    needs_text = fmt == HeaderFormat.TEXT and bool(variable_names(text_of(header)))
    if value is None:
        return (
            ['The header has a variable: give its value as {"type": "text", "text": …}.']
            if needs_text
            else []
        )
    if not needs_text:
        return ["The template's header takes no value; remove it."]
    if not isinstance(value, Mapping) or value.get("type") != "text" or set(value) != {"type", "text"}:
        return ['The header has a text variable: give its value as {"type": "text", "text": …}.']
    return _text_problems(value["text"], label="The header value", limit=limit)


def _media_header_problems(kind: str, value: Any, *, holder: str = "template") -> list[str]:
    shape = f'{{"type": "{kind}", "id": …}} or {{"type": "{kind}", "link": "https://…"}}'
    if not isinstance(value, Mapping) or value.get("type") != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        return [f"The {holder} has {article} {kind} header: give the {kind} as {shape}."]
    allowed = {"type", "id", "link"} | ({"filename"} if kind == "document" else set())
    problems = []
    if set(value) - allowed:
        problems.append(f"The {kind} header takes only {', '.join(sorted(allowed))}.")
    sources = [key for key in ("id", "link") if key in value]
    if len(sources) != 1:
        return [*problems, f"Give the {kind} either by media id or by link, not both or neither."]
    source = value[sources[0]]
    if not isinstance(source, str) or not source.strip():
        problems.append(f"The {kind}'s {sources[0]} is empty.")
    elif sources[0] == "link" and not source.startswith(("https://", "http://")):
        problems.append(f"The {kind} link must be a web address starting with https:// (or http://).")
    if "filename" in value and not (isinstance(value["filename"], str) and value["filename"].strip()):
        problems.append("The document's file name is empty.")
    return problems


LOCATION_SHAPE = '{"type": "location", "location": {"latitude": …, "longitude": …, "name": …, "address": …}}'


def _location_problems(value: Any) -> list[str]:
    if not isinstance(value, Mapping) or value.get("type") != "location":
        return [f"The template has a location header: give the place as {LOCATION_SHAPE}."]
    problems = []
    if set(value) - {"type", "location"}:
        problems.append("The location header takes only type and location.")
    place = value.get("location")
    if not isinstance(place, Mapping):
        return [*problems, f"Give the location header's place as {LOCATION_SHAPE}."]
    unknown = sorted(str(key) for key in place if key not in LOCATION_KEYS)
    if unknown:
        problems.append(
            f"The location takes only latitude, longitude, name and address, not {', '.join(unknown)}."
        )
    for key, (low, high) in LOCATION_RANGES.items():
        if place.get(key) is None:
            problems.append(f"The location's {key} is missing: give a number from {low} to {high}.")
        elif coordinate(place[key], low=low, high=high) is None:
            problems.append(f"The location's {key} must be a number from {low} to {high}, e.g. 37.483307.")
    for key in ("name", "address"):
        if place.get(key) is not None:
            label = f"The location's {key}"
            problems += _text_problems(
                place[key], label=label, limit=LOCATION_TEXT_MAX_LENGTH, layout_matters=False
            )
    return problems


def coordinate(value: Any, *, low: float, high: float) -> float | None:
    """A latitude or longitude as a number within [low, high], or None when it is not one.

    Numbers and plain decimal text are read; booleans, NaN, infinities and exponents are not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not _DECIMAL_PATTERN.fullmatch(value):
            return None
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _offer_problems(components: Any, value: Any, *, now: datetime | None) -> list[str]:
    if limited_time_offer_of(components) is None:
        return [] if value is None else ["The template has no limited-time offer; remove the offer's value."]
    if not offer_has_expiration(components):
        return [] if value is None else ["The template's offer shows no end time; remove the offer's value."]
    shape = '{"expiration_time_ms": <when it ends, in Unix milliseconds>}'
    if value is None:
        return [f"The offer counts down to its end: give when it ends as {shape}."]
    if not isinstance(value, Mapping) or "expiration_time_ms" not in value:
        return [f"Give when the offer ends as {shape}."]
    problems = []
    if set(value) != {"expiration_time_ms"}:
        problems.append("The offer takes only expiration_time_ms.")
    ms = value["expiration_time_ms"]
    if isinstance(ms, bool) or not isinstance(ms, int):
        return [*problems, "The offer's end (expiration_time_ms) must be a whole number of milliseconds."]
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    if ms <= now_ms:
        max_ahead_ms = OFFER_MAX_AHEAD / timedelta(milliseconds=1)
        seconds = 0 < ms * 1000 - now_ms <= max_ahead_ms  # it would fit, read as seconds
        hint = " It looks like seconds: give milliseconds." if seconds else ""
        problems.append(f"The offer's end ({_moment(ms)}) has passed: give a time in the future.{hint}")
    elif ms - now_ms > OFFER_MAX_AHEAD / timedelta(milliseconds=1):
        problems.append(
            f"The offer's end ({_moment(ms)}) is more than {OFFER_MAX_AHEAD.days} days away: a limited-time "
            "offer ends sooner."
        )
    return problems


def _moment(ms: int) -> str:
    try:
        return f"{datetime.fromtimestamp(ms / 1000, tz=UTC):%Y-%m-%d %H:%M} UTC"
    except (OverflowError, ValueError, OSError):
        return str(ms)


def _cards_problems(cards: list[list[Component]], parameter_format: str, given: Any) -> list[str]:
    if not cards:
        return [] if given is None else ["The template has no carousel; remove the cards' values."]
    count = len(cards)
    shape = f'a list of {count} entries, one per card in order: {{"header": …, "body": …, "buttons": …}}'
    if given is None:
        return [f"The template is a carousel of {count} cards: give their values as {shape}."]
    if not isinstance(given, Sequence) or isinstance(given, str | bytes):
        return [f"Give the cards' values as {shape}."]
    if len(given) != count:
        given_count = _count(len(given), "card value")
        return [f"The carousel has {count} cards but {given_count} were given: give {count}."]
    problems = []
    for number, (card, value) in enumerate(zip(cards, given, strict=True), 1):
        problems += [_on_card(number, problem) for problem in _card_problems(card, parameter_format, value)]
    return problems


def _on_card(number: int, problem: str) -> str:
    """ "Card 2: the link value of button 1 …" — the card first, as an operator looks for it."""
    return f"Card {number}: {problem[:1].lower()}{problem[1:]}"


def _card_problems(card: list[Component], parameter_format: str, value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return ["Give the card's values as " + '{"header": …, "body": …, "buttons": …}.']
    problems = [
        f"“{key}” isn't a kind of value a card takes (use header, body and buttons)."
        for key in value
        if key not in CARD_PARAMETER_KEYS
    ]
    fmt = header_format(header_of(card))
    if fmt in MEDIA_HEADER_FORMATS:
        problems += _media_header_problems(fmt.lower(), value.get("header"), holder="card")
    elif value.get("header") is not None:
        problems.append("The card's header takes no value; remove it.")
    problems += _body_problems(body_of(card), parameter_format, value, limit=TEXT_PARAMETER_MAX_LENGTH)
    problems += _button_problems(buttons_of(card), value.get("buttons"))
    return problems


def _body_problems(
    body: Component | None, parameter_format: str, parameters: Mapping, *, limit: int
) -> list[str]:
    names = variable_names(text_of(body))
    given = parameters.get("body")
    if not names:
        return ["The body has no variables; remove its values."] if given else []
    if given is None:
        return [f"The body has {_count(len(names), 'variable')}; give their values."]
    if parameter_format == ParameterFormat.NAMED:
        if not isinstance(given, Mapping):
            return ['The template uses named variables: give the body values as {"name": value}.']
        problems = [f"The value for {{{{{name}}}}} is missing." for name in names if name not in given]
        problems += [
            f"The body has no variable {{{{{name}}}}}; remove its value."
            for name in given
            if name not in names
        ]
    else:
        if not isinstance(given, Sequence) or isinstance(given, str):
            return ["The template uses numbered variables: give the body values as a list, in order."]
        if len(given) != len(names):
            return [
                f"The body has {_count(len(names), 'variable')} but {_count(len(given), 'value')} were given."
            ]
        problems = []
    values = body_values(parameters)
    for name in names:
        if name in values:
            problems += _text_problems(values[name], label=f"The value for {{{{{name}}}}}", limit=limit)
    return problems


def _button_problems(buttons: list[Component], given: Any) -> list[str]:
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        return ['Give button values as {"<button index>": value}.']
    values = {str(index): value for index, value in given.items()}
    problems = []
    for key in values:
        if not _is_index(key) or int(key) >= len(buttons):
            problems.append(f"The template has no button with index {key}.")
    for index, button in enumerate(buttons):
        kind = button_type(button)
        value = values.get(str(index))
        label = f"button {index + 1}"
        if kind == ButtonType.URL and url_has_variable(button):
            if value is None:
                problems.append(f"The link of {label} ends in a variable: give the part to append.")
            else:
                problems += _text_problems(
                    value, label=f"The link value of {label}", limit=TEXT_PARAMETER_MAX_LENGTH
                )
                if isinstance(value, str) and re.search(r"\s", value):
                    problems.append(f"The link value of {label} can't contain spaces.")
        elif kind == ButtonType.COPY_CODE:
            if value is None:
                problems.append(f"{label.capitalize()} copies a code: give the code.")
            else:
                problems += _text_problems(value, label=f"The code of {label}", limit=COUPON_CODE_MAX_LENGTH)
        elif value is not None:
            problems.append(f"{label.capitalize()} takes no value; remove it.")
    return problems


def _authentication_problems(parameters: Mapping) -> list[str]:
    problems = []
    if "header" in parameters:
        problems.append("Authentication templates have no header; remove its value.")
    if parameters.get("buttons"):
        problems.append("Give the code only in body: it is put into the code button automatically.")
    body = parameters.get("body")
    if not isinstance(body, Sequence) or isinstance(body, str) or len(body) != 1:
        return [*problems, 'Authentication templates take exactly one value, the code: {"body": ["123456"]}.']
    code = body[0]
    problems += _text_problems(code, label="The code", limit=AUTHENTICATION_CODE_MAX_LENGTH)
    if isinstance(code, str) and code.strip() and re.search(r"\s", code):
        problems.append("The code can't contain spaces.")
    return problems


def _payload_problems(buttons: list[Component], payloads: Mapping[Any, Any] | None) -> list[str]:
    problems = []
    for key, payload in (payloads or {}).items():
        index = str(key)
        if (
            not _is_index(index)
            or int(index) >= len(buttons)
            or button_type(buttons[int(index)]) != ButtonType.QUICK_REPLY
        ):
            button = f"button {int(index) + 1}" if _is_index(index) else f"button “{index}”"
            problems.append(f"A reply payload was given for {button}, which isn't a quick reply.")
        elif not isinstance(payload, str) or not payload:
            problems.append(f"The reply payload of button {int(index) + 1} is empty.")
    return problems


def _is_index(key: str) -> bool:
    """A button or card index as text, written as Meta writes it: ASCII digits only ("²".isdigit() is
    True, and int("²") raises), and no leading zero — "01" would be read as no button at all (the
    values are looked up by "1"), so it is refused as an unknown index, not passed over in silence."""
    return key.isascii() and key.isdigit() and len(key) < 10 and (key == "0" or not key.startswith("0"))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# --- building --------------------------------------------------------------------------------


def build_send_components(
    *,
    components: Any,
    parameter_format: str,
    parameters: Any,
    quick_reply_payloads: Mapping[Any, str] | None = None,
    card_quick_reply_payloads: Mapping[Any, Mapping[Any, str]] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The ``template.components`` list of the send body (docs/meta-facts.md 1.3), or ApplicationError.

    Components without values are left out, as Meta expects; buttons come in index order, with
    ``index`` as a string. A limited-time offer that counts down sends its end; a carousel sends
    every card in order (``card_index`` from 0), each with its media, its body's values, its links'
    suffixes and a payload for each quick reply (``card:<card index>:<button index>`` by default).
    """
    buttons = buttons_of(components)
    cards = carousel_cards(components)
    problems = check_parameters(
        components=components, parameter_format=parameter_format, parameters=parameters, now=now
    )
    problems += _payload_problems(buttons, quick_reply_payloads)
    problems += _card_payload_problems(cards, card_quick_reply_payloads)
    if problems:
        raise ApplicationError(
            "These values don't fit the template: " + " ".join(problems),
            code="template_parameters_invalid",
            field="parameters",
            details={"problems": problems},
        )
    parameters = parameters or {}
    payloads = {str(index): payload for index, payload in (quick_reply_payloads or {}).items()}
    if is_authentication_template(components):
        return _authentication_send_components(buttons, authentication_code(parameters))
    named = str(parameter_format).upper() == ParameterFormat.NAMED
    sent = _header_and_body(components, parameters, named=named)
    if offer_has_expiration(components):
        offer = {"expiration_time_ms": offer_expiration_ms(parameters)}
        sent.append(
            {
                "type": "limited_time_offer",
                "parameters": [{"type": "limited_time_offer", "limited_time_offer": offer}],
            }
        )
    sent += _button_components(buttons, button_values(parameters), payloads)
    if cards:
        given = card_values(parameters)
        chosen = {str(card): dict(p) for card, p in (card_quick_reply_payloads or {}).items()}
        sent.append(
            {
                "type": "carousel",
                "cards": [
                    {
                        "card_index": index,
                        "components": _card_send_components(
                            card, given[index], index=index, named=named, payloads=chosen.get(str(index), {})
                        ),
                    }
                    for index, card in enumerate(cards)
                ],
            }
        )
    return sent


def _header_and_body(components: Any, values: Any, *, named: bool) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    header_param = _header_send_parameter(header_of(components), header_value(values), named=named)
    if header_param is not None:
        sent.append({"type": "header", "parameters": [header_param]})
    names = variable_names(text_of(body_of(components)))
    if names:
        given = body_values(values)
        sent.append(
            {"type": "body", "parameters": [_text_parameter(name, given[name], named) for name in names]}
        )
    return sent


def _button_components(
    buttons: list[Component], values: Mapping[str, Any], payloads: Mapping[str, str]
) -> list[dict[str, Any]]:
    sent = []
    for index, button in enumerate(buttons):
        key = str(index)
        kind = button_type(button)
        if kind == ButtonType.QUICK_REPLY and key in payloads:
            sent.append(_button("quick_reply", key, {"type": "payload", "payload": payloads[key]}))
        elif kind == ButtonType.URL and key in values:
            sent.append(_button("url", key, {"type": "text", "text": values[key]}))
        elif kind == ButtonType.COPY_CODE and key in values:
            sent.append(_button("copy_code", key, {"type": "coupon_code", "coupon_code": values[key]}))
    return sent


def _card_send_components(
    card: list[Component], values: Any, *, index: int, named: bool, payloads: Mapping[Any, str]
) -> list[dict[str, Any]]:
    """One card's components; each quick reply carries a payload naming its card unless one was given."""
    buttons = buttons_of(card)
    chosen = {
        str(number): f"card:{index}:{number}"
        for number, button in enumerate(buttons)
        if button_type(button) == ButtonType.QUICK_REPLY
    }
    chosen.update({str(number): payload for number, payload in payloads.items()})
    return _header_and_body(card, values, named=named) + _button_components(
        buttons, button_values(values), chosen
    )


def _card_payload_problems(cards: list[list[Component]], payloads: Any) -> list[str]:
    if not payloads:
        return []
    if not isinstance(payloads, Mapping):
        return ['Give card reply payloads as {"<card index>": {"<button index>": payload}}.']
    problems = []
    for key, card_payloads in payloads.items():
        index = str(key)
        if not _is_index(index) or int(index) >= len(cards):
            problems.append(f"Reply payloads were given for card “{index}”, which the template doesn't have.")
        elif not isinstance(card_payloads, Mapping):
            shape = '{"<button index>": payload}'
            problems.append(_on_card(int(index) + 1, f"Give its reply payloads as {shape}."))
        else:
            problems += [
                _on_card(int(index) + 1, problem)
                for problem in _payload_problems(buttons_of(cards[int(index)]), card_payloads)
            ]
    return problems


def _text_parameter(name: str, value: str, named: bool) -> dict[str, str]:
    if named:
        return {"type": "text", "parameter_name": name, "text": value}
    return {"type": "text", "text": value}


def _header_send_parameter(header: Component | None, value: Any, *, named: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value["type"]
    if kind == "text":
        return _text_parameter(variable_names(text_of(header))[0], value["text"], named)
    if kind == "location":
        place = value["location"]
        location = {key: _coordinate_text(place[key]) for key in LOCATION_RANGES}
        location.update({key: place[key] for key in ("name", "address") if place.get(key) is not None})
        return {"type": "location", "location": location}
    media = {key: value[key] for key in ("id", "link", "filename") if key in value}
    return {"type": kind, kind: media}


def _coordinate_text(value: Any) -> str:
    """A checked coordinate as Meta's example writes it: decimal text ("37.483307"), never 1e-05."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    return decimal_text(float(value))


def decimal_text(value: float) -> str:
    """A float in plain decimal notation, every digit Python's ``repr`` keeps: 1e-05 is "0.00001"."""
    text = repr(value)
    return text if "e" not in text else format(Decimal(text), "f")


def _button(sub_type: str, index: str, parameter: dict[str, Any]) -> dict[str, Any]:
    return {"type": "button", "sub_type": sub_type, "index": index, "parameters": [parameter]}


def _authentication_send_components(buttons: list[Component], code: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = [{"type": "body", "parameters": [{"type": "text", "text": code}]}]
    for index, button in enumerate(buttons):
        if button_type(button) == ButtonType.OTP:
            sent.append(_button("url", str(index), {"type": "text", "text": code}))
    return sent
