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

# The kinds this product authors: each passes the validator unchanged.
AUTHORED = [SEASONAL_PROMOTION, ORDER_CONFIRMATION, WINTER_SALE_COUPON, AUTHENTICATION_COPY_CODE]
# Meta's kinds this product does not author yet, with the code the validator names them by.
NOT_AUTHORED = [
    (ORDER_DELIVERY_UPDATE, "header_location_not_supported"),
    (MEDIA_CARD_CAROUSEL, "carousel_not_supported"),
    (LIMITED_TIME_OFFER, "limited_time_offer_not_supported"),
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
