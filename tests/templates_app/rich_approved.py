"""Approved templates of issue 15's kinds for send-path tests, built from Meta's own examples.

The version's components are the example's request body as Meta documents it (lower-case types
included), which is what an approved version holds after a sync; the draft fields stay empty.
"""

from __future__ import annotations

import itertools

from templates_app.models import MessageTemplate, TemplateKind, TemplateVersion, VersionReview
from tests.templates_app.meta_examples import (
    LIMITED_TIME_OFFER,
    MEDIA_CARD_CAROUSEL,
    ORDER_DELIVERY_UPDATE,
    with_handle,
)

_meta_ids = itertools.count(91_500)
KINDS = {
    "carousel": (MEDIA_CARD_CAROUSEL, TemplateKind.CAROUSEL),
    "offer": (LIMITED_TIME_OFFER, TemplateKind.LIMITED_TIME_OFFER),
    "location": (ORDER_DELIVERY_UPDATE, TemplateKind.STANDARD),
}


def approved_template(kind: str) -> MessageTemplate:
    """An APPROVED template whose approved version is Meta's example of ``kind``."""
    example, template_kind = KINDS[kind]
    body = with_handle(example, "4::aW1hZ2U=:seed")
    category = body["category"].upper()
    template = MessageTemplate.objects.create(
        name=body["name"],
        language=body["language"],
        category=category,
        kind=template_kind,
        status="APPROVED",
        meta_template_id=str(next(_meta_ids)),
    )
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category=category,
        parameter_format="POSITIONAL",
        components=body["components"],
        review=VersionReview.APPROVED,
    )
    template.approved_version = version
    template.save(update_fields=["approved_version"])
    return template
