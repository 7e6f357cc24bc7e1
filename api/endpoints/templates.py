"""``GET /api/v1/templates/``: the templates a send may use now, and what each expects.

Only APPROVED templates are listed, described by their approved version (what WhatsApp sends,
whatever the draft says since). The values each needs come from the same readers the campaign
editor uses (``messaging.campaigns.bindings.template_slots``); ``example`` is a ``parameters``
object built from the template's own samples (a placeholder where it has none).
"""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import error_responses
from api.serializers.templates import TemplateListSerializer
from messaging.campaigns.bindings import template_slots
from messaging.sending.rules import template_purpose
from templates_app.components import (
    MEDIA_HEADER_FORMATS,
    carousel_cards,
    header_format,
    header_of,
    is_authentication_template,
)
from templates_app.models import MessageTemplate, TemplateStatus, TemplateVersion
from templates_app.parameters import AUTHENTICATION_CODE_MAX_LENGTH

EXAMPLE_MEDIA_LINK = "https://example.com/file"


def sendable_templates():
    return (
        MessageTemplate.objects.filter(status=TemplateStatus.APPROVED, approved_version__isnull=False)
        .select_related("approved_version")
        .order_by("name", "language")
    )


def parameters_of(version: TemplateVersion) -> list[dict]:
    """Every value a send of ``version`` must give, in order: header, body, buttons."""
    components = version.components
    if is_authentication_template(components):
        return [
            {
                "section": "body",
                "name": "1",
                "kind": "code",
                "sample": "",
                "max_length": AUTHENTICATION_CODE_MAX_LENGTH,
            }
        ]
    expected = []
    kind = header_format(header_of(components))
    if kind in MEDIA_HEADER_FORMATS:
        expected.append(
            {"section": "header", "name": "media", "kind": kind.lower(), "sample": "", "max_length": None}
        )
    expected += [
        {"section": s.section, "name": s.name, "kind": s.kind, "sample": s.sample, "max_length": s.max_length}
        for s in template_slots(components)
    ]
    return expected


EXAMPLE_LOCATION = {"latitude": 52.520008, "longitude": 13.404954}
EXAMPLE_OFFER_DAYS = 7


def example_of(version: TemplateVersion, expected: list[dict]) -> dict:
    """A ``parameters`` object that fits ``version``, from its samples ({} when it takes none)."""
    example: dict = {}
    positional = version.parameter_format == "POSITIONAL"
    cards = carousel_cards(version.components)
    if cards:
        example["cards"] = [{} for _ in cards]
    for value in expected:
        sample = value["sample"] or ("123456" if value["kind"] == "code" else f"value {value['name']}")
        section = value["section"]
        if section == "location":
            place = example.setdefault("header", {"type": "location", "location": {}})["location"]
            place[value["name"]] = EXAMPLE_LOCATION.get(value["name"], sample)
        elif section == "offer":
            ends = timezone.now() + timedelta(days=EXAMPLE_OFFER_DAYS)
            example["offer"] = {"expiration_time_ms": int(ends.timestamp()) * 1000}
        elif section.startswith("cards."):
            _, index, *part = section.split(".")
            card = example["cards"][int(index)]
            if not part:  # the card's media: its header's kind
                kind = header_format(header_of(cards[int(index)])).lower()
                card["header"] = {"type": kind, "link": EXAMPLE_MEDIA_LINK}
            elif part == ["body"] and positional:
                card.setdefault("body", []).append(sample)
            else:
                card.setdefault(part[0], {})[value["name"]] = sample
        elif value["section"] == "header" and value["name"] == "media":
            example["header"] = {"type": value["kind"], "link": EXAMPLE_MEDIA_LINK}
        elif value["section"] == "header":
            example["header"] = {"type": "text", "text": sample}
        elif value["section"] == "body" and positional:
            example.setdefault("body", []).append(sample)
        elif value["section"] == "body":
            example.setdefault("body", {})[value["name"]] = sample
        else:
            example.setdefault("buttons", {})[value["name"]] = sample
    return example


class TemplateCollection(APIView):
    required_scopes = {"GET": "templates:read"}

    @extend_schema(
        operation_id="templates_list",
        summary="Templates that can be sent now, per language, with the values each expects",
        responses={200: TemplateListSerializer, **error_responses()},
    )
    def get(self, request):
        by_name: dict[str, list[dict]] = {}
        for template in sendable_templates():
            version = template.approved_version
            expected = parameters_of(version)
            by_name.setdefault(template.name, []).append(
                {
                    "language": template.language,
                    "category": template.category,
                    "consent_purpose": template_purpose(template.category, version.category),
                    "parameter_format": version.parameter_format,
                    "parameters": expected,
                    "example": example_of(version, expected),
                }
            )
        return Response({"results": [{"name": name, "languages": langs} for name, langs in by_name.items()]})


urlpatterns = [path("templates/", TemplateCollection.as_view(), name="templates")]
