"""The app's own marking of a quick reply as the opt-out button (not part of Meta's JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from templates_app.components import (
    ButtonType,
    button_type,
    buttons_of,
)
from templates_app.rules.violation import Violation

OPT_OUT_PURPOSES = ("marketing", "service")


@dataclass(frozen=True)
class OptOutButton:
    """The app's marking of one QUICK_REPLY as the opt-out button; it is not part of Meta's JSON."""

    index: int
    purpose: str  # one of OPT_OUT_PURPOSES


def opt_out_violations(components: Any, opt_out_button: OptOutButton | None) -> list[Violation]:
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
