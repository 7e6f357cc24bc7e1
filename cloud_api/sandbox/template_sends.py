"""Meta's send-time check of a template message: the parameters match the approved template's
components in number and kind, or Meta's code says why not (132000 wrong number, 132012 wrong kind,
131008 a required part missing, 131009 a malformed one).

Issue 15's kinds, as Meta's carousel and limited-time offer pages send them: a location header's
``{"type": "location", "location": {latitude, longitude, name?, address?}}``; a limited-time offer's
``{"type": "limited_time_offer", "parameters": [{"type": "limited_time_offer", "limited_time_offer":
{"expiration_time_ms": …}}]}`` when its offer has an expiration (an end already passed, or past a
64-bit integer: 131009); a carousel's ``{"type": "carousel", "cards": [{"card_index": 0,
"components": [...]}, …]}`` with one card per card of the template (else 132000), each with its
header media (missing: 131008) and its own body and buttons checked as a template's are. A
component's ``parameters`` that is not a list, or a button ``index`` that is no integer
(``Infinity``), is Meta's error too, never a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.state import SandboxTemplate
from cloud_api.sandbox.template_rules import MEDIA_FORMATS, SEND_SUB_TYPES, TemplateShape, template_shape

INT64_MAX = 2**63 - 1  # Meta's expiration_time_ms is a 64-bit integer


def _parameters(component: dict[str, Any], where: str) -> list[Any]:
    """A component's ``parameters``: a list (absent: none), else Meta's 131009 naming the component."""
    parameters = component.get("parameters")
    if parameters is None:
        return []
    if not isinstance(parameters, list):
        raise GraphError(131009, f"{where}: parameters must be a list.")
    return parameters


def _text_values(parameters: list[Any], where: str) -> list[dict[str, Any]]:
    for parameter in parameters:
        if not isinstance(parameter, dict):
            raise GraphError(131009, f"{where}: each parameter is an object.")
        kind = parameter.get("type")
        if kind not in ("text", "currency", "date_time"):
            raise GraphError(132012, f"{where}: expected a text parameter, got {kind!r}.")
        if kind == "text" and not str(parameter.get("text", "")).strip():
            raise GraphError(131008, f"{where}: parameter of type text is missing its text value.")
    return parameters


def _check_header(shape: TemplateShape, parameters: list[Any]) -> None:
    if shape.header_format in MEDIA_FORMATS:
        if len(parameters) != 1:
            raise GraphError(
                132000, f"header: expected 1 {shape.header_format.lower()} parameter, got {len(parameters)}."
            )
        kind = shape.header_format.lower()
        parameter = parameters[0] if isinstance(parameters[0], dict) else {}
        if parameter.get("type") != kind:
            raise GraphError(
                132012, f"header: expected a parameter of type {kind}, got {parameter.get('type')!r}."
            )
        media = parameter.get(kind) or {}
        if not (isinstance(media, dict) and (media.get("id") or media.get("link"))):
            raise GraphError(131008, f"header: the {kind} needs an id or a link.")
        return
    if shape.header_format == "LOCATION":
        _check_location(parameters)
        return
    if len(parameters) != len(shape.header_variables):
        raise GraphError(
            132000, f"header: expected {len(shape.header_variables)} parameters, got {len(parameters)}."
        )
    _text_values(parameters, "header")


def _check_body(shape: TemplateShape, parameters: list[Any], named: bool) -> None:
    expected = list(dict.fromkeys(shape.body_variables))
    if len(parameters) != len(expected):
        raise GraphError(132000, f"body: expected {len(expected)} parameters, got {len(parameters)}.")
    _text_values(parameters, "body")
    if named:
        names = {str(p.get("parameter_name", "")) for p in parameters}
        if names != set(expected):
            raise GraphError(
                132000, f"body: expected parameters named {sorted(expected)}, got {sorted(names)}."
            )


def _check_buttons(shape: TemplateShape, components: list[dict[str, Any]]) -> None:
    by_index = {button.index: button for button in shape.buttons}
    supplied: set[int] = set()
    for component in components:
        if component.get("index") is None:
            raise GraphError(131008, "button: index is required.")
        try:
            index = int(component.get("index"))
        except (TypeError, ValueError, OverflowError):  # Infinity: Python's JSON reader accepts it
            raise GraphError(
                131009, f"button: index must be a whole number, got {component['index']!r}."
            ) from None
        button = by_index.get(index)
        if button is None:
            raise GraphError(131009, f"button: the template has no button at index {index}.")
        sub_type = str(component.get("sub_type", "")).lower()
        if SEND_SUB_TYPES.get(button.type) != sub_type:
            raise GraphError(
                132012, f"button {index}: the template's {button.type} button is not {sub_type!r}."
            )
        parameters = _parameters(component, f"button {index}")
        if len(parameters) != 1 or not isinstance(parameters[0], dict):
            raise GraphError(132000, f"button {index}: expected 1 parameter, got {len(parameters)}.")
        parameter_type = parameters[0].get("type")
        expected_type = {"quick_reply": "payload", "url": "text", "copy_code": "coupon_code"}[sub_type]
        if parameter_type != expected_type:
            raise GraphError(
                132012, f"button {index}: expected a {expected_type} parameter, got {parameter_type!r}."
            )
        if sub_type == "url" and not button.takes_parameter:
            raise GraphError(132000, f"button {index}: the URL button has no variable.")
        supplied.add(index)
    missing = [b.index for b in shape.buttons if b.takes_parameter and b.index not in supplied]
    if missing:
        raise GraphError(132000, f"button: parameters missing for buttons {missing}.")


LOCATION_RANGES = {"latitude": 90.0, "longitude": 180.0}


def _check_location(parameters: list[Any]) -> None:
    if len(parameters) != 1:
        raise GraphError(132000, f"header: expected 1 location parameter, got {len(parameters)}.")
    parameter = parameters[0] if isinstance(parameters[0], dict) else {}
    if parameter.get("type") != "location":
        raise GraphError(
            132012, f"header: expected a parameter of type location, got {parameter.get('type')!r}."
        )
    place = parameter.get("location")
    if not isinstance(place, dict):
        raise GraphError(131008, "header: the location parameter needs its location object.")
    for key, limit in LOCATION_RANGES.items():
        value = place.get(key)
        if value in (None, ""):
            raise GraphError(131008, f"header: location.{key} is required.")
        number = _number(value)
        if number is None:
            raise GraphError(132012, f"header: location.{key} must be a number, got {value!r}.")
        if not -limit <= number <= limit:
            raise GraphError(131009, f"header: location.{key} {value!r} is out of range.")
    for key in ("name", "address"):
        if key in place and not isinstance(place[key], str):
            raise GraphError(132012, f"header: location.{key} must be a string.")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _find(components: Any, kind: str) -> dict[str, Any] | None:
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _check_offer(template_components: Any, sent: list[dict[str, Any]], now: float) -> None:
    offer = (_find(template_components, "LIMITED_TIME_OFFER") or {}).get("limited_time_offer")
    expires = isinstance(offer, dict) and offer.get("has_expiration") is True
    if not expires:
        if sent:
            raise GraphError(132000, "limited_time_offer: the template has no offer expiration.")
        return
    if not sent:
        raise GraphError(131008, "limited_time_offer: the offer's expiration_time_ms is required.")
    parameters = sent[0].get("parameters") or []
    if not isinstance(parameters, list) or len(parameters) != 1:
        raise GraphError(132000, "limited_time_offer: expected 1 parameter.")
    parameter = parameters[0] if isinstance(parameters[0], dict) else {}
    if parameter.get("type") != "limited_time_offer":
        raise GraphError(
            132012,
            f"limited_time_offer: expected a limited_time_offer parameter, got {parameter.get('type')!r}.",
        )
    details = parameter.get("limited_time_offer")
    ms = details.get("expiration_time_ms") if isinstance(details, dict) else None
    if ms is None:
        raise GraphError(131008, "limited_time_offer: expiration_time_ms is required.")
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise GraphError(132012, f"limited_time_offer: expiration_time_ms must be an integer, got {ms!r}.")
    if ms > INT64_MAX:
        raise GraphError(131009, "limited_time_offer: expiration_time_ms is out of range.")
    if ms <= now * 1000:
        raise GraphError(131009, "limited_time_offer: expiration_time_ms is in the past.")


@contextmanager
def _within(where: str) -> Iterator[None]:
    """Meta's code for a problem inside a card, its details naming the card."""
    try:
        yield
    except GraphError as error:
        raise GraphError(error.code, f"{where}: {error.details}") from None


def _check_carousel(template: SandboxTemplate, sent: list[dict[str, Any]]) -> None:
    carousel = _find(template.components, "CAROUSEL")
    cards = carousel.get("cards") if carousel is not None else None
    expected = [card.get("components") or [] for card in cards if isinstance(card, dict)] if cards else []
    if not expected:
        if sent:
            raise GraphError(132000, "carousel: the template has no carousel.")
        return
    given = sent[0].get("cards") if sent else []
    if not isinstance(given, list):
        raise GraphError(131009, "carousel.cards must be a list.")
    if len(given) != len(expected):
        raise GraphError(132000, f"carousel: the template has {len(expected)} cards, got {len(given)}.")
    seen: set[int] = set()
    for position, card in enumerate(given):
        with _within(f"carousel card {position}"):
            if not isinstance(card, dict):
                raise GraphError(131009, "each card is an object.")
            index = card.get("card_index")
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(expected):
                raise GraphError(131009, f"card_index must be 0 to {len(expected) - 1}, got {index!r}.")
            if index in seen:
                raise GraphError(131009, f"card_index {index} is given twice.")
            seen.add(index)
            _check_card(template, expected[index], card.get("components"))


def _check_card(template: SandboxTemplate, template_card: list[dict[str, Any]], components: Any) -> None:
    if components is None:
        components = []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise GraphError(131009, "components must be a list of objects.")
    shape = template_shape(template.category, template_card)
    grouped = _grouped(components, ("header", "body", "button"))
    header = _parameters(grouped["header"][0], "header") if grouped["header"] else []
    if not header:
        raise GraphError(131008, "the card's header media is required.")
    _check_header(shape, header)
    body = _parameters(grouped["body"][0], "body") if grouped["body"] else []
    _check_body(shape, body, named=str(template.parameter_format).upper() == "NAMED")
    _check_buttons(shape, grouped["button"])


def _grouped(components: list[dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for component in components:
        kind = str(component.get("type", "")).lower()
        if kind not in grouped:
            raise GraphError(131009, f"components: unknown component type {kind!r}.")
        grouped[kind].append(component)
    if any(len(grouped[kind]) > 1 for kind in kinds if kind != "button"):
        raise GraphError(
            131009, f"components: one {', '.join(k for k in kinds if k != 'button')} each at most."
        )
    return grouped


def check_send_components(template: SandboxTemplate, components: Any, now: float | None = None) -> None:
    """Parameters match the template's components in number and kind, or Meta's code says why not.

    ``now`` (Unix seconds; default the current time) is what an offer's end must come after.
    """
    if components is None:
        components = []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise GraphError(131009, "template.components must be a list of objects.")
    shape = template_shape(template.category, template.components)
    grouped = _grouped(components, ("header", "body", "button", "limited_time_offer", "carousel"))

    def parameters(kind: str) -> list[Any]:
        return _parameters(grouped[kind][0], kind) if grouped[kind] else []

    if shape.header_format is None and parameters("header"):
        raise GraphError(132000, "header: the template has no header.")
    if shape.header_format is not None:
        _check_header(shape, parameters("header"))
    _check_body(shape, parameters("body"), named=template.parameter_format == "NAMED")
    _check_offer(template.components, grouped["limited_time_offer"], time.time() if now is None else now)
    _check_buttons(shape, grouped["button"])
    _check_carousel(template, grouped["carousel"])
