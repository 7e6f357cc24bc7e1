"""One refusal of the validator: the field it is shown on, the sentence, a stable code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One refusal: the form field to show it on, the sentence to show, a stable machine code."""

    field: str
    message: str
    code: str
