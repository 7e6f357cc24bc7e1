"""The REST API's own tables: keys, what each key may call back about, idempotency, the callback outbox.

A key is a credential for another system (a shop, a CRM). Only its SHA-256 is stored: the key is
shown once, when an Administrator creates it. Revoking keeps the row, because ledgers and logs name
the key as the actor (``core.actors.Actor``, kind ``api_key``, ref = the key's id).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import Contact
from core.actors import Actor


class Scope(models.TextChoices):
    CONTACTS_READ = "contacts:read", "Read contacts"
    CONTACTS_WRITE = "contacts:write", "Create and update contacts"
    CONSENT_WRITE = "consent:write", "Record opt-ins and opt-outs"
    MESSAGES_SEND = "messages:send", "Send messages"
    MESSAGES_READ = "messages:read", "Read messages and their statuses"
    TEMPLATES_READ = "templates:read", "Read sendable templates"


KEY_PREFIX = "wak_"  # marks a string as one of our keys (secret scanners can look for it)
PREFIX_LENGTH = 8  # the part after KEY_PREFIX shown in lists, to tell keys apart


def hash_key(raw: str) -> str:
    """Keys are 256-bit random strings, so one fast hash is enough (no password stretching needed)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=100, help_text="Which system uses this key, e.g. “Shop checkout”.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="What this key may do (a list of scopes).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    callback_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where status changes, replies and opt-outs are posted (HTTPS). Empty: no callbacks.",
    )
    callback_secret = models.CharField(
        max_length=64, blank=True, editable=False, help_text="Signs each callback (X-Signature-256)."
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}…)"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new key as (raw key, its prefix, its hash); the raw key is never stored."""
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        return raw, prefix, hash_key(raw)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> Actor:
        return Actor(kind=Actor.API_KEY, ref=str(self.pk), label=f"API key “{self.name}”")


class KeyContact(models.Model):
    """A contact a key created or recorded consent for: its replies and opt-outs are called
    back to that key (and only to keys that know the contact)."""

    key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "contact"], name="api_keycontact_unique")]

    def __str__(self) -> str:
        return f"{self.key_id} knows {self.contact_id}"


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Done"


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` of one API key: the request it was first used with and its answer."""

    key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    state = models.CharField(
        max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "idempotency_key"], name="api_idempotency_unique")
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class CallbackState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    GAVE_UP = "gave_up", "Gave up"


class CallbackEvent(models.Model):
    """The outbox: an event for one key's callback URL, written in the transaction of the change."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="callback_events")
    type = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=CallbackState.choices, default=CallbackState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(
        max_length=500, blank=True, help_text="Why the latest attempt failed, or why delivery stopped."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="api_callback_due",
                condition=models.Q(state="pending"),
            )
        ]
        permissions = [("retry_callbackevent", "Can retry a callback event now")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class CallbackDelivery(models.Model):
    """One POST of an event: what the receiver answered (visible in the admin)."""

    event = models.ForeignKey(CallbackEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "callback deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class RateWindow(models.Model):
    """The calls one key made in one fixed throttling window (``api.throttling``): a counter the
    database increments atomically, shared by every web process."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    window_start = models.BigIntegerField(help_text="The window's start, in seconds since the epoch.")
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="api_ratewindow_unique")]

    def __str__(self) -> str:
        return f"{self.key_id} at {self.window_start}: {self.calls}"
