"""Messages through the API: what a client sends to queue one, and how a message reads back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.json_values import check_json_value
from api.refusals import without_names
from cloud_api.errors import lookup
from messaging.models import HoldReason, MessageStatus, MessageStatusEvent, OutboundMessage, SendAttempt

PHONE_MAX_LENGTH = 32
MAX_ID = 2**63 - 1  # a bigint


_MEDIA = {
    "type": "object",
    "description": 'A media header: {"type": "image" | "video" | "document", "id": …} or {…, "link": "https://…"}.',
    "properties": {
        "type": {"type": "string", "enum": ["text", "image", "video", "document", "location"]},
        "id": {"type": "string"},
        "link": {"type": "string", "format": "uri"},
    },
}
_BODY = {
    "description": 'Positional templates: a list, item i fills {{i+1}}; named ones: {"<name>": value}.',
    "oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
}
_BUTTONS = {
    "type": "object",
    "description": "By the button's 0-based index: a URL button's suffix or a COPY_CODE button's "
    "coupon code.",
    "additionalProperties": {"type": "string"},
}
TEMPLATE_PARAMETERS_SCHEMA = {
    "type": "object",
    "description": '{"header": …, "body": […] or {"name": …}, "buttons": {"<index>": …}, "offer": {…}, '
    '"cards": […]}: the values the template needs (GET /templates/ lists them); leave out what it has not. '
    "Checked before the message is queued: a 422 `template_parameters_invalid` lists every problem in "
    "`error.details.problems`, a carousel card's starting with `Card <n>:`.",
    "properties": {
        "header": {
            "type": "object",
            "description": 'A text header\'s variable {"type": "text", "text": …}; a media header (id or '
            'link); a LOCATION header {"type": "location", "location": {"latitude": 37.48, '
            '"longitude": -122.14, "name": …, "address": …}} (latitude −90..90, longitude −180..180; '
            "name and address optional).",
            "properties": {
                **_MEDIA["properties"],
                "text": {"type": "string"},
                "location": {
                    "type": "object",
                    "properties": {
                        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                        "name": {"type": "string", "maxLength": 1024},
                        "address": {"type": "string", "maxLength": 1024},
                    },
                    "required": ["latitude", "longitude"],
                },
            },
        },
        "body": _BODY,
        "buttons": _BUTTONS,
        "offer": {
            "type": "object",
            "description": "A limited-time offer whose offer shows its end: when it ends, in Unix "
            "milliseconds (in the future, at most a year away). Its coupon code is the COPY_CODE button's "
            "value in `buttons`.",
            "properties": {"expiration_time_ms": {"type": "integer", "format": "int64"}},
            "required": ["expiration_time_ms"],
        },
        "cards": {
            "type": "array",
            "description": "A media card carousel: one entry per card, in card order, exactly as many as the "
            "template has. Each card's quick replies carry the payload `card:<card index>:<button index>`.",
            "minItems": 2,
            "maxItems": 10,
            "items": {
                "type": "object",
                "properties": {"header": _MEDIA, "body": _BODY, "buttons": _BUTTONS},
                "required": ["header"],
            },
        },
    },
}


@extend_schema_field(TEMPLATE_PARAMETERS_SCHEMA)
class TemplateParametersField(serializers.JSONField):
    """Any JSON, handed to the send path's check unchanged; the schema documents its shape."""


class TemplateIn(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(
        max_length=8, required=False, help_text="e.g. en_US; by default the contact's language."
    )
    parameters = TemplateParametersField(required=False)  # described by TEMPLATE_PARAMETERS_SCHEMA

    def validate_parameters(self, value):
        return check_json_value(value, "template.parameters")


class MessageIn(serializers.Serializer):
    contact = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="A contact's id (or give phone)."
    )
    phone = serializers.CharField(
        required=False,
        max_length=PHONE_MAX_LENGTH,
        help_text="The person's number, e.g. +4915123456789 (or give contact); never creates a contact.",
    )
    template = TemplateIn(required=False, help_text="An approved template (or give text).")
    text = serializers.CharField(
        required=False, help_text="Free-form text, only while the person's 24-hour window is open."
    )

    def validate(self, attrs):
        if ("contact" in attrs) == ("phone" in attrs):
            raise serializers.ValidationError(
                {"contact": "Give the recipient as contact or as phone (one of them)."}
            )
        if ("template" in attrs) == ("text" in attrs):
            raise serializers.ValidationError({"template": "Give either a template or a text (one of them)."})
        return attrs


def _error(code: int | None, error_class: str, text: str) -> dict | None:
    """A failure or skip as the API shows it: Meta's code and what it means, our class, the text."""
    if code is None and not error_class and not text:
        return None
    row = lookup(code) if code is not None else None
    return {"code": code, "error_class": error_class, "meaning": row.meaning if row else "", "text": text}


class ErrorOut(serializers.Serializer):
    code = serializers.IntegerField(allow_null=True, help_text="WhatsApp's error code, if it gave one.")
    error_class = serializers.CharField(help_text="How it was handled (a Meta error class or a skip reason).")
    meaning = serializers.CharField(help_text="What WhatsApp's code means.")
    text = serializers.CharField()


ERROR_SCHEMA = extend_schema_field(ErrorOut(allow_null=True))


class AttemptOut(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = SendAttempt
        fields = ["number", "outcome", "wamid", "status", "error", "started_at", "finished_at"]

    @ERROR_SCHEMA
    def get_error(self, attempt: SendAttempt) -> dict | None:
        return _error(attempt.error_code, attempt.error_class, attempt.error_text)


class StatusErrorOut(serializers.Serializer):
    code = serializers.IntegerField(allow_null=True, help_text="WhatsApp's error code, if it gave one.")
    title = serializers.CharField()
    meaning = serializers.CharField(help_text="What WhatsApp's code means.")


class StatusEventOut(serializers.ModelSerializer):
    """One status WhatsApp reported, in the order it arrived (``applied``: it moved the message on)."""

    errors = serializers.SerializerMethodField()

    class Meta:
        model = MessageStatusEvent
        fields = ["status", "wamid", "meta_timestamp", "received_at", "applied", "errors"]

    @extend_schema_field(StatusErrorOut(many=True))
    def get_errors(self, event: MessageStatusEvent) -> list[dict]:
        shown = []
        for item in event.errors if isinstance(event.errors, list) else []:
            code = item.get("code") if isinstance(item, dict) else None
            code = code if isinstance(code, int) else None
            row = lookup(code) if code is not None else None
            shown.append(
                {
                    "code": code,
                    "title": str(item.get("title", "")) if isinstance(item, dict) else "",
                    "meaning": row.meaning if row else "",
                }
            )
        return shown


class TemplateRefOut(serializers.Serializer):
    name = serializers.CharField()
    language = serializers.CharField()
    version = serializers.IntegerField()


class MessageOut(serializers.ModelSerializer):
    """A message as its sender sees it. ``hold_reason`` says why a queued message waits; while
    sending is halted, a queued message the halt holds shows ``halt`` even before the dispatcher
    has looked at it (the view passes the active halt in the context)."""

    id = serializers.UUIDField(source="public_id")
    contact = serializers.IntegerField(source="contact_id")
    template = serializers.SerializerMethodField()
    state = serializers.ChoiceField(source="status", choices=MessageStatus.choices)
    hold_reason = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "contact",
            "kind",
            "purpose",
            "template",
            "state",
            "hold_reason",
            "next_attempt_at",
            "attempt_count",
            "error",
            "created_at",
            "accepted_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "finished_at",
        ]

    @extend_schema_field(TemplateRefOut(allow_null=True, help_text="null for a text message."))
    def get_template(self, message: OutboundMessage) -> dict | None:
        version = message.template_version
        if version is None:
            return None
        return {
            "name": version.template.name,
            "language": version.template.language,
            "version": version.number,
        }

    @extend_schema_field(serializers.ChoiceField(choices=HoldReason.choices, allow_null=True))
    def get_hold_reason(self, message: OutboundMessage) -> str | None:
        if message.hold_reason:
            return message.hold_reason
        halt = self.context.get("halt")
        if message.status == MessageStatus.QUEUED and halt is not None and halt.holds(message):
            return HoldReason.HALT
        return None

    @ERROR_SCHEMA
    def get_error(self, message: OutboundMessage) -> dict | None:
        # A skip's text is written for staff and may name the person (a merge's survivor).
        text = without_names(message.error_text, message.contact) if message.error_text else ""
        return _error(message.error_code, message.error_class, text)


class MessageDetailOut(MessageOut):
    """With each attempt (its wamid and outcome) and every status WhatsApp reported."""

    attempts = AttemptOut(many=True, read_only=True)
    statuses = serializers.SerializerMethodField()

    class Meta(MessageOut.Meta):
        fields = [*MessageOut.Meta.fields, "attempts", "statuses"]

    @extend_schema_field(StatusEventOut(many=True))
    def get_statuses(self, message: OutboundMessage) -> list[dict]:
        events = MessageStatusEvent.objects.filter(attempt__message=message).order_by("received_at", "id")
        return StatusEventOut(events, many=True).data


class MessagePageOut(serializers.Serializer):
    """One page of this key's messages, newest first; follow ``next`` for older ones."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MessageOut(many=True)
