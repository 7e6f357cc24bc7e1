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


def body_violations(
    body: Component | None,
    parameter_format: str | None,
    *,
    max_length: int = BODY_MAX_LENGTH,
    field: str = "body",
    example_field: str = "body_example",
    where: str = "body",
) -> list[Violation]:
    """The body's rules; a carousel card's body and a limited-time offer's shorter body reuse them
    with their own limit, fields (``cards[<c>].body``) and words ("the body of card 3")."""
    text = body.get("text") if body is not None else None
    if not isinstance(text, str) or not text.strip():
        message = (
            "Write the message body: it is the one part every template needs."
            if where == "body"
            else f"Write the {where}, or remove it."
        )
        return [Violation(field, message, "body_required")]
    violations = []
    if len(text) > max_length:
        violations.append(
            Violation(
                field,
                f"The {where} is {len(text)} characters long; WhatsApp allows {max_length}.",
                "body_too_long",
            )
        )
    problems, variables = variable_violations(
        text, field=field, where=where, parameter_format=parameter_format
    )
    violations += problems
    numbering = numbering_violations(variables, field=field, where=where)
    violations += numbering
    violations += _body_placement_violations(text, field=field, where=where)
    if not problems:
        violations += sample_violations(
            names=variable_names(text),
            samples=body_examples(body),
            field=example_field,
            where=where,
            by_count=bool(numbering),
        )
    return violations


def _body_placement_violations(text: str, *, field: str, where: str) -> list[Violation]:
    """Meta's 2388299 (start/end), INVALID_FORMAT (adjacent) and 2388293 (too many for the length)."""
    stripped = text.strip()
    occurrences = variables_in(stripped)
    if not occurrences:
        return []
    violations = []
    if occurrences[0].start == 0:
        violations.append(
            Violation(
                field,
                f"The {where} can't start with a variable: WhatsApp rejects templates whose text begins "
                f"with {occurrences[0].token}. Add a greeting before it.",
                "body_starts_with_variable",
            )
        )
    if occurrences[-1].end == len(stripped):
        violations.append(
            Violation(
                field,
                f"The {where} can't end with a variable: WhatsApp rejects templates whose text ends with "
                f"{occurrences[-1].token}. Add a few words or a full stop after it.",
                "body_ends_with_variable",
            )
        )
    for before, after in pairwise(occurrences):
        if not stripped[before.end : after.start].strip():
            violations.append(
                Violation(
                    field,
                    f"{before.token} and {after.token} sit next to each other in the {where}: WhatsApp "
                    "needs some words between two variables.",
                    "body_adjacent_variables",
                )
            )
    static_words = len(re.findall(r"\w+", VARIABLE_TOKEN_PATTERN.sub(" ", stripped)))
    if MIN_STATIC_WORDS_PER_VARIABLE and static_words < MIN_STATIC_WORDS_PER_VARIABLE * len(occurrences):
        violations.append(
            Violation(
                field,
                f"The {where} has too many variables for its length ({len(occurrences)} variables, "
                f"{static_words} other words): WhatsApp rejects such templates. Add more text or use "
                "fewer variables.",
                "body_too_many_variables",
            )
        )
    return violations
