"""What identifies a template at Meta: its name, language, category and variable style."""

from __future__ import annotations

import re
from enum import StrEnum

from templates_app.components import (
    ParameterFormat,
)
from templates_app.rules.violation import Violation


class Category(StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


OPT_OUT_PURPOSES = ("marketing", "service")

NAME_PATTERN = re.compile(r"[a-z0-9_]+")  # 5.2
NAME_MAX_LENGTH = 512  # 5.2
# Meta's locale codes look like "en", "en_US", "pt_BR", "fil" (5.2 gives examples, not a grammar;
# the list of languages we offer is not this module's business).
LANGUAGE_CODE_PATTERN = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


def name_violations(name: str) -> list[Violation]:
    if not name:
        return [Violation("name", "Give the template a name, for example order_update.", "name_required")]
    if len(name) > NAME_MAX_LENGTH:
        return [
            Violation(
                "name",
                f"The name is too long: WhatsApp allows {NAME_MAX_LENGTH} characters.",
                "name_too_long",
            )
        ]
    if not NAME_PATTERN.fullmatch(name):
        return [
            Violation(
                "name",
                "Use only lowercase letters, numbers and underscores in the name (for example "
                "order_update): WhatsApp refuses spaces, capitals and other signs.",
                "name_invalid",
            )
        ]
    return []


def language_violations(language: str) -> list[Violation]:
    if not language:
        return [Violation("language", "Choose the language the template is written in.", "language_required")]
    if not LANGUAGE_CODE_PATTERN.fullmatch(language):
        return [
            Violation(
                "language",
                f"“{language}” isn't a WhatsApp language code; use one like en, en_US or pt_BR.",
                "language_invalid",
            )
        ]
    return []


def category_violations(category: str) -> list[Violation]:
    if category in Category.__members__:
        return []
    return [
        Violation("category", "Choose a category: Marketing, Utility or Authentication.", "category_invalid")
    ]


def parameter_format_violations(parameter_format: str) -> list[Violation]:
    if parameter_format in ParameterFormat.__members__:
        return []
    return [
        Violation(
            "parameter_format",
            "Choose how variables are written: numbered ({{1}}) or named ({{first_name}}).",
            "parameter_format_invalid",
        )
    ]
