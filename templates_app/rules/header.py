"""The header: text (one variable, with its sample), media (with an uploaded sample) or a location.

A LOCATION header is only its format: the place (latitude, longitude, name, address) is given per
send, so the template carries no text and no sample (docs/meta-facts.md 5.3a). Meta allows it on
UTILITY and MARKETING templates; an AUTHENTICATION template has no header at all
(``authentication`` names the location case).
"""

from __future__ import annotations

from templates_app.components import (
    MEDIA_HEADER_FORMATS,
    Component,
    HeaderFormat,
    header_examples,
    header_format,
    header_handle,
    text_of,
    variable_names,
    variables_in,
)
from templates_app.rules import unsupported
from templates_app.rules.variables import numbering_violations, sample_violations, variable_violations
from templates_app.rules.violation import Violation

HEADER_TEXT_MAX_LENGTH = 60  # 5.3
HEADER_TEXT_MAX_VARIABLES = 1  # 5.3
# What this back-office can author, preview and send.
SUPPORTED_HEADER_FORMATS = frozenset({HeaderFormat.TEXT, *MEDIA_HEADER_FORMATS, HeaderFormat.LOCATION})

_MEDIA_NOUNS = {HeaderFormat.IMAGE: "image", HeaderFormat.VIDEO: "video", HeaderFormat.DOCUMENT: "document"}


def header_violations(header: Component | None, parameter_format: str | None) -> list[Violation]:
    if header is None:
        return []
    fmt = header_format(header)
    unsupported_format = unsupported.header_violation(header)
    if unsupported_format is not None:
        return [unsupported_format]
    if fmt not in SUPPORTED_HEADER_FORMATS:
        return [
            Violation(
                "header",
                "Choose a header type: text, image, video, document or location.",
                "header_format_unsupported",
            )
        ]
    if fmt == HeaderFormat.LOCATION:
        return _location_violations(header)
    if fmt in MEDIA_HEADER_FORMATS:
        if not header_handle(header):
            noun = _MEDIA_NOUNS[HeaderFormat(fmt)]
            return [
                Violation(
                    "header_example",
                    f"Upload a sample {noun}: WhatsApp's reviewers need to see what the header will show.",
                    "header_media_example_missing",
                )
            ]
        return []
    text = header.get("text")
    if not isinstance(text, str) or not text.strip():
        return [
            Violation("header_text", "Write the header text, or remove the header.", "header_text_required")
        ]
    violations = []
    if len(text) > HEADER_TEXT_MAX_LENGTH:
        violations.append(
            Violation(
                "header_text",
                f"The header is {len(text)} characters long; WhatsApp allows {HEADER_TEXT_MAX_LENGTH}.",
                "header_text_too_long",
            )
        )
    problems, variables = variable_violations(
        text, field="header_text", where="header", parameter_format=parameter_format
    )
    violations += problems
    if len(variables_in(text)) > HEADER_TEXT_MAX_VARIABLES:
        violations.append(
            Violation(
                "header_text",
                f"A text header can hold only {HEADER_TEXT_MAX_VARIABLES} variable. "
                "Move the others to the body.",
                "header_too_many_variables",
            )
        )
    numbering = numbering_violations(variables, field="header_text", where="header")
    violations += numbering
    if not problems:
        violations += sample_violations(
            names=variable_names(text),
            samples=header_examples(header),
            field="header_example",
            where="header",
            by_count=bool(numbering),
        )
    return violations


def _location_violations(header: Component) -> list[Violation]:
    """The place comes with each send: a text or an uploaded sample on the header has no meaning."""
    if text_of(header) or header_handle(header) or header_examples(header):
        return [
            Violation(
                "header",
                "A location header has no text and no sample: the place (map, name and address) is "
                "chosen for each send. Remove the header text or sample.",
                "header_location_content",
            )
        ]
    return []
