"""Consent through the API: what a client sends to record an opt-in or opt-out, and how an event reads."""

from __future__ import annotations

import json

from django.utils import timezone
from rest_framework import serializers

from api.json_values import check_json_value
from contacts.models import ConsentAction, ConsentEvent, ConsentSource, Purpose

# The sources another system collects consent from. The others belong to other paths: keyword,
# button and whatsapp_signal to the webhook (the person's own message is the evidence), staff to
# the admin, import to the import, merge to merging; and opt_in_link to the opt-in links (their
# inbound message is the evidence), which is why it counts as the person's own act and skips the
# opting-back-in rule — a source no API client may claim.
API_SOURCES = (ConsentSource.WEB_FORM, ConsentSource.CHECKOUT, ConsentSource.API)
EVIDENCE_MAX_BYTES = 16_384
WORDING_TEXT_MAX_LENGTH = 5_000


class AwareDateTimeField(serializers.DateTimeField):
    """A time with its offset: a time without one would be read in this server's zone, silently."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError(
                "Give the time with its offset, e.g. 2026-11-30T14:05:00Z or 2026-11-30T15:05:00+01:00."
            )
        return super().enforce_timezone(value)


class ConsentIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    source = serializers.CharField(
        max_length=32,
        help_text=f"Where you collected it: one of {', '.join(API_SOURCES)}.",
    )
    wording_id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="A consent wording version's id (or give wording_text).",
    )
    wording_text = serializers.CharField(
        required=False,
        max_length=WORDING_TEXT_MAX_LENGTH,
        help_text="The exact text the person agreed to, for a one-off wording (or give wording_id).",
    )
    evidence = serializers.JSONField(
        required=False,
        help_text="A JSON object: what the person did, where and when (form, page, IP, order number…).",
    )
    occurred_at = AwareDateTimeField(
        required=False, help_text="When the person gave or withdrew consent, with its offset."
    )

    def validate_evidence(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Evidence must be a JSON object.")
        check_json_value(value, "evidence")
        size = len(json.dumps(value).encode())
        if size > EVIDENCE_MAX_BYTES:
            raise serializers.ValidationError(
                f"Evidence is {size} bytes as JSON; at most {EVIDENCE_MAX_BYTES} are kept."
            )
        return value

    def validate(self, attrs):
        if "wording_id" in attrs and "wording_text" in attrs:
            raise serializers.ValidationError({"wording_id": "Give wording_id or wording_text, not both."})
        if attrs["action"] == ConsentAction.OPT_IN:
            missing = {}
            if "wording_id" not in attrs and "wording_text" not in attrs:
                missing["wording_id"] = (
                    "An opt-in needs the wording the person agreed to: wording_id or wording_text."
                )
            if not attrs.get("evidence"):
                missing["evidence"] = "An opt-in needs its evidence: a non-empty JSON object."
            if "occurred_at" not in attrs:
                missing["occurred_at"] = "An opt-in needs the time the person opted in."
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class WordingOut(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    language = serializers.CharField()
    text = serializers.CharField()


class ConsentEventOut(serializers.ModelSerializer):
    """One ledger event. ``evidence`` is shown only for events this key recorded: others' evidence
    (a web form's IP address, an inbound message) is another system's record of the person."""

    contact = serializers.IntegerField(source="contact_id")
    wording = WordingOut(allow_null=True)
    evidence = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(source="actor_kind", help_text="user, api_key or system.")
    recorded_by_this_key = serializers.SerializerMethodField()

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "contact",
            "purpose",
            "action",
            "source",
            "wording",
            "wording_text",
            "evidence",
            "occurred_at",
            "recorded_at",
            "effective_at",
            "recorded_by",
            "recorded_by_this_key",
        ]

    def _by_this_key(self, event: ConsentEvent) -> bool:
        key = self.context["key"]
        return event.actor_kind == "api_key" and event.actor_ref == str(key.pk)

    def get_recorded_by_this_key(self, event: ConsentEvent) -> bool:
        return self._by_this_key(event)

    def get_evidence(self, event: ConsentEvent) -> dict | None:
        return event.evidence if self._by_this_key(event) else None


class ConsentHistoryOut(serializers.Serializer):
    """One page of a contact's history, newest recorded first; follow ``next`` for older events."""

    contact = serializers.IntegerField(help_text="The contact whose history this is (a merge's survivor).")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConsentEventOut(many=True)
