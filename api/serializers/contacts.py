"""Contacts in and out: what a client may write, and the contact's public shape."""

from __future__ import annotations

import math

import phonenumbers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.languages import LANGUAGE_CHOICES, META_LANGUAGES
from contacts.models import Contact, Purpose
from contacts.phones import InvalidPhoneNumber, normalize_phone, phone_for_wa_id
from messaging.sending.reach import WINDOW

BULK_MAX_ITEMS = 1000


INTERNATIONAL_FORM = "give the number with its country code, e.g. +4915112345678"


def is_international(value: str) -> bool:
    """Whether the number is written with its country code ("+" or "00" first). The API serves
    callers in any country, so a number without one has no country to read it in: it would be
    taken as a German national number and become another person."""
    return value.strip().startswith(("+", "00"))


def phone_number(value: str) -> str:
    """E.164, or a ValidationError saying what is wrong with the number. A form only WhatsApp still
    uses (a Brazilian mobile without its ninth digit, a Mexican one with the 1 after +52) is taken
    as the number it stands for, as the contact matcher does."""
    if not is_international(value):
        raise serializers.ValidationError(
            f"“{value}” has no country code: {INTERNATIONAL_FORM}.", code="invalid_phone"
        )
    try:
        return normalize_phone(value)
    except InvalidPhoneNumber as exc:
        text = value.strip()
        digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
        if text.startswith("00"):
            digits = digits[2:]
        valid_form = phone_for_wa_id(digits)
        if valid_form is None:
            raise serializers.ValidationError(exc.message, code=exc.code) from exc
        return valid_form


def _unstorable_in(value, path: str = "") -> tuple[str, str] | None:
    """(path, what) of the first key or value PostgreSQL's JSON cannot store — U+0000, a lone
    surrogate (no UTF-8 form), a number that is not finite (1e400 reads as infinity) — or None.
    The path is "" for the top level's own keys."""
    if isinstance(value, str):
        return _bad_text(value, path)
    if isinstance(value, float) and not math.isfinite(value):
        return path, "a number that is not finite (such as 1e400)"
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            bad_key = _bad_text(str(key), path)
            if bad_key is not None:
                return bad_key  # the key itself: named by where it sits
            found = _unstorable_in(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_in(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _bad_text(text: str, path: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return path, "a NUL character (\\u0000)"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return path, "a lone surrogate (\\ud800–\\udfff)"
    return None


class ContactWriteSerializer(serializers.Serializer):
    """One contact to create or update, found by its phone. Fields left out are left as they are."""

    phone = serializers.CharField(
        max_length=32, help_text="In any format with the country code, e.g. +49 151 23456789."
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    language = serializers.ChoiceField(
        choices=sorted(META_LANGUAGES),
        required=False,
        allow_blank=True,
        help_text="Meta's template language code (de, en_US, pt_BR…): picks the template translation.",
    )
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="Two-letter code, e.g. DE."
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="e.g. Europe/Berlin."
    )
    attributes = serializers.DictField(
        required=False, help_text="Custom fields; merged into the contact's (keys given overwrite)."
    )

    def validate_phone(self, value: str) -> str:
        return phone_number(value)

    def validate_attributes(self, value: dict) -> dict:
        found = _unstorable_in(value)
        if found is not None:
            where, what = found
            place = f"in “{where}”" if where else "in a key"
            raise serializers.ValidationError(f"Custom fields cannot hold {what}; found {place}.")
        return value

    def validate_country(self, value: str) -> str:
        value = value.strip().upper()
        if value and value not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError(f"“{value}” is not a two-letter country code such as DE.")
        return value

    def validate(self, data: dict) -> dict:
        """The model's own checks too (the time zone, the custom fields' shape), as field errors."""
        contact = Contact(phone=data["phone"], **{k: v for k, v in data.items() if k != "phone"})
        try:
            contact.full_clean(validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                {name: messages for name, messages in exc.message_dict.items() if name in self.fields}
                or exc.messages
            ) from exc
        return data


class BulkContactsSerializer(serializers.Serializer):
    """The bulk call's envelope; each item is checked on its own (a bad one does not stop the rest)."""

    contacts = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=False,
        max_length=BULK_MAX_ITEMS,
        help_text=f"Up to {BULK_MAX_ITEMS:,} contacts, each as in POST /contacts/.",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("contacts"), list):
            items = data["contacts"]
            if not items:
                raise serializers.ValidationError({"contacts": ["Give at least one contact."]})
            if len(items) > BULK_MAX_ITEMS:
                raise serializers.ValidationError(
                    {
                        "contacts": [
                            f"At most {BULK_MAX_ITEMS:,} contacts per call; this one has {len(items):,}."
                        ]
                    }
                )
            # A non-object item is that item's error, not the whole call's.
            return {"contacts": items}
        return super().to_internal_value(data)


class ConsentStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["opted_in", "opted_out"])
    since = serializers.DateTimeField(help_text="When this state took effect.")
    event_id = serializers.IntegerField(help_text="The consent event that decided it.")


class CurrentConsentSerializer(serializers.Serializer):
    marketing = ConsentStateSerializer(allow_null=True)
    service = ConsentStateSerializer(allow_null=True)


class ContactSerializer(serializers.ModelSerializer):
    """A contact's public shape, with its current consent per purpose (null: nothing recorded)."""

    # Declared so that the schema lists "" (no language recorded) among the values it may have.
    language = serializers.ChoiceField(
        choices=LANGUAGE_CHOICES,
        allow_blank=True,
        read_only=True,
        help_text="Picks the template translation; empty when none is recorded.",
    )
    consent = serializers.SerializerMethodField()
    window_open_until = serializers.SerializerMethodField(
        help_text="Free text can be sent until then (a day after their last message); null: closed."
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "wa_id",
            "first_name",
            "last_name",
            "language",
            "country",
            "time_zone",
            "attributes",
            "not_on_whatsapp_since",
            "window_open_until",
            "consent",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CurrentConsentSerializer)
    def get_consent(self, contact: Contact) -> dict:
        states = {state.purpose: state for state in contact.consents.all()}
        return {
            purpose: (
                {
                    "status": states[purpose].status,
                    "since": states[purpose].since,
                    "event_id": states[purpose].event_id,
                }
                if purpose in states
                else None
            )
            for purpose in Purpose.values
        }

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_window_open_until(self, contact: Contact) -> str | None:
        until = contact.last_inbound_at + WINDOW if contact.last_inbound_at else None
        if until is None or until <= timezone.now():
            return None
        return serializers.DateTimeField().to_representation(until)


class ContactWrittenSerializer(serializers.Serializer):
    """The upsert's answer for an existing contact to a key that may not read contacts: what it
    sent and the id, nothing the business knows about the person beyond that."""

    id = serializers.IntegerField()
    phone = serializers.CharField(help_text="The number as stored (E.164).")
    created = serializers.BooleanField(help_text="Always false: the contact existed.")


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)


class ContactPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True)
    results = ContactSerializer(many=True)


class BulkContactsRequestSerializer(serializers.Serializer):
    """The bulk call as the schema describes it: each item is checked on its own, and a bad one
    is reported in its result without stopping the others."""

    contacts = ContactWriteSerializer(
        many=True, min_length=1, max_length=BULK_MAX_ITEMS, help_text=f"1 to {BULK_MAX_ITEMS:,} contacts."
    )


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the request, from 0.")
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    id = serializers.IntegerField(required=False, help_text="The contact (created or updated).")
    changed = serializers.ListField(child=serializers.CharField(), required=False)
    error = ItemErrorSerializer(required=False)


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = BulkItemResultSerializer(many=True)
