# ruff: noqa: E501 -- Meta's example texts are kept as its pages print them.
"""Meta's own template creation examples, as its developer documentation shows them.

Each is the request body of ``POST /<WABA_ID>/message_templates`` copied from the page named in
``source`` (lower-case ``category`` and component types included, as Meta writes them). Media
handles are Meta's placeholders ("4::aW..."): a real client uploads the sample first, so the
sandbox tests swap them for a handle the sandbox issued.
"""

from __future__ import annotations

import copy
from typing import Any

_PAGES = "https://developers.facebook.com/documentation/business-messaging/whatsapp/templates"
COMPONENTS_PAGE = f"{_PAGES}/components/"
CAROUSEL_PAGE = f"{_PAGES}/marketing-templates/media-card-carousel-templates"
LIMITED_TIME_OFFER_PAGE = f"{_PAGES}/marketing-templates/limited-time-offer-templates"
COUPON_CODE_PAGE = f"{_PAGES}/marketing-templates/coupon-code-templates"
AUTHENTICATION_PAGE = f"{_PAGES}/authentication-templates/copy-code-button-authentication-templates"

SEASONAL_PROMOTION = {
    "source": COMPONENTS_PAGE + "#seasonal-promotion",
    "body": {
        "name": "seasonal_promotion",
        "language": "en_US",
        "category": "MARKETING",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Our {{1}} is on!",
                "example": {"header_text": ["Summer Sale"]},
            },
            {
                "type": "BODY",
                "text": "Shop now through {{1}} and use code {{2}} to get {{3}} off of all merchandise.",
                "example": {"body_text": [["the end of August", "25OFF", "25%"]]},
            },
            {"type": "FOOTER", "text": "Use the buttons below to manage your marketing subscriptions"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Unsubscribe from Promos"},
                    {"type": "QUICK_REPLY", "text": "Unsubscribe from All"},
                ],
            },
        ],
    },
}

ORDER_CONFIRMATION = {
    "source": COMPONENTS_PAGE + "#order-confirmation",
    "body": {
        "name": "order_confirmation",
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::YX..."]}},
            {
                "type": "BODY",
                "text": "Thank you for your order, {{1}}! Your order number is {{2}}. Tap the PDF linked above to "
                "view your receipt. If you have any questions, please use the buttons below to contact support. "
                "Thank you for being a customer!",
                "example": {"body_text": [["Pablo", "860198-230332"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "15550051310"},
                    {"type": "URL", "text": "Contact Support", "url": "https://www.luckyshrub.com/support"},
                ],
            },
        ],
    },
}

ORDER_DELIVERY_UPDATE = {
    "source": COMPONENTS_PAGE + "#order-delivery-update",
    "body": {
        "name": "order_delivery_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "LOCATION"},
            {
                "type": "BODY",
                "text": "Good news {{1}}! Your order #{{2}} is on its way to the location above. Thank you for your order!",
                "example": {"body_text": [["Mark", "566701"]]},
            },
            {"type": "FOOTER", "text": "To stop receiving delivery updates, tap the button below."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop Delivery Updates"}]},
        ],
    },
}

WINTER_SALE_COUPON = {
    "source": COUPON_CODE_PAGE,
    "body": {
        "name": "winter_sale_coupon",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "named",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Our Winter Sale is on!"},
            {
                "type": "BODY",
                "text": "Shop now through the end of December and use the one-time use code {{coupon_code}} to get "
                "{{discount}} off of your entire order!",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "coupon_code", "example": "WINTER25"},
                        {"param_name": "discount", "example": "30%"},
                    ]
                },
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Unsubscribe"},
                    {"type": "COPY_CODE", "example": "WINTER25"},
                ],
            },
        ],
    },
}

AUTHENTICATION_COPY_CODE = {
    "source": AUTHENTICATION_PAGE,
    "body": {
        "name": "authentication_code_copy_code_button",
        "language": "en_US",
        "category": "authentication",
        "message_send_ttl_seconds": 60,
        "components": [
            {"type": "body", "add_security_recommendation": True},
            {"type": "footer", "code_expiration_minutes": 5},
            {"type": "buttons", "buttons": [{"type": "otp", "otp_type": "copy_code", "text": "Copy Code"}]},
        ],
    },
}


def _card(url: str, example: str) -> dict[str, Any]:
    return {
        "components": [
            {"type": "header", "format": "image", "example": {"header_handle": ["4::an..."]}},
            {
                "type": "buttons",
                "buttons": [
                    {"type": "quick_reply", "text": "Send me more like this!"},
                    {"type": "url", "text": "Shop", "url": url, "example": [example]},
                ],
            },
        ]
    }


MEDIA_CARD_CAROUSEL = {
    "source": CAROUSEL_PAGE,
    "body": {
        "name": "carousel_template_media_cards_v1",
        "language": "en_US",
        "category": "marketing",
        "components": [
            {
                "type": "body",
                "text": "Rare succulents for sale! {{1}}, add these unique plants to your collection. Each of these "
                "rare succulents are {{2}} if you checkout using code {{3}}. Shop now and add some unique and "
                "beautiful plants to your collection!",
                "example": {"body_text": [["Pablo", "30%", "30OFF"]]},
            },
            {
                "type": "carousel",
                "cards": [
                    _card("https://www.luckyshrub.com/rare-succulents/{{1}}", "BLUE_ELF"),
                    _card("https://www.luckyshrub.com/rare-succulents{{1}}", "BUDDHA"),
                    _card("https://www.luckyshrub.com/rare-succulents{{1}}", "BLACK_PRINCE"),
                ],
            },
        ],
    },
}

LIMITED_TIME_OFFER = {
    "source": LIMITED_TIME_OFFER_PAGE,
    "body": {
        "name": "limited_time_offer_caribbean_pkg_2023",
        "language": "en_US",
        "category": "marketing",
        "components": [
            {"type": "header", "format": "image", "example": {"header_handle": ["4::aW..."]}},
            {
                "type": "limited_time_offer",
                "limited_time_offer": {"text": "Expiring offer!", "has_expiration": True},
            },
            {
                "type": "body",
                "text": "Good news, {{1}}! Use code {{2}} to get 25% off all Caribbean Destination packages!",
                "example": {"body_text": [["Pablo", "CARIBE25"]]},
            },
            {
                "type": "buttons",
                "buttons": [
                    {"type": "copy_code", "example": "CARIBE25"},
                    {
                        "type": "url",
                        "text": "Book now!",
                        "url": "https://awesomedestinations.com/offers?code={{1}}",
                        "example": ["https://awesomedestinations.com/offers?ref=n3mtql"],
                    },
                ],
            },
        ],
    },
}

# The kinds this product authors: each passes the validator and the sandbox unchanged (the sandbox
# after its media handles are swapped for uploaded ones). Meta's commerce kinds (product carousels,
# single- and multi-product templates) have no example here: they are refused by name, see
# test_rules_meta_features.
AUTHORED = [
    SEASONAL_PROMOTION,
    ORDER_CONFIRMATION,
    ORDER_DELIVERY_UPDATE,
    WINTER_SALE_COUPON,
    AUTHENTICATION_COPY_CODE,
    MEDIA_CARD_CAROUSEL,
    LIMITED_TIME_OFFER,
]


def with_handle(example: dict[str, Any], handle: str) -> dict[str, Any]:
    """A copy of the example's request body with every media sample handle replaced by ``handle``."""
    body = copy.deepcopy(example["body"])

    def swap(components: list[dict[str, Any]]) -> None:
        for component in components:
            if "header_handle" in (component.get("example") or {}):
                component["example"]["header_handle"] = [handle]
            for card in component.get("cards") or []:
                swap(card["components"])

    swap(body["components"])
    return body


# --- One broken variant of Meta's examples per rule ---------------------------------------------


class Broken:
    """Meta's example with one rule broken: the validator's (field, code), and whether the sandbox
    refuses it too (some rules are the product's own, or Meta's wording is not a creation error)."""

    def __init__(self, rule: str, example: dict[str, Any], change, field: str, code: str, *, sandbox=True):
        self.rule = rule
        self.body = copy.deepcopy(example["body"])
        change(self.body)
        self.field = field
        self.code = code
        self.sandbox = sandbox

    def __repr__(self) -> str:
        return self.rule


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    return next(c for c in body["components"] if c["type"].upper() == "CAROUSEL")["cards"]


def _part(parts: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(c for c in parts if c["type"].upper() == kind)


def _card_part(body: dict[str, Any], index: int, kind: str) -> dict[str, Any]:
    return _part(_cards(body)[index]["components"], kind)


def _card_bodies(body: dict[str, Any], texts: list[str], examples: list[list[str] | None]) -> None:
    for card, text, example in zip(_cards(body), texts, examples, strict=True):
        part: dict[str, Any] = {"type": "body", "text": text}
        if example is not None:
            part["example"] = {"body_text": [example]}
        card["components"].insert(1, part)


_CARD_TEXT = "Use code {{1}} to get 15% off this plant today."


def _set(target_of, **values):
    return lambda body: target_of(body).update(values)


def _offer(body: dict[str, Any]) -> dict[str, Any]:
    return _part(body["components"], "LIMITED_TIME_OFFER")["limited_time_offer"]


def _buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return _part(body["components"], "BUTTONS")["buttons"]


_ONE_CARD_BUTTON = [{"type": "url", "text": "Shop", "url": "https://www.luckyshrub.com/shop"}]
_THREE_CARD_BUTTONS = [
    {"type": "quick_reply", "text": "More"},
    {"type": "quick_reply", "text": "Less"},
    {"type": "url", "text": "Shop", "url": "https://www.luckyshrub.com/shop"},
]

BROKEN = [
    # media card carousel
    Broken(
        "one card",
        MEDIA_CARD_CAROUSEL,
        lambda b: _cards(b).__delitem__(slice(1, None)),
        "carousel",
        "carousel_card_count",
    ),
    Broken(
        "eleven cards",
        MEDIA_CARD_CAROUSEL,
        lambda b: _cards(b).extend(copy.deepcopy(_cards(b)[1:]) * 4),
        "carousel",
        "carousel_card_count",
    ),
    Broken(
        "carousel in utility",
        MEDIA_CARD_CAROUSEL,
        lambda b: b.update(category="utility"),
        "category",
        "carousel_category",
    ),
    Broken(
        "carousel with a footer",
        MEDIA_CARD_CAROUSEL,
        lambda b: b["components"].append({"type": "footer", "text": "Thanks"}),
        "footer",
        "carousel_top_level_not_allowed",
    ),
    Broken(
        "card header a document",
        MEDIA_CARD_CAROUSEL,
        lambda b: [_card_part(b, i, "HEADER").update(format="document") for i in range(3)],
        "cards[0].header",
        "carousel_card_header_format",
    ),
    Broken(
        "card header without sample",
        MEDIA_CARD_CAROUSEL,
        lambda b: _card_part(b, 1, "HEADER").pop("example"),
        "cards[1].header_example",
        "header_media_example_missing",
    ),
    Broken(
        "card headers differ",
        MEDIA_CARD_CAROUSEL,
        _set(lambda b: _card_part(b, 1, "HEADER"), format="video"),
        "cards[1].header",
        "carousel_cards_differ",
    ),
    Broken(
        "card buttons differ",
        MEDIA_CARD_CAROUSEL,
        _set(lambda b: _card_part(b, 2, "BUTTONS"), buttons=_ONE_CARD_BUTTON),
        "cards[2].buttons",
        "carousel_cards_differ",
    ),
    Broken(
        "card with three buttons",
        MEDIA_CARD_CAROUSEL,
        _set(lambda b: _card_part(b, 0, "BUTTONS"), buttons=_THREE_CARD_BUTTONS),
        "cards[0].buttons",
        "carousel_card_buttons_count",
    ),
    Broken(
        "card copy code button",
        MEDIA_CARD_CAROUSEL,
        lambda b: [
            _card_part(b, i, "BUTTONS")["buttons"].__setitem__(0, {"type": "copy_code", "example": "SAVE"})
            for i in range(3)
        ],
        "cards[0].buttons[0].type",
        "carousel_card_button_type",
    ),
    Broken(
        "one card with a body",
        MEDIA_CARD_CAROUSEL,
        lambda b: _cards(b)[0]["components"].insert(1, {"type": "body", "text": "A rare plant."}),
        "cards[0].body",
        "carousel_cards_differ",
    ),
    Broken(
        "card body too long",
        MEDIA_CARD_CAROUSEL,
        lambda b: _card_bodies(b, ["A rare plant. " * 12, "Rare.", "Rare."], [None] * 3),
        "cards[0].body",
        "body_too_long",
    ),
    Broken(
        "card body sample missing",
        MEDIA_CARD_CAROUSEL,
        lambda b: _card_bodies(b, [_CARD_TEXT] * 3, [None, ["15OFF"], ["15OFF"]]),
        "cards[0].body_example",
        "example_missing",
    ),
    Broken(
        "card URL variable not at the end",
        MEDIA_CARD_CAROUSEL,
        lambda b: _card_part(b, 0, "BUTTONS")["buttons"][1].update(
            url="https://www.luckyshrub.com/{{1}}/shop"
        ),
        "cards[0].buttons[1].url",
        "button_url_variable_not_at_end",
    ),
    # limited-time offer
    Broken(
        "offer text over 16",
        LIMITED_TIME_OFFER,
        _set(_offer, text="Expiring offer!!!"),
        "offer_text",
        "offer_text_too_long",
    ),
    Broken(
        "offer in utility",
        LIMITED_TIME_OFFER,
        lambda b: b.update(category="utility"),
        "category",
        "offer_category",
    ),
    Broken(
        "offer with a footer",
        LIMITED_TIME_OFFER,
        lambda b: b["components"].insert(3, {"type": "footer", "text": "Terms apply"}),
        "offer",
        "offer_footer_not_allowed",
    ),
    Broken(
        "offer with a text header",
        LIMITED_TIME_OFFER,
        lambda b: b["components"].__setitem__(0, {"type": "header", "format": "text", "text": "Sale"}),
        "offer",
        "offer_header_format",
    ),
    Broken(
        "offer without copy code", LIMITED_TIME_OFFER, lambda b: _buttons(b).pop(0), "offer", "offer_buttons"
    ),
    Broken(
        "offer buttons reversed",
        LIMITED_TIME_OFFER,
        lambda b: _buttons(b).reverse(),
        "offer",
        "offer_buttons",
    ),
    Broken(
        "offer body over 600",
        LIMITED_TIME_OFFER,
        _set(
            lambda b: _part(b["components"], "BODY"),
            text="Good news, {{1}}! Use code {{2}} to get 25% off" + " all trips" * 60 + "!",
        ),
        "body",
        "body_too_long",
    ),
    Broken(
        "offer code over 15",
        LIMITED_TIME_OFFER,
        _set(lambda b: _buttons(b)[0], example="CARIBE25CARIBE25"),
        "buttons[0].example",
        "button_code_too_long",
    ),
    # location header
    Broken(
        "location in authentication",
        AUTHENTICATION_COPY_CODE,
        lambda b: b["components"].insert(0, {"type": "header", "format": "location"}),
        "header",
        "header_location_category",
    ),
    Broken(
        "location with text",
        ORDER_DELIVERY_UPDATE,
        _set(lambda b: b["components"][0], text="Your parcel"),
        "header",
        "header_location_content",
        sandbox=False,
    ),
]
