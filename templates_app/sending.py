"""What the send path asks of a template: may this version be sent, do these parameters fit it,
and what are Meta's send components for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ApplicationError
from templates_app.models import MessageTemplate, TemplateStatus, TemplateVersion
from templates_app.parameters import build_send_components, check_parameters


@dataclass(frozen=True)
class Sendability:
    version: TemplateVersion | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return " ".join(self.problems)


def sendability(template: MessageTemplate, parameters: Any = None) -> Sendability:
    """Whether ``template`` can be sent now with ``parameters``, and if not, why (in plain words)."""
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        label = (
            TemplateStatus(template.status).label
            if template.status in TemplateStatus.values
            else template.status
        )
        return Sendability(
            None,
            (f"The template {template} is {label.lower()}: only templates WhatsApp approved can be sent.",),
        )
    version = template.approved_version
    problems = check_parameters(
        components=version.components, parameter_format=version.parameter_format, parameters=parameters or {}
    )
    return Sendability(version, tuple(problems))


def send_components(
    version: TemplateVersion, parameters: Any, *, opt_out_payload: str | None = None
) -> list[dict[str, Any]]:
    """Meta's ``components`` for a send; the opt-out button carries ``opt_out_payload``."""
    payloads: Mapping[int, str] | None = None
    if opt_out_payload and version.opt_out_button_index is not None:
        payloads = {version.opt_out_button_index: opt_out_payload}
    return build_send_components(
        components=version.components,
        parameter_format=version.parameter_format,
        parameters=parameters or {},
        quick_reply_payloads=payloads,
    )


def require_sendable(template: MessageTemplate, parameters: Any = None) -> TemplateVersion:
    result = sendability(template, parameters)
    if not result.ok:
        code = "template_not_sendable" if result.version is None else "template_parameters_invalid"
        raise ApplicationError(result.reason, code=code, field="parameters" if result.version else "template")
    return result.version
