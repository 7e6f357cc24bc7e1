"""What Meta requires of a template before it accepts it for review, checked before we submit.

``validate_template`` runs on every save of a draft and again before every submission, so a
marketer learns in the editor — in words they understand, on the field they typed — what Meta
would otherwise refuse minutes later with a code like 2388299. Rules follow docs/meta-facts.md
(sections 5 and 8.3); limits it marks as library-only or unverified are named constants in the
module that checks them, with their source, so a correction is a one-line change. One module per
part of the template: ``naming`` (name, language, category, variable style), ``structure``
(which components), ``variables`` (shared by header and body), ``header``, ``body``, ``footer``,
``buttons``, ``authentication``, ``carousel`` (media card carousels), ``limited_time_offer``,
``unsupported`` (Meta's features this product does not author, each named) and ``opt_out`` (the
app's own marking). A carousel's cards and an offer reuse the body and button rules with their
own limits and field keys.

Field keys (``Violation.field``) — the form field each message is shown on:

- ``name``, ``language``, ``category``, ``parameter_format``, ``components`` (structure: unknown
  or repeated component types);
- ``header`` (format, not allowed), ``header_text``, ``header_example`` (text sample or media handle);
- ``body``, ``body_example``;
- ``footer``, ``code_expiration_minutes`` (AUTHENTICATION footer);
- ``buttons`` (counts, grouping, what the template may carry) and ``buttons[<i>].<key>`` for one
  button, ``<i>`` its 0-based position and ``<key>`` one of ``type``, ``text``, ``url``, ``example``,
  ``phone_number``, ``otp_type``, ``supported_apps``, ``zero_tap_terms_accepted``;
- ``offer_text`` (a limited-time offer's headline) and ``offer`` (the offer's other rules: its
  header, buttons, no footer);
- ``carousel`` (card count, cards alike) and ``cards[<c>].<key>`` for one card, ``<c>`` its 0-based
  position and ``<key>`` one of ``header``, ``header_example``, ``body``, ``body_example``,
  ``buttons`` or ``buttons[<i>].<key>`` as above;
- ``opt_out_button`` (the app's own marking of the opt-out quick reply; ``opt_out_purpose`` for
  its purpose).

Messages count buttons from 1, the way a person reads them.
"""

from __future__ import annotations

from typing import Any

from templates_app.components import ParameterFormat, body_of, footer_of, header_of, is_carousel_template
from templates_app.rules.authentication import authentication_violations
from templates_app.rules.body import BODY_MAX_LENGTH, body_violations
from templates_app.rules.buttons import buttons_violations
from templates_app.rules.carousel import carousel_violations
from templates_app.rules.footer import footer_violations
from templates_app.rules.header import header_violations
from templates_app.rules.limited_time_offer import (
    OFFER_BODY_MAX_LENGTH,
    is_limited_time_offer,
    limited_time_offer_violations,
    offer_header_allowed,
)
from templates_app.rules.naming import (
    Category,
    category_violations,
    language_violations,
    name_violations,
    parameter_format_violations,
)
from templates_app.rules.opt_out import OPT_OUT_PURPOSES, OptOutButton, opt_out_violations
from templates_app.rules.structure import structure_violations
from templates_app.rules.violation import Violation

__all__ = ["OPT_OUT_PURPOSES", "Category", "OptOutButton", "Violation", "validate_template"]


def validate_template(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: Any,
    opt_out_button: OptOutButton | None = None,
) -> list[Violation]:
    """Every reason Meta (or this app) would refuse the template; an empty list means it may go.

    Category and parameter format are read upper-cased, as Meta reads them: its own examples
    write ``"category": "marketing"`` and ``"parameter_format": "named"``.
    """
    category = category.upper() if isinstance(category, str) else category
    parameter_format = parameter_format.upper() if isinstance(parameter_format, str) else parameter_format
    violations: list[Violation] = []
    violations += name_violations(name)
    violations += language_violations(language)
    violations += category_violations(category)
    violations += parameter_format_violations(parameter_format)
    violations += structure_violations(components)
    fmt = parameter_format if parameter_format in ParameterFormat.__members__ else None
    if category == Category.AUTHENTICATION:
        violations += authentication_violations(components)
    elif is_carousel_template(components):
        # The carousel has only a body of its own; its header, footer or buttons are refused there.
        violations += body_violations(body_of(components), fmt)
    else:
        offer = is_limited_time_offer(components)
        header = header_of(components)
        if not offer or offer_header_allowed(header):
            violations += header_violations(header, fmt)
        max_length = OFFER_BODY_MAX_LENGTH if offer else BODY_MAX_LENGTH
        violations += body_violations(body_of(components), fmt, max_length=max_length)
        if not offer:
            violations += footer_violations(footer_of(components))
        violations += buttons_violations(components)
    violations += carousel_violations(components, category, fmt)
    violations += limited_time_offer_violations(components, category)
    violations += opt_out_violations(components, opt_out_button)
    return violations
