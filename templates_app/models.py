"""WhatsApp message templates, their submitted versions and their status timeline.

A template's content is Meta's own ``components`` JSON (see ``templates_app.components``). The
template row holds the working draft and Meta's current state for (name, language); each
submission to Meta is a ``TemplateVersion`` whose content never changes afterwards, so every
message can point at exactly the content it carried. Only an APPROVED template's approved
version is sendable.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.languages import LANGUAGE_CHOICES
from contacts.models import Purpose
from core.models import ActorFields, AppendOnlyModel


class Category(models.TextChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


class ParameterFormat(models.TextChoices):
    POSITIONAL = "POSITIONAL", "Positional — {{1}}, {{2}}"
    NAMED = "NAMED", "Named — {{first_name}}"


class HeaderKind(models.TextChoices):
    NONE = "", "No header"
    TEXT = "TEXT", "Text"
    IMAGE = "IMAGE", "Image"
    VIDEO = "VIDEO", "Video"
    DOCUMENT = "DOCUMENT", "Document"
    LOCATION = "LOCATION", "Location (a map; the place is given when sending)"


class TemplateKind(models.TextChoices):
    """What shape of message the template is: Meta's plain template, or one of its marketing formats."""

    STANDARD = "STANDARD", "Standard message"
    CAROUSEL = "CAROUSEL", "Media card carousel (2–10 cards)"
    LIMITED_TIME_OFFER = "LIMITED_TIME_OFFER", "Limited-time offer"


class CardHeaderKind(models.TextChoices):
    IMAGE = "IMAGE", "Image"
    VIDEO = "VIDEO", "Video"


class CardButtonKind(models.TextChoices):
    NONE = "", "—"
    QUICK_REPLY = "QUICK_REPLY", "Quick reply"
    URL = "URL", "Visit website"
    PHONE_NUMBER = "PHONE_NUMBER", "Call phone number"


class TemplateStatus(models.TextChoices):
    """Meta's statuses (docs/meta-facts.md 5.4), plus DRAFT for one never submitted. Stored verbatim:
    a status Meta adds later is kept as it comes, and simply is not sendable."""

    DRAFT = "DRAFT", "Draft (not submitted)"
    PENDING = "PENDING", "Pending review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused"
    DISABLED = "DISABLED", "Disabled"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    FLAGGED = "FLAGGED", "Flagged"
    LOCKED = "LOCKED", "Locked"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
    ARCHIVED = "ARCHIVED", "Archived"
    PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
    DELETED = "DELETED", "Deleted"
    REINSTATED = "REINSTATED", "Reinstated"


class ButtonKind(models.TextChoices):
    QUICK_REPLY = "QUICK_REPLY", "Quick reply"
    URL = "URL", "Visit website"
    PHONE_NUMBER = "PHONE_NUMBER", "Call phone number"
    COPY_CODE = "COPY_CODE", "Copy offer code"


class OtpKind(models.TextChoices):
    COPY_CODE = "COPY_CODE", "Copy code"
    ONE_TAP = "ONE_TAP", "One-tap autofill"
    ZERO_TAP = "ZERO_TAP", "Zero-tap"


class MessageTemplate(models.Model):
    name = models.CharField(
        max_length=512, help_text="Lowercase letters, digits and underscores, e.g. order_update."
    )
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES)
    category = models.CharField(max_length=16, choices=Category.choices)
    parameter_format = models.CharField(
        max_length=16, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL
    )
    kind = models.CharField(
        "format",
        max_length=24,
        choices=TemplateKind.choices,
        default=TemplateKind.STANDARD,
        help_text="Carousels and limited-time offers are marketing templates.",
    )

    # The draft, edited in the admin. Submitting copies it into a TemplateVersion.
    header_kind = models.CharField(max_length=16, choices=HeaderKind.choices, blank=True)
    header_text = models.CharField(max_length=200, blank=True)
    header_sample = models.CharField(
        max_length=200, blank=True, help_text="Sample value for the header's variable."
    )
    header_media = models.FileField(
        upload_to="template_samples/", blank=True, help_text="Sample image, video or PDF for a media header."
    )
    header_handle = models.CharField(max_length=512, blank=True, editable=False)
    header_handle_for = models.CharField(max_length=255, blank=True, editable=False)
    body = models.TextField(blank=True)
    body_samples = models.JSONField(
        default=dict, blank=True, help_text='Sample values per variable: {"1": "Pablo"}.'
    )
    footer = models.CharField(max_length=200, blank=True)
    # LIMITED_TIME_OFFER templates: the offer's line above the body, and whether it shows a countdown
    # to an expiry given with each message.
    offer_text = models.CharField(
        "offer headline",
        max_length=16,
        blank=True,
        help_text="At most 16 characters, e.g. “Expiring offer!”.",
    )
    offer_has_expiration = models.BooleanField(
        "offer expires",
        default=True,
        help_text="Show a countdown: each message then carries the offer's expiry.",
    )
    # AUTHENTICATION templates: Meta writes the body; the business picks only these options.
    add_security_recommendation = models.BooleanField(default=True)
    code_expiration_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    otp_kind = models.CharField(max_length=16, choices=OtpKind.choices, blank=True)
    otp_button_text = models.CharField(max_length=25, blank=True)
    otp_package_name = models.CharField(max_length=255, blank=True)
    otp_signature_hash = models.CharField(max_length=64, blank=True)
    zero_tap_terms_accepted = models.BooleanField(
        default=False, help_text="Zero-tap codes need WhatsApp's zero-tap terms accepted."
    )

    # Meta's state for (name, language), stored verbatim.
    status = models.CharField(max_length=32, default=TemplateStatus.DRAFT)
    meta_template_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    rejection_reason = models.CharField(max_length=64, blank=True)
    rejection_detail = models.TextField(blank=True)
    rejection_recommendation = models.TextField(blank=True)
    quality_rating = models.CharField(max_length=16, blank=True)
    approved_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    last_error = models.TextField(blank=True, help_text="Meta's answer to the last failed submission.")

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "language"],
                name="template_name_language_unique",
                violation_error_message="A template with this name already exists in this language.",
            )
        ]
        indexes = [models.Index(fields=["status"], name="template_status_idx")]
        permissions = [
            ("submit_messagetemplate", "Can submit templates to WhatsApp"),
            ("sync_messagetemplate", "Can sync templates from WhatsApp"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def status_label(self) -> str:
        return TemplateStatus(self.status).label if self.status in TemplateStatus.values else self.status

    @property
    def is_sendable(self) -> bool:
        return self.status == TemplateStatus.APPROVED and self.approved_version_id is not None


class TemplateButton(models.Model):
    """One button of the draft, in order. Meta's BUTTONS component is built from these rows."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="buttons")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=ButtonKind.choices)
    text = models.CharField("label", max_length=100, blank=True)
    url = models.CharField(
        max_length=2000,
        blank=True,
        help_text="For a website button; may end with {{1}} for a per-message suffix.",
    )
    url_sample = models.CharField(max_length=2000, blank=True, help_text="Full sample URL when it has {{1}}.")
    phone_number = models.CharField(max_length=32, blank=True)
    code_sample = models.CharField("sample code", max_length=32, blank=True)
    opt_out_purpose = models.CharField(
        max_length=16,
        choices=Purpose.choices,
        blank=True,
        help_text="Mark one quick reply as the opt-out button: a tap opts the person out of this purpose.",
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text}"


class TemplateCard(models.Model):
    """One card of a CAROUSEL template's draft, in order: a media header, an optional body, and up to
    two buttons. Meta requires every card alike (same header kind, body or none, same button kinds
    in the same order); the validator checks that across the rows."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="cards")
    position = models.PositiveSmallIntegerField(default=0)
    header_kind = models.CharField(
        max_length=16, choices=CardHeaderKind.choices, default=CardHeaderKind.IMAGE
    )
    header_media = models.FileField(
        upload_to="template_samples/", blank=True, help_text="Sample image or video for this card."
    )
    header_handle = models.CharField(max_length=512, blank=True, editable=False)
    header_handle_for = models.CharField(max_length=255, blank=True, editable=False)
    body = models.TextField(blank=True, help_text="Optional; if one card has a text, every card needs one.")
    body_samples = models.JSONField(default=dict, blank=True)
    button1_kind = models.CharField("button 1", max_length=16, choices=CardButtonKind.choices, blank=True)
    button1_text = models.CharField("button 1 label", max_length=100, blank=True)
    button1_url = models.CharField("button 1 link", max_length=2000, blank=True)
    button1_url_sample = models.CharField("button 1 sample link", max_length=2000, blank=True)
    button1_phone_number = models.CharField("button 1 phone number", max_length=32, blank=True)
    button2_kind = models.CharField("button 2", max_length=16, choices=CardButtonKind.choices, blank=True)
    button2_text = models.CharField("button 2 label", max_length=100, blank=True)
    button2_url = models.CharField("button 2 link", max_length=2000, blank=True)
    button2_url_sample = models.CharField("button 2 sample link", max_length=2000, blank=True)
    button2_phone_number = models.CharField("button 2 phone number", max_length=32, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"card {self.position + 1} of {self.template}"


class VersionReview(models.TextChoices):
    PENDING = "PENDING", "Under review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    WITHDRAWN = "WITHDRAWN", "Replaced before review finished"


class TemplateVersion(models.Model):
    """Content as submitted to Meta. The content never changes; only its review outcome is set."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    category = models.CharField(max_length=16, choices=Category.choices)
    parameter_format = models.CharField(max_length=16, choices=ParameterFormat.choices)
    components = models.JSONField()
    opt_out_button_index = models.PositiveSmallIntegerField(null=True, blank=True)
    opt_out_purpose = models.CharField(max_length=16, choices=Purpose.choices, blank=True)
    is_edit = models.BooleanField(
        default=False, help_text="Submitted through Meta's edit endpoint (counts towards the edit limits)."
    )
    review = models.CharField(max_length=16, choices=VersionReview.choices, default=VersionReview.PENDING)
    submitted_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    imported = models.BooleanField(
        default=False, help_text="Found at Meta by the sync, not submitted from here."
    )

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_unique")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"


class TemplateEvent(AppendOnlyModel, ActorFields):
    """The template's timeline: submissions, edits, and every status, quality or category change."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="events")
    version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=32)
    from_value = models.CharField(max_length=64, blank=True)
    to_value = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, help_text="admin, sync or webhook")
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["template", "-occurred_at"], name="template_event_idx")]

    def __str__(self) -> str:
        return f"{self.template} {self.kind}: {self.from_value} → {self.to_value}"
