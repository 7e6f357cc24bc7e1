"""Sendable templates out: per language, the values a send must give and an example that fits."""

from __future__ import annotations

from rest_framework import serializers


class TemplateParameterSerializer(serializers.Serializer):
    section = serializers.RegexField(
        r"^(header|body|buttons|location|offer|cards\.[0-9]+(\.(body|buttons))?)$",
        help_text="header, body, buttons; location (a location header's place), offer (a limited-time "
        "offer's end); cards.<c> (a carousel card's media), cards.<c>.body, cards.<c>.buttons.",
    )
    name = serializers.CharField(help_text="The variable's name, or the button's index (from 0).")
    kind = serializers.ChoiceField(
        choices=[
            "text",
            "url",
            "code",
            "image",
            "video",
            "document",
            "link",
            "datetime",
            "latitude",
            "longitude",
        ],
        help_text="text: a variable; url: a link button's suffix; code: a coupon or one-time code; "
        'image, video, document: a media header, given as {"type": …, "link" or "id": …}; link: a '
        "carousel card's media link; datetime: an offer's end; latitude, longitude: a location's.",
    )
    sample = serializers.CharField(allow_blank=True, help_text="The template's own sample value, if any.")
    max_length = serializers.IntegerField(allow_null=True)


class TemplateLanguageSerializer(serializers.Serializer):
    language = serializers.CharField(help_text="Meta's language code, e.g. en_US.")
    category = serializers.ChoiceField(choices=["MARKETING", "UTILITY", "AUTHENTICATION"])
    consent_purpose = serializers.ChoiceField(
        choices=["marketing", "service"], help_text="The opt-in a recipient needs for this template."
    )
    parameter_format = serializers.ChoiceField(choices=["POSITIONAL", "NAMED"])
    parameters = TemplateParameterSerializer(many=True)
    example = serializers.DictField(help_text="A `parameters` object for POST /messages/ that fits.")


class TemplateSerializer(serializers.Serializer):
    name = serializers.CharField()
    languages = TemplateLanguageSerializer(many=True)


class TemplateListSerializer(serializers.Serializer):
    results = TemplateSerializer(many=True)
