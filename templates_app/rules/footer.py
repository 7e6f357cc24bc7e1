"""The footer: short static text (an expiry footer belongs to authentication templates)."""

from __future__ import annotations

from templates_app.components import (
    Component,
    has_stray_braces,
    variables_in,
)
from templates_app.rules.violation import Violation

FOOTER_MAX_LENGTH = 60  # 5.3 (footer treated as static: sources disagree on variables there)


def footer_violations(footer: Component | None) -> list[Violation]:
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
