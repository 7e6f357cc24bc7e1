"""Meta's send-time check of a template message: the parameters match the approved template's
components in number and kind, or Meta's code says why not (132000 wrong number, 132012 wrong kind,
131008 a required part missing, 131009 a malformed one)."""

from __future__ import annotations

from typing import Any

from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.state import SandboxTemplate
from cloud_api.sandbox.template_rules import MEDIA_FORMATS, SEND_SUB_TYPES, TemplateShape, template_shape


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
        try:
            index = int(component.get("index"))
        except (TypeError, ValueError):
            raise GraphError(131008, "button: index is required.") from None
        button = by_index.get(index)
        if button is None:
            raise GraphError(131009, f"button: the template has no button at index {index}.")
        sub_type = str(component.get("sub_type", "")).lower()
        if SEND_SUB_TYPES.get(button.type) != sub_type:
            raise GraphError(
                132012, f"button {index}: the template's {button.type} button is not {sub_type!r}."
            )
        parameters = component.get("parameters") or []
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


def check_send_components(template: SandboxTemplate, components: Any) -> None:
    """Parameters match the template's components in number and kind, or Meta's code says why not."""
    if components is None:
        components = []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise GraphError(131009, "template.components must be a list of objects.")
    shape = template_shape(template.category, template.components)
    grouped: dict[str, list[dict[str, Any]]] = {"header": [], "body": [], "button": []}
    for component in components:
        kind = str(component.get("type", "")).lower()
        if kind not in grouped:
            raise GraphError(131009, f"template.components: unknown component type {kind!r}.")
        grouped[kind].append(component)
    if len(grouped["header"]) > 1 or len(grouped["body"]) > 1:
        raise GraphError(131009, "template.components: one header and one body at most.")

    def parameters(kind: str) -> list[Any]:
        return grouped[kind][0].get("parameters") or [] if grouped[kind] else []

    if shape.header_format is None and parameters("header"):
        raise GraphError(132000, "header: the template has no header.")
    if shape.header_format is not None:
        _check_header(shape, parameters("header"))
    _check_body(shape, parameters("body"), named=template.parameter_format == "NAMED")
    _check_buttons(shape, grouped["button"])
