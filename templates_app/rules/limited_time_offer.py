"""Limited-time offers: a MARKETING template with a countdown headline and a coupon code.

Meta's limited-time offer page (docs/meta-facts.md 5.3a): MARKETING only, no footer; an optional
IMAGE or VIDEO header; a LIMITED_TIME_OFFER component whose ``text`` (1–16 characters) is the
headline beside the countdown and whose ``has_expiration`` (a boolean) turns the countdown on; a
body of at most 600 characters (checked by ``body`` with that limit); and buttons: a copy code
button first, then one website button. The page lets an offer without expiration leave the copy
code button out (then the website button stands alone); with an expiration it is required,
because the countdown is shown on the code. The copy code sample keeps the buttons' 15-character
limit (``buttons.COPY_CODE_EXAMPLE_MAX_LENGTH``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from templates_app.components import (
    ButtonType,
    Component,
    ComponentType,
    HeaderFormat,
    button_type,
    buttons_of,
    find_component,
    header_format,
    header_of,
    limited_time_offer_of,
)
from templates_app.rules.naming import Category
from templates_app.rules.violation import Violation

OFFER_TEXT_MAX_LENGTH = 16  # 5.3a
OFFER_BODY_MAX_LENGTH = 600  # 5.3a
OFFER_HEADER_FORMATS = (HeaderFormat.IMAGE, HeaderFormat.VIDEO)  # 5.3a
# The buttons Meta's page allows, in its order: with a countdown, a copy code then a website button.
OFFER_BUTTONS = (ButtonType.COPY_CODE, ButtonType.URL)
# Without a countdown the copy code button may be left out (Meta's page: "optional" then).
OFFER_BUTTONS_WITHOUT_EXPIRATION = (OFFER_BUTTONS, (ButtonType.URL,))


def is_limited_time_offer(components: Any) -> bool:
    return limited_time_offer_of(components) is not None


def offer_header_allowed(header: Component | None) -> bool:
    """No header, or an image or video one: the offer's other headers are refused here, not in ``header``."""
    return header is None or header_format(header) in OFFER_HEADER_FORMATS


def limited_time_offer_violations(components: Any, category: str) -> list[Violation]:
    """Every offer rule except the body's length; [] for a template without an offer."""
    offer = limited_time_offer_of(components)
    if offer is None:
        return []
    violations = []
    if category in Category.__members__ and category != Category.MARKETING:
        violations.append(
            Violation(
                "category",
                "Limited-time offers are for marketing templates only: choose the marketing category, "
                "or remove the offer.",
                "offer_category",
            )
        )
        if category == Category.AUTHENTICATION:
            return violations
    violations += _offer_settings_violations(offer)
    if not offer_header_allowed(header_of(components)):
        violations.append(
            Violation(
                "offer",
                "A limited-time offer's header is an image or a video (or no header): remove the "
                f"{header_format(header_of(components)).lower() or 'other'} header.",
                "offer_header_format",
            )
        )
    if find_component(components, ComponentType.FOOTER) is not None:
        violations.append(
            Violation(
                "offer",
                "A limited-time offer has no footer: WhatsApp shows the countdown there. Remove the footer.",
                "offer_footer_not_allowed",
            )
        )
    violations += _offer_buttons_violations(components, offer)
    return violations


def _offer_settings_violations(offer: Mapping[str, Any]) -> list[Violation]:
    violations = []
    text = offer.get("text")
    if not isinstance(text, str) or not text.strip():
        violations.append(
            Violation(
                "offer_text",
                "Write the offer's headline, shown beside the countdown (for example “Expiring offer!”).",
                "offer_text_required",
            )
        )
    elif len(text) > OFFER_TEXT_MAX_LENGTH:
        violations.append(
            Violation(
                "offer_text",
                f"The offer's headline is {len(text)} characters long; WhatsApp allows "
                f"{OFFER_TEXT_MAX_LENGTH}.",
                "offer_text_too_long",
            )
        )
    if "has_expiration" in offer and not isinstance(offer["has_expiration"], bool):
        violations.append(
            Violation(
                "offer",
                "Say whether the offer counts down to an expiry: yes or no.",
                "offer_expiration_invalid",
            )
        )
    return violations


def _offer_buttons_violations(components: Any, offer: Mapping[str, Any]) -> list[Violation]:
    kinds = tuple(button_type(button) for button in buttons_of(components))
    if offer.get("has_expiration") is True:
        if kinds == OFFER_BUTTONS:
            return []
        message = (
            "A limited-time offer with a countdown needs two buttons, in this order: a copy code "
            "button with the offer code, then a website button."
        )
    else:
        if kinds in OFFER_BUTTONS_WITHOUT_EXPIRATION:
            return []
        message = (
            "A limited-time offer needs a website button, after a copy code button if it has one, "
            "and no other buttons."
        )
    return [Violation("offer", message, "offer_buttons")]
