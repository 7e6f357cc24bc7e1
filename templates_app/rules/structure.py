"""The template's parts: which components it has, and how many of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from templates_app.components import (
    ComponentType,
    component_type,
)
from templates_app.rules import unsupported
from templates_app.rules.violation import Violation


def structure_violations(components: Any) -> list[Violation]:
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
    violations += unsupported.component_violations(components)
    for kind, count in Counter(kinds).items():
        if kind in ComponentType.__members__ and count > 1:
            violations.append(
                Violation(
                    "components",
                    f"A template has at most one {kind.lower()}; this one has {count}.",
                    "components_repeated",
                )
            )
    if ComponentType.CAROUSEL in kinds and ComponentType.LIMITED_TIME_OFFER in kinds:
        violations.append(
            Violation(
                "components",
                "A template is either a carousel or a limited-time offer, not both: remove one of them.",
                "carousel_with_offer",
            )
        )
    return violations
