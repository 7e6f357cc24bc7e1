"""Demo templates for `make run`: in our database as approved, and in the sandbox's seed file.

Both sides get the same Meta template id and content, so the sandbox accepts sends of them and
the scheduled sync finds nothing to change.
"""

import json
from pathlib import Path

from django.db import transaction

from contacts.services import log_activity
from core.actors import Actor
from templates_app.drafts import Draft
from templates_app.models import (
    MessageTemplate,
    TemplateButton,
    TemplateCard,
    TemplateVersion,
    VersionReview,
)

DEMO_HANDLE = "4::demo-sample-handle"

DEMO_TEMPLATES = [
    {
        "meta_template_id": "880000000000001",
        "fields": {
            "name": "order_update",
            "language": "en",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "header_kind": "DOCUMENT",
            "header_handle": DEMO_HANDLE,
            "body": "Hi {{1}}, your order {{2}} has shipped. The invoice is attached; track it below.",
            "body_samples": {"1": "Pablo", "2": "ORD-9271"},
            "footer": "Demo Shop",
        },
        "buttons": [
            {
                "kind": "URL",
                "text": "Track parcel",
                "url": "https://shop.example/track/{{1}}",
                "url_sample": "https://shop.example/track/ORD-9271",
            }
        ],
    },
    {
        "meta_template_id": "880000000000002",
        "fields": {
            "name": "spring_promotion",
            "language": "en",
            "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "header_kind": "IMAGE",
            "header_handle": DEMO_HANDLE,
            "body": "Hi {{1}}, spring is here: *20% off* everything until {{2}}. Use the code at checkout!",
            "body_samples": {"1": "Pablo", "2": "Sunday"},
            "footer": "Tap Stop promotions to opt out",
        },
        "buttons": [
            {"kind": "QUICK_REPLY", "text": "Show me offers"},
            {"kind": "QUICK_REPLY", "text": "Stop promotions", "opt_out_purpose": "marketing"},
            {"kind": "COPY_CODE", "code_sample": "SPRING20"},
        ],
    },
    {
        "meta_template_id": "880000000000003",
        "fields": {
            "name": "appointment_reminder",
            "language": "en",
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "header_kind": "TEXT",
            "header_text": "Reminder for {{first_name}}",
            "header_sample": "Pablo",
            "body": "Hi {{first_name}}, see you on {{date}} at {{time}} in our {{store}} store. "
            "Reply to reschedule.",
            "body_samples": {"first_name": "Pablo", "date": "12 May", "time": "10:30", "store": "Berlin"},
            "footer": "Demo Shop",
        },
        "buttons": [
            {"kind": "QUICK_REPLY", "text": "Confirm"},
            {"kind": "QUICK_REPLY", "text": "Reschedule"},
            {"kind": "PHONE_NUMBER", "text": "Call the store", "phone_number": "+4930123456"},
        ],
    },
    {
        # A media card carousel: the body on top, then three cards that scroll sideways, each with
        # its image, a line of text and the same two buttons (docs/rich-templates.md).
        "meta_template_id": "880000000000004",
        "fields": {
            "name": "spring_collection",
            "language": "en",
            "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "kind": "CAROUSEL",
            "body": "Hi {{1}}, three spring favourites are back in stock. Swipe to see them all!",
            "body_samples": {"1": "Pablo"},
        },
        "buttons": [],
        "cards": [
            {
                "header_kind": "IMAGE",
                "header_handle": DEMO_HANDLE,
                "body": f"{name}: *{price}* this week only.",
                "button1_kind": "QUICK_REPLY",
                "button1_text": "Tell me more",
                "button2_kind": "URL",
                "button2_text": "Shop",
                "button2_url": "https://shop.example/spring/{{1}}",
                "button2_url_sample": f"https://shop.example/spring/{slug}",
            }
            for name, price, slug in (
                ("Linen shirt", "€39", "linen-shirt"),
                ("Straw hat", "€25", "straw-hat"),
                ("Canvas sneakers", "€59", "canvas-sneakers"),
            )
        ],
    },
]


def seed_templates(*, actor: Actor) -> list[MessageTemplate]:
    """Create the demo templates as approved (idempotent); returns them."""
    templates = []
    for spec in DEMO_TEMPLATES:
        fields = spec["fields"]
        template = MessageTemplate.objects.filter(name=fields["name"], language=fields["language"]).first()
        if template is None:
            template = _create(spec, actor)
        templates.append(template)
    return templates


@transaction.atomic
def _create(spec: dict, actor: Actor) -> MessageTemplate:
    template = MessageTemplate.objects.create(
        meta_template_id=spec["meta_template_id"], status="APPROVED", **spec["fields"]
    )
    buttons = [TemplateButton(template=template, position=i, **b) for i, b in enumerate(spec["buttons"])]
    TemplateButton.objects.bulk_create(buttons)
    cards = [TemplateCard(template=template, position=i, **c) for i, c in enumerate(spec.get("cards", []))]
    TemplateCard.objects.bulk_create(cards)
    draft = Draft.from_template(template, buttons, cards=cards)
    opt_out = draft.opt_out_button
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category=template.category,
        parameter_format=template.parameter_format,
        components=draft.components(),
        opt_out_button_index=opt_out.index if opt_out else None,
        opt_out_purpose=opt_out.purpose if opt_out else "",
        review=VersionReview.APPROVED,
    )
    template.approved_version = version
    template.save(update_fields=["approved_version"])
    log_activity(actor=actor, action="template.seeded", obj=template)
    return template


def write_sandbox_seed(path: Path, templates: list[MessageTemplate]) -> None:
    """The sandbox's --seed-file: the same templates, approved, under the same Meta ids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "templates": [
            {
                "id": t.meta_template_id,
                "name": t.name,
                "language": t.language,
                "category": t.category,
                "parameter_format": t.parameter_format,
                "components": t.approved_version.components,
                "status": "APPROVED",
            }
            for t in templates
        ]
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
