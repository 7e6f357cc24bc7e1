"""Variables, their samples and their numbering, shared by the header and the body."""

from __future__ import annotations

from collections.abc import Mapping

from templates_app.components import (
    ParameterFormat,
    Variable,
    has_stray_braces,
    variables_in,
)
from templates_app.rules.violation import Violation

NAMED_VARIABLE_MAX_LENGTH = 20  # 1.3 [LIB whatsapp-api-js], not stated by Meta


def variable_violations(
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


def sample_violations(
    *, names: list[str], samples: Mapping[str, str], field: str, where: str, by_count: bool = False
) -> list[Violation]:
    """Missing and extra samples, by name; ``by_count`` when the numbering is broken.

    Positional samples are a list matched to {{1}}, {{2}}, … in order, so with a gap ({{1}} and
    {{3}}) naming them would be false ("no sample for {{3}}", "a sample for {{2}}"): only how many
    are missing or extra is said, next to the numbering's own message.
    """
    if by_count:
        return _sample_count_violations(names=names, samples=samples, field=field, where=where)
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


def numbering_violations(variables: list[Variable], *, field: str, where: str) -> list[Violation]:
    """Numbered variables run {{1}}, {{2}}, … without a gap; one message naming what is skipped."""
    numbers = sorted({variable.number for variable in variables if variable.number is not None})
    if not numbers or numbers == list(range(1, len(numbers) + 1)):
        return []
    skipped = [n for n in range(1, numbers[-1]) if n not in numbers]
    if skipped:
        tokens = ", ".join("{{" + str(n) + "}}" for n in skipped)
        message = (
            f"The numbering of the variables in the {where} skips {tokens}: number them one after "
            "the other from {{1}}."
        )
    else:
        message = f"Number the variables in the {where} from {{{{1}}}}, not {{{{0}}}}."
    return [Violation(field, message, "variables_not_sequential")]


def _sample_count_violations(
    *, names: list[str], samples: Mapping[str, str], field: str, where: str
) -> list[Violation]:
    given = [value for value in samples.values() if value.strip()]
    if len(given) < len(names):
        return [
            Violation(
                field,
                f"Give a sample value for each of the {len(names)} variables in the {where}: "
                f"there {'is' if len(given) == 1 else 'are'} {len(given)}.",
                "example_missing",
            )
        ]
    if len(samples) > len(names):
        return [
            Violation(
                field,
                f"There are {len(samples)} samples for the {len(names)} variables in the {where}. "
                "Remove the extra ones.",
                "example_extra",
            )
        ]
    return []
