"""The body: length, variables and where they may stand (Meta's 2388299, 2388293, INVALID_FORMAT)."""

from __future__ import annotations

import re
from itertools import pairwise

from templates_app.components import (
    VARIABLE_TOKEN_PATTERN,
    Component,
    body_examples,
    variable_names,
    variables_in,
)
from templates_app.rules.variables import numbering_violations, sample_violations, variable_violations
from templates_app.rules.violation import Violation

BODY_MAX_LENGTH = 1024  # 5.3
# Meta refuses "too many variables for the length" (2388293) without publishing the ratio. This
# is a deliberately lenient guess [UNVERIFIED]: at least one word of fixed text per variable, so
# it only catches bodies that are nearly all variables and never blocks an ordinary sentence such
# as "Hi {{1}}, your order {{2}} ships on {{3}}.". Set to 0 to switch the rule off.
MIN_STATIC_WORDS_PER_VARIABLE = 1


def body_violations(body: Component | None, parameter_format: str | None) -> list[Violation]:
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
    problems, variables = variable_violations(
        text, field="body", where="body", parameter_format=parameter_format
    )
    violations += problems
    numbering = numbering_violations(variables, field="body", where="body")
    violations += numbering
    violations += _body_placement_violations(text)
    if not problems:
        violations += sample_violations(
            names=variable_names(text),
            samples=body_examples(body),
            field="body_example",
            where="body",
            by_count=bool(numbering),
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
