"""Campaigns: one approved template sent to a segment, authored by some and approved by another.

Kept apart from ``messaging.models`` (which imports this module, so Django registers the models
under the ``messaging`` app). The workflow is docs/campaigns.md: every status change is a service
in ``messaging.campaigns.workflow`` with a conditional UPDATE and a ``CampaignTransition`` row.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from contacts.models import Purpose, Segment, SegmentVersion
from core.models import ActorFields, AppendOnlyModel
from templates_app.models import MessageTemplate


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class ScheduleKind(models.TextChoices):
    NOW = "now", "As soon as it is approved"
    AT = "at", "At a time"
    LOCAL = "local", "At a local time for each recipient"


class HeaderMediaSource(models.TextChoices):
    NONE = "", "—"
    LINK = "link", "A link"
    UPLOAD = "upload", "An uploaded file"


class Campaign(models.Model):
    """A template, a segment, how the template's variables are filled, and when it goes.

    ``template`` is the default language's row; the other APPROVED rows with the same name are
    its translations (each contact gets their own language, else the default). ``bindings``
    says where each variable's value comes from (``messaging.campaigns.bindings``). Approval
    writes ``frozen``: the template's approved content per language, the segment's resolved
    rules and the bindings, which is what the dispatch sends; later edits do not reach it.
    """

    name = models.CharField(max_length=200)
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="An APPROVED template; its default language. Other languages are used where they exist.",
    )
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, editable=False)
    bindings = models.JSONField(default=dict, blank=True)

    header_media_source = models.CharField(
        max_length=8, choices=HeaderMediaSource.choices, blank=True, default=HeaderMediaSource.NONE
    )
    header_media_link = models.URLField(max_length=2000, blank=True)
    header_media_file = models.FileField(upload_to="campaign-media/", blank=True)
    header_media_mime = models.CharField(max_length=100, blank=True, editable=False)
    header_media_id = models.CharField(max_length=128, blank=True, editable=False)
    header_media_uploaded_at = models.DateTimeField(null=True, blank=True, editable=False)

    rate_cap = models.PositiveIntegerField(
        "messages per second at most",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Optional; below the global rate. Empty: the global rate.",
    )

    schedule_kind = models.CharField(max_length=8, choices=ScheduleKind.choices, default=ScheduleKind.NOW)
    send_at = models.DateTimeField(null=True, blank=True, help_text="For “at a time”.")
    local_date = models.DateField(null=True, blank=True, help_text="For “at a local time”: the day …")
    local_time = models.TimeField(
        null=True, blank=True, help_text="… and the time on each recipient's clock."
    )
    latest_send_at = models.DateTimeField(
        null=True, blank=True, help_text="Recipients not reached by then are skipped with that reason."
    )

    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    paused_from = models.CharField(
        max_length=20,
        choices=CampaignStatus.choices,
        blank=True,
        editable=False,
        help_text="The status a paused campaign returns to.",
    )
    status_reason = models.TextField(blank=True, editable=False, help_text="Why it is in this status.")
    frozen = models.JSONField(default=dict, blank=True, editable=False)
    segment_version = models.ForeignKey(
        SegmentVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]
        permissions = [
            ("submit_campaign", "Can submit a campaign for approval"),
            ("approve_campaign", "Can approve or reject a campaign (not one they authored)"),
            ("pause_campaign", "Can pause a sending campaign"),
            ("resume_campaign", "Can resume or cancel a campaign"),
            ("test_send_campaign", "Can send a campaign's message to a staff test number"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignAuthor(models.Model):
    """Everyone who created, edited or submitted a campaign: none of them may approve it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="authors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    first_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaign_author_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.campaign}"


class CampaignTransition(AppendOnlyModel, ActorFields):
    """One status change of a campaign: who, when, from, to, why. The campaign's timeline."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=CampaignStatus.choices)
    to_status = models.CharField(max_length=20, choices=CampaignStatus.choices)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["campaign", "occurred_at"], name="campaign_transition_idx")]
