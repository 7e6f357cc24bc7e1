"""Contacts, their consent ledger and the activity log.

The consent ledger (``ConsentEvent``) is the proof that every person messaged opted in. It is
append-only at every level; ``CurrentConsent`` caches the deciding event per purpose (the order
rule, ``contacts.selectors.deciding_event``) and ``contacts.services.record_consent`` — the only
writer — keeps it in step.
"""

import functools
import zoneinfo

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Least, Lower
from django.utils import timezone

from contacts.languages import LANGUAGE_CHOICES
from contacts.phones import InvalidPhoneNumber, normalize_phone
from contacts.zones import zone_span
from core.models import ActorFields, AppendOnlyModel


class Purpose(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SERVICE = "service", "Service"


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    CHECKOUT = "checkout", "Checkout"
    IMPORT = "import", "Import"
    KEYWORD = "keyword", "WhatsApp keyword"
    BUTTON = "button", "WhatsApp button"
    OPT_IN_LINK = "opt_in_link", "Opt-in link"
    STAFF = "staff", "Recorded by staff"
    API = "api", "API"
    WHATSAPP_SIGNAL = "whatsapp_signal", "WhatsApp signal"
    MERGE = "merge", "Carried over in a merge"


# What staff may name as the source when recording consent by hand; the others are written by
# the system from the evidence it holds (an inbound message, an API call, a Meta signal).
STAFF_SOURCES = (ConsentSource.STAFF, ConsentSource.WEB_FORM, ConsentSource.CHECKOUT, ConsentSource.IMPORT)
# An opt-out the person made on WhatsApp themselves; an import never reverses one (docs/consent.md).
WHATSAPP_SOURCES = (ConsentSource.KEYWORD, ConsentSource.BUTTON, ConsentSource.WHATSAPP_SIGNAL)
# Someone reporting the person's consent for them (a file, staff, a system calling our API): after
# an opt-out, such an opt-in needs the person's own evidence, dated after it (docs/consent.md).
ON_THEIR_BEHALF_SOURCES = (
    ConsentSource.IMPORT,
    ConsentSource.STAFF,
    ConsentSource.API,
    ConsentSource.WEB_FORM,
    ConsentSource.CHECKOUT,
)


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class Tag(models.Model):
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="tag_name_unique_ci", violation_error_message="This tag already exists."
            )
        ]

    def __str__(self) -> str:
        return self.name


@functools.cache
def _time_zone_names() -> frozenset[str]:
    """The IANA names, read once: ``available_timezones`` walks the tz database on every call
    (about 25 ms), which a bulk write of a thousand contacts would pay a thousand times."""
    return frozenset(zoneinfo.available_timezones())


def _validate_time_zone(value: str) -> None:
    if value and value not in _time_zone_names():
        raise ValidationError(f"“{value}” is not a time zone name such as Europe/Berlin.")


class Contact(models.Model):
    # Meta may identify a person only by a business-scoped user id, so the phone is nullable;
    # every contact has at least one of phone, wa_id and user_id (a check constraint).
    phone = models.CharField(
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        help_text="In any format, e.g. 0151 2345 6789 or +49 151 23456789; stored as +4915123456789.",
        error_messages={"unique": "A contact with this phone number already exists."},
    )
    wa_id = models.CharField(
        "WhatsApp id",
        max_length=32,
        unique=True,
        null=True,
        blank=True,
        help_text="The id WhatsApp reports for this person; can differ from the phone (Brazil, Mexico).",
        error_messages={"unique": "A contact with this WhatsApp id already exists."},
    )
    user_id = models.CharField(
        "business-scoped user id",
        max_length=128,
        unique=True,
        null=True,
        blank=True,
        error_messages={"unique": "A contact with this business-scoped user id already exists."},
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(
        max_length=8, choices=LANGUAGE_CHOICES, blank=True, help_text="Picks the template translation."
    )
    country = models.CharField(
        max_length=2, blank=True, help_text="Two-letter code; taken from the phone number when empty."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[_validate_time_zone],
        help_text="e.g. Europe/Berlin; when empty, quiet hours use the zones of the phone number.",
    )
    # The zones the person may be in, kept for SQL (quiet hours, local-time schedules): see
    # contacts/zones.py. Derived from time_zone, phone and wa_id on every write.
    zone_earliest = models.CharField(max_length=64, blank=True, editable=False, db_default="")
    zone_latest = models.CharField(max_length=64, blank=True, editable=False, db_default="")
    attributes = models.JSONField(default=dict, blank=True, help_text="Custom fields as a JSON object.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    not_on_whatsapp_since = models.DateTimeField(
        "not on WhatsApp since",
        null=True,
        blank=True,
        help_text="Set when WhatsApp reported the number is not on WhatsApp (131026).",
    )
    whatsapp_profile_name = models.CharField(
        "WhatsApp profile name",
        max_length=200,
        blank=True,
        help_text="The name the person shows on WhatsApp, as last received.",
    )
    # The 24-hour customer service window is open while this is less than 24 hours ago: every
    # inbound message moves it forward (messaging writes it; contacts only keeps the time).
    last_inbound_at = models.DateTimeField(
        "last message from them",
        null=True,
        blank=True,
        help_text="Their 24-hour window is open until a day later.",
    )
    # Two rows found to be one person are merged (``contacts.merging``): the merged-away row keeps
    # its identifiers and ledger as evidence and points here; it is never an audience or recipient.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
        editable=False,
        help_text="This row was found to be the same person as that contact and merged into it.",
    )
    merged_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Numbers are recycled: when WhatsApp reports that another person now has this row's number,
    # the row gives up its phone and WhatsApp id (logged with their values) and keeps its ledger,
    # which is about the person who had the number then. Such a row may have no identifier left.
    number_reassigned_at = models.DateTimeField(
        "number given to someone else on",
        null=True,
        blank=True,
        editable=False,
        help_text="WhatsApp reported this number now belongs to another person; see the activity log.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("merge_contact", "Can merge two contacts that are one person"),
            ("export_contact", "Can export the contact list"),
        ]
        indexes = [
            models.Index(fields=["language"], name="contact_language_idx"),
            models.Index(fields=["country"], name="contact_country_idx"),
            models.Index(Lower("last_name"), Lower("first_name"), name="contact_name_idx"),
            # The API lists changes oldest first from a time (GET /api/v1/contacts/?updated_since=).
            models.Index(fields=["updated_at", "id"], name="contact_updated_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(phone__isnull=False)
                | models.Q(wa_id__isnull=False)
                | models.Q(user_id__isnull=False)
                | models.Q(number_reassigned_at__isnull=False),
                name="contact_has_identifier",
                violation_error_message="A contact needs a phone number (or a WhatsApp id).",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        self.zone_earliest, self.zone_latest = zone_span(
            phone=self.phone, wa_id=self.wa_id, time_zone=self.time_zone
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"phone", "wa_id", "time_zone"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "zone_earliest", "zone_latest"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        return self.full_name or self.phone or self.wa_id or self.user_id or f"Contact {self.pk}"

    def clean(self) -> None:
        errors = {}
        self.phone = (self.phone or "").strip() or None
        self.wa_id = (self.wa_id or "").strip() or None
        self.user_id = (self.user_id or "").strip() or None
        if self.phone:
            try:
                self.phone = normalize_phone(self.phone)
            except InvalidPhoneNumber as exc:
                errors["phone"] = exc.message
        self.country = (self.country or "").strip().upper()
        if self.country and self.country not in phonenumbers.SUPPORTED_REGIONS:
            errors["country"] = f"“{self.country}” is not a two-letter country code such as DE."
        elif not self.country and self.phone and "phone" not in errors:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(self.phone))
            self.country = region if region in phonenumbers.SUPPORTED_REGIONS else ""
        if not isinstance(self.attributes, dict):
            errors["attributes"] = 'Custom fields must be a JSON object, e.g. {"customer_no": "4711"}.'
        has_identifier = self.phone or self.wa_id or self.user_id or self.number_reassigned_at
        if not has_identifier and "phone" not in errors:
            errors["phone"] = "A contact needs a phone number (or a WhatsApp id)."
        if errors:
            raise ValidationError(errors)


class ConsentWording(AppendOnlyModel):
    """The exact opt-in text a person agreed to. Versions are immutable: a change is a new version."""

    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES)
    version = models.PositiveIntegerField(editable=False)
    text = models.TextField(help_text="Name the business and what the person will receive on WhatsApp.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["purpose", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "language", "version"], name="consent_wording_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} · {self.language} · v{self.version}"


class ConsentEvent(AppendOnlyModel, ActorFields):
    """One opt-in or opt-out, with its evidence. Never updated or deleted (docs/consent.md)."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="consent_events")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    action = models.CharField(max_length=8, choices=ConsentAction.choices)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    wording = models.ForeignKey(
        ConsentWording, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    wording_text = models.TextField(blank=True, help_text="Free text for a one-off wording.")
    evidence = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(help_text="When the person gave or withdrew consent.")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    # The order rule (docs/consent.md): an event counts from the earlier of when it happened and
    # when we learnt of it, so a clock running ahead cannot outvote a later STOP. Computed by the
    # database, so no writer can set it wrongly.
    effective_at = models.GeneratedField(
        expression=Least("occurred_at", "recorded_at"),
        output_field=models.DateTimeField(),
        db_persist=True,
    )
    # The identity of the signal this event records (an inbound message, one user_preferences
    # item, one refusal of a send, one merge…); with the purpose, unique in the database, so a
    # replayed or concurrently processed signal is recorded once. Empty for one-off events.
    signal_key = models.CharField(max_length=200, blank=True, default="", editable=False)
    # On an event a merge carried over (source "merge"): the source of the event it copies, followed
    # through earlier merges, so the order rule still tells an import from a STOP the person sent.
    # Empty on every other event, and on copies made before the column existed.
    carried_source = models.CharField(
        max_length=16, choices=ConsentSource.choices, blank=True, default="", editable=False
    )

    class Meta:
        ordering = ["-effective_at", "-recorded_at", "-id"]
        indexes = [
            models.Index(
                fields=["contact", "purpose", "-effective_at", "-recorded_at", "-id"],
                name="consent_effective_idx",
            ),
            models.Index(fields=["occurred_at"], name="consent_occurred_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["signal_key", "purpose"],
                condition=~models.Q(signal_key=""),
                name="consent_signal_once_per_purpose",
            ),
            models.CheckConstraint(
                condition=models.Q(carried_source="")
                | (models.Q(source="merge") & ~models.Q(carried_source="merge")),
                name="consent_carried_source_only_on_merge",
                violation_error_message="Only an event carried over by a merge names a carried source.",
            ),
        ]
        permissions = [
            ("record_opt_in", "Can record an opt-in"),
            ("record_opt_out", "Can record an opt-out"),
        ]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M}"
        return f"{self.get_action_display()} {self.get_purpose_display()} · {self.contact} · {when}"

    @property
    def wording_display(self) -> str:
        return self.wording.text if self.wording_id else self.wording_text


class CurrentConsent(models.Model):
    """The deciding consent event per (contact, purpose); the event is the proof.

    On PostgreSQL a constraint trigger refuses a row whose status, contact or purpose disagrees
    with its event, so the send path can trust the pair only together (it reads both).
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    since = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "current consent"
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"], name="current_consent_unique")]
        indexes = [models.Index(fields=["purpose", "status", "contact"], name="current_consent_state_idx")]

    def __str__(self) -> str:
        return f"{self.contact}: {self.get_purpose_display()} {self.get_status_display()}"


class ActivityLogEntry(AppendOnlyModel, ActorFields):
    """An append-only record of staff and system actions; ``contacts.services.log_activity`` writes it."""

    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "activity log entry"
        verbose_name_plural = "activity log"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at"], name="activity_occurred_idx"),
            models.Index(fields=["action", "-occurred_at"], name="activity_action_idx"),
            models.Index(fields=["object_type", "object_id"], name="activity_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_display} {self.action} {self.object_repr}"


# Audiences (imports, custom fields, static lists, segments) live in their own module; importing
# it here registers its models with the contacts app.
from contacts.audience_models import (  # noqa: E402,F401
    AttributeDefinition,
    AttributeType,
    ContactImport,
    ContactList,
    ContactListMember,
    ImportFile,
    ImportKind,
    ImportMapping,
    ImportRow,
    ImportRowStatus,
    ImportStatus,
    Segment,
    SegmentVersion,
    TestNumber,
)

# The consent ledger's chain links (tamper evidence) live in their own module too.
from contacts.chain_models import ConsentChainLink  # noqa: E402,F401
