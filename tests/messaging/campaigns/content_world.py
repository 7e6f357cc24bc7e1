"""The content tests' world: approved templates in several languages and campaigns built as rows.

Helpers, not fixtures: each test builds the few rows it needs (``approved``, ``campaign``), so the
languages, bindings and media tests read on their own. Campaigns are plain rows here — the
workflow's services are tested in ``test_workflow*``.
"""

from __future__ import annotations

import itertools

from contacts.segments.services import segment_create
from core.actors import Actor
from messaging.campaign_models import Campaign
from templates_app.models import MessageTemplate, TemplateVersion, VersionReview

SYSTEM = Actor.system("tests")
_ids = itertools.count(990000000000001)

PROMO = [
    {"type": "HEADER", "format": "TEXT", "text": "News for {{1}}", "example": {"header_text": ["Pablo"]}},
    {
        "type": "BODY",
        "text": "Hi {{1}}, your {{2}} voucher is waiting until {{3}}.",
        "example": {"body_text": [["Pablo", "gold", "Sunday"]]},
    },
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Stop promotions"},
            {
                "type": "URL",
                "text": "Open voucher",
                "url": "https://shop.example/v/{{1}}",
                "example": ["https://shop.example/v/ABC123"],
            },
            {"type": "COPY_CODE", "example": "SPRING20"},
        ],
    },
]
NAMED = [
    {
        "type": "BODY",
        "text": "Hallo {{first_name}}, bis {{day}}!",
        "example": {
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Jo"},
                {"param_name": "day", "example": "Montag"},
            ]
        },
    }
]


def image_header(components) -> list:
    """The components with an IMAGE header instead of their text header."""
    media = {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::handle"]}}
    return [media, *[c for c in components if c["type"] != "HEADER"]]


def approved(
    name: str = "promo",
    language: str = "en",
    *,
    category: str = "MARKETING",
    components=None,
    parameter_format: str = "POSITIONAL",
    status: str = "APPROVED",
    version_category: str | None = None,
) -> MessageTemplate:
    """A template row with an approved version (its status as given)."""
    template = MessageTemplate.objects.create(
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        status=status,
        meta_template_id=str(next(_ids)),
    )
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category=version_category or category,
        parameter_format=parameter_format,
        components=components if components is not None else PROMO,
        review=VersionReview.APPROVED,
    )
    template.approved_version = version
    template.save(update_fields=["approved_version"])
    return template


def segment(rules=None, name=None):
    rules = rules or {"op": "all", "rules": [{"kind": "country", "in": ["DE"]}]}
    return segment_create(name=name or f"Segment {next(_ids)}", rules=rules, actor=SYSTEM)


def field(name: str, fallback: str = "", fmt: str = "") -> dict:
    return {"source": "field", "value": name, "fallback": fallback, "format": fmt}


def attribute(key: str, fallback: str = "", fmt: str = "") -> dict:
    return {"source": "attribute", "value": key, "fallback": fallback, "format": fmt}


def literal(text: str, fallback: str = "", fmt: str = "") -> dict:
    return {"source": "literal", "value": text, "fallback": fallback, "format": fmt}


PROMO_BINDINGS = {
    "header": {"1": field("first_name", "friend")},
    "body": {"1": field("first_name", "there", "title"), "2": literal("gold"), "3": literal("Sunday")},
    "buttons": {"1": attribute("voucher"), "2": literal("SPRING20")},
}


IMAGE_BINDINGS = {key: value for key, value in PROMO_BINDINGS.items() if key != "header"}


def campaign(template: MessageTemplate, *, bindings=None, segment_=None, **fields) -> Campaign:
    return Campaign.objects.create(
        name=fields.pop("name", "Spring"),
        template=template,
        segment=segment_ or segment(),
        purpose="marketing" if template.category == "MARKETING" else "service",
        bindings=PROMO_BINDINGS if bindings is None else bindings,
        **fields,
    )
