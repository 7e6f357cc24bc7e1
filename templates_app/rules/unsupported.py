"""Meta template features this back-office does not author yet, each refused by name.

WhatsApp knows these parts, so "parts WhatsApp doesn't know" would be false: the marketer is told
which feature it is and why it is not here, with a stable code per feature. The commerce ones
(product cards, single- and multi-product templates, catalog buttons) need a Meta commerce
catalog connected to the WhatsApp account, which this product does not manage; GIF headers
belong to another API; Flow and WhatsApp call buttons need features this product doesn't use.
Media card carousels, limited-time offers and location headers are authored (``carousel``,
``limited_time_offer``, ``header``). Sources: Meta's template components page and its carousel,
catalog, single- and multi-product and call-button pages (docs/templates.md lists them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from templates_app.components import ButtonType, Component, component_type, header_format
from templates_app.rules.violation import Violation

_CATALOG_REASON = (
    "it needs a Meta commerce catalog connected to the WhatsApp account, which this product doesn't manage"
)


@dataclass(frozen=True)
class Unsupported:
    """A feature's stable code and the sentence naming it and saying why it is not here."""

    code: str
    message: str


PRODUCT_CAROUSEL = Unsupported(
    "product_carousel_not_supported",
    f"Product card carousels aren't supported here: {_CATALOG_REASON}.",
)

HEADER_FORMATS = {
    "GIF": Unsupported(
        "header_gif_not_supported",
        "GIF headers exist only in Meta's Marketing Messages API, which this product doesn't use. "
        "Use an image or a video header.",
    ),
    "PRODUCT": Unsupported(
        "product_template_not_supported",
        f"Single-product templates (a product header) aren't supported here: {_CATALOG_REASON}.",
    ),
}

BUTTON_TYPES = {
    ButtonType.CATALOG: Unsupported(
        "button_catalog_not_supported",
        f"Catalog buttons (View catalog) aren't supported here: {_CATALOG_REASON}.",
    ),
    ButtonType.MPM: Unsupported(
        "button_mpm_not_supported",
        f"Multi-product buttons (View items) aren't supported here: {_CATALOG_REASON}.",
    ),
    ButtonType.SPM: Unsupported(
        "button_spm_not_supported",
        f"Single-product buttons (View) aren't supported here: {_CATALOG_REASON}.",
    ),
    ButtonType.FLOW: Unsupported(
        "button_flow_not_supported",
        "WhatsApp Flow buttons can't be authored here yet: this product doesn't build Flows.",
    ),
    ButtonType.VOICE_CALL: Unsupported(
        "button_voice_call_not_supported",
        "WhatsApp call buttons can't be authored here yet: this product doesn't use WhatsApp "
        "Calling. Use a call button with a phone number instead.",
    ),
}


def component_violations(components: Sequence[Any]) -> list[Violation]:
    """A product card carousel named as one (a media card carousel is checked by ``carousel``)."""
    if any(component_type(c) == "CAROUSEL" and is_product_carousel(c) for c in components):
        return [Violation("components", PRODUCT_CAROUSEL.message, PRODUCT_CAROUSEL.code)]
    return []


def header_violation(header: Component) -> Violation | None:
    feature = HEADER_FORMATS.get(header_format(header))
    return Violation("header", feature.message, feature.code) if feature else None


def button_violation(index: int, kind: str) -> Violation | None:
    feature = BUTTON_TYPES.get(kind)
    return (
        Violation(f"buttons[{index}].type", f"Button {index + 1}: {feature.message}", feature.code)
        if feature
        else None
    )


def is_product_carousel(carousel: Component) -> bool:
    """Meta's product card carousels have PRODUCT headers on their cards (media cards IMAGE/VIDEO)."""
    cards = carousel.get("cards")
    if not isinstance(cards, Sequence) or isinstance(cards, str):
        return False
    for card in cards:
        parts = card.get("components") if isinstance(card, Mapping) else None
        if not isinstance(parts, Sequence) or isinstance(parts, str):
            continue
        if any(component_type(part) == "HEADER" and header_format(part) == "PRODUCT" for part in parts):
            return True
    return False
