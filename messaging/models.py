"""Messages out and in, their attempts and statuses, raw webhooks, and account-wide sending state.

Every outbound message, whatever sends it, is an ``OutboundMessage`` created by
``messaging.sending.send_message``; each try is a ``SendAttempt`` with its own ``wamid``; every
status Meta reports is a ``MessageStatusEvent``. Signed webhook bodies are stored raw first
(``WebhookEvent``) so nothing is lost whatever processing does with them.
"""

import os
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import ConsentEvent, Contact, Purpose
from core.models import ActorFields, AppendOnlyModel
from templates_app.models import TemplateVersion


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    ACCEPTED = "accepted", "Accepted by WhatsApp"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (never sent)"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Outcome unknown"


# Meta's delivery statuses only move forward (docs/meta-facts.md 4.2); `failed` is final.
DELIVERY_RANK = {
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
FINAL_STATUSES = {MessageStatus.FAILED, MessageStatus.SKIPPED, MessageStatus.CANCELLED}


class HoldReason(models.TextChoices):
    """Why a queued message waits; a message that may never go becomes skipped instead."""

    NONE = "", "—"
    RETRY = "retry", "Retry after a temporary failure"
    QUIET_HOURS = "quiet_hours", "Quiet hours at the recipient"
    FREQUENCY_CAP = "frequency_cap", "Marketing frequency cap"
    BUDGET = "budget", "Messaging-limit budget"
    HALT = "halt", "Sending halted"
    PAIR_RATE = "pair_rate", "Too many messages to this person"
    DEFERRED = "deferred", "WhatsApp deferred it (try again in 24 hours)"
    TEMPLATE_PAUSED = "template_paused", "Template paused or under review"
    CAMPAIGN_PAUSED = "campaign_paused", "Campaign paused"


class MessageKind(models.TextChoices):
    TEMPLATE = "template", "Template"
    TEXT = "text", "Text"
    MEDIA = "media", "Media"
    INTERACTIVE = "interactive", "Interactive"


class OutboundMessage(ActorFields):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Indexed by outbound_contact_idx (contact, -created_at), which leads with it.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="outbound_messages", db_index=False
    )
    # Indexed only where set (outbound_actor_user_idx): a campaign's messages are the system's.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    # The purpose whose consent a business-initiated message needs (from the template category).
    purpose = models.CharField(max_length=16, choices=Purpose.choices, blank=True)
    is_reply = models.BooleanField(
        default=False, help_text="Sent in answer to the person inside their open window: needs no opt-in."
    )
    reply_to = models.ForeignKey(  # indexed only where set (outbound_reply_to_idx)
        "InboundMessage",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replies",
        db_index=False,
    )
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    parameters = models.JSONField(default=dict, blank=True, help_text="Template parameters as given.")
    content = models.JSONField(
        default=dict, blank=True, help_text="Free-form content: text body, media reference, interactive spec."
    )
    rendered_text = models.TextField(
        blank=True, help_text="What the recipient reads, for logs and the inbox."
    )
    # The proof: the consent event that authorised it, set when the message was claimed to send.
    authorising_event = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="authorised_messages"
    )
    campaign = models.ForeignKey(
        "messaging.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    # A campaign's test send to a staff test number: a real message, counted in the messaging-limit
    # budget as Meta counts it, never in a campaign's funnel.
    is_test = models.BooleanField(default=False, editable=False)

    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    hold_reason = models.CharField(max_length=32, choices=HoldReason.choices, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    error_code = models.IntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=32, blank=True)
    error_text = models.TextField(blank=True)
    needs_review = models.BooleanField(
        default=False, help_text="Unknown outcome past its deadline: staff resend it or mark it failed."
    )
    # One message per request whatever the retries and double clicks: a caller-chosen key (the
    # admin's signed confirmation, an API Idempotency-Key), unique in the database where given
    # (outbound_idempotency_key_unique).
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Skipped or cancelled.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every index is written again by each row version that changes an indexed column, and a
        # message's row changes three times on its way out (claimed, attempted, answered): the
        # indexes that only some messages need are partial, so a campaign's messages skip them
        # (docs/benchmarks.md, the batch dispatcher). The table keeps room on each page (fillfactor,
        # migration 0009), so the attempt's update, which changes no indexed column, stays on its page
        # and writes no index at all.
        indexes = [
            # The dispatch claim and the sweeper: due queued messages.
            models.Index(fields=["status", "next_attempt_at"], name="outbound_due_idx"),
            models.Index(fields=["contact", "-created_at"], name="outbound_contact_idx"),
            # The frequency cap and the budget: recent business-initiated sends per contact.
            models.Index(fields=["purpose", "accepted_at"], name="outbound_accepted_idx"),
            models.Index(
                fields=["reply_to"], condition=models.Q(reply_to__isnull=False), name="outbound_reply_to_idx"
            ),
            models.Index(
                fields=["actor_user"],
                condition=models.Q(actor_user__isnull=False),
                name="outbound_actor_user_idx",
            ),
            # The REST API lists a key's own messages, newest first (docs/api-messages.md).
            models.Index(
                fields=["actor_ref", "-id"],
                condition=models.Q(actor_kind="api_key"),
                name="outbound_api_key_idx",
            ),
        ]
        constraints = [
            # A reply needs no opt-in, so it must answer something the person sent (docs/sending.md)
            # and may never be a promotion: no flag alone makes a message a reply.
            models.CheckConstraint(
                condition=models.Q(is_reply=False) | models.Q(reply_to__isnull=False),
                name="reply_answers_an_inbound_message",
            ),
            models.CheckConstraint(
                condition=models.Q(is_reply=False) | ~models.Q(purpose=Purpose.MARKETING),
                name="reply_is_never_marketing",
            ),
            # A recipient gets a campaign at most once, whatever crashes, retries or workers.
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(campaign__isnull=False, is_test=False),
                name="campaign_once_per_contact",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="outbound_idempotency_key_unique",
            ),
        ]
        permissions = [
            ("send_template_message", "Can send an approved template to a contact"),
            ("review_unknown_message", "Can resend or mark failed a message whose outcome is unknown"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.contact} ({self.status})"


class AttemptOutcome(models.TextChoices):
    PENDING = "pending", "Request under way"
    ACCEPTED = "accepted", "Accepted"
    REFUSED = "refused", "Refused by WhatsApp"
    NOT_SENT = "not_sent", "Not sent (safe to retry)"
    UNKNOWN = "unknown", "Outcome unknown"


class SendAttempt(models.Model):
    # Indexed by attempt_number_unique (message, number), which leads with it.
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.PROTECT, related_name="attempts", db_index=False
    )
    number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.PENDING)
    # Unique where known (attempt_wamid_unique): a pending attempt has none yet.
    wamid = models.CharField(max_length=128, null=True, blank=True)
    # The latest delivery status Meta reported for this attempt (sent/delivered/read/failed).
    status = models.CharField(max_length=16, choices=MessageStatus.choices, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=32, blank=True)
    error_text = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    reconcile_by = models.DateTimeField(
        null=True, blank=True, help_text="Unknown outcome: a webhook must reconcile it before this time."
    )

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="attempt_number_unique"),
            models.UniqueConstraint(
                fields=["wamid"], condition=models.Q(wamid__isnull=False), name="attempt_wamid_unique"
            ),
        ]
        # The sweeper's unknown attempts past their deadline; only unknown attempts are in it.
        indexes = [
            models.Index(
                fields=["reconcile_by"],
                condition=models.Q(outcome="unknown"),
                name="attempt_unknown_idx",
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id} ({self.outcome})"


class MessageStatusEvent(AppendOnlyModel):
    """Every status Meta reported, in arrival order, with its own timestamp and pricing.

    ``attempt`` is empty while the status waits for its attempt (the webhook can beat the send's
    commit); it is then applied when the attempt with that ``wamid`` is recorded.
    """

    wamid = models.CharField(max_length=128, db_index=True)
    attempt = models.ForeignKey(
        SendAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="statuses"
    )
    status = models.CharField(max_length=16)
    meta_timestamp = models.DateTimeField(null=True, blank=True)
    biz_opaque_callback_data = models.CharField(max_length=512, blank=True)
    recipient_id = models.CharField(max_length=64, blank=True)
    pricing = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    applied = models.BooleanField(
        default=False, help_text="Moved the attempt forward (false: kept in history only, or still waiting)."
    )
    webhook_event = models.ForeignKey(
        "WebhookEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="status_events"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class InboundMessage(models.Model):
    wamid = models.CharField(max_length=128, unique=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="inbound_messages")
    type = models.CharField(max_length=32)
    text = models.TextField(blank=True, help_text="The text, caption, button label or reply title.")
    payload = models.JSONField(default=dict, help_text="The message object exactly as WhatsApp sent it.")
    context_wamid = models.CharField(
        max_length=128, blank=True, help_text="The message it answers or quotes."
    )
    in_reply_to = models.ForeignKey(
        OutboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_replies"
    )
    sent_at = models.DateTimeField(help_text="WhatsApp's timestamp of the message.")
    received_at = models.DateTimeField(default=timezone.now)
    webhook_event = models.ForeignKey(
        "WebhookEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="inbound_messages"
    )

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["contact", "-sent_at"], name="inbound_contact_idx")]

    def __str__(self) -> str:
        return f"{self.type} from {self.contact}: {self.text[:40]}"


class WebhookOutcome(models.TextChoices):
    PENDING = "pending", "Stored, not processed yet"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (kept for reprocess_webhooks)"


class WebhookEvent(models.Model):
    """A signed webhook body exactly as received. Stored before anything else happens."""

    body = models.BinaryField()
    signature = models.CharField(max_length=128, blank=True)
    # No index of its own: every index is written on each of up to thousands of inserts a second;
    # the list is ordered by id (the same order) and the sweep uses the (outcome, received_at) one.
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=WebhookOutcome.choices, default=WebhookOutcome.PENDING)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["outcome", "received_at"], name="webhook_outcome_idx")]

    def __str__(self) -> str:
        return f"webhook {self.pk} ({self.outcome})"


class SendingHalt(models.Model):
    """Business-initiated sending stopped until an Administrator clears it (docs/sending.md).

    Started by an account-level error from WhatsApp (``error_code``) or by hand by an
    Administrator or Approver (``started_by``).
    """

    reason = models.TextField()
    error_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when WhatsApp's error started it.",
    )
    message = models.ForeignKey(
        OutboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # At most one active halt: the first account-level error starts it, later ones add nothing.
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_halt"
            )
        ]
        permissions = [
            ("clear_sendinghalt", "Can clear a sending halt"),
            ("halt_sending", "Can halt all business-initiated sending by hand"),
        ]

    def __str__(self) -> str:
        return f"halt since {self.started_at:%Y-%m-%d %H:%M}: {self.reason[:60]}"


class MessagingTier(models.Model):
    """Meta's messaging limit (unique people reached outside a window per 24 h), as last reported."""

    tier = models.CharField(max_length=32)
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    reported_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=32, help_text="settings or business_capability_update")

    class Meta:
        ordering = ["-reported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.tier} ({self.limit or 'unlimited'})"


class RateLimiterSlot(models.Model):
    """The global send rate, shared by every worker: the next free send slot per limiter key.

    A sender reserves a slot with one conditional UPDATE (``next_at = max(next_at, now) + 1/rate``)
    and waits until it; see ``messaging.sending.limiter``. Redis replaces this row when REDIS_URL is set.
    """

    key = models.CharField(max_length=64, unique=True)
    next_at = models.FloatField(default=0.0, help_text="Epoch seconds of the next free slot.")

    def __str__(self) -> str:
        return self.key


class MediaDirection(models.TextChoices):
    INBOUND = "inbound", "Received"
    OUTBOUND = "outbound", "Sent"


class MediaKind(models.TextChoices):
    """The media message types of the Cloud API (docs/media.md has Meta's types and sizes)."""

    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    DOCUMENT = "document", "Document"
    STICKER = "sticker", "Sticker"


def media_file_path(instance: "MessageMedia", filename: str) -> str:
    """A random name under ``whatsapp-media/``: the sender's file name is data, never a path."""
    extension = os.path.splitext(filename)[1].lower()[:10]
    return timezone.now().strftime(f"whatsapp-media/%Y/%m/{uuid.uuid4().hex}{extension}")


class MessageMedia(models.Model):
    """A media file a person sent us (downloaded from Meta) or we sent (uploaded to Meta), kept locally.

    Meta keeps a received media id for 7 days and its download URL for 5 minutes, so the inbox
    shows our own copy, served to staff only (``messaging.admin_media``). The copy is deleted after
    ``INBOX_MEDIA_RETENTION_DAYS``; the row stays as the record that there was one (``purged_at``).
    A download that failed keeps its ``error`` and is retried by a schedule (``attempts``,
    ``next_attempt_at``) until it succeeds or gives up.
    """

    media_id = models.CharField(max_length=128, unique=True, help_text="Meta's media id.")
    direction = models.CharField(max_length=16, choices=MediaDirection.choices)
    kind = models.CharField(max_length=16, choices=MediaKind.choices)
    inbound = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="media"
    )
    mime_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes; empty until known.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hex digest (Meta's, for received media).")
    filename = models.CharField(max_length=255, blank=True, help_text="The name the sender gave it.")
    file = models.FileField(upload_to=media_file_path, max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="The local copy was deleted.")
    error = models.TextField(blank=True, help_text="Why the last download failed.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Download attempts so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the download is tried (again); empty when done or given up."
    )

    class Meta:
        verbose_name = "message media"
        verbose_name_plural = "message media"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="media_download_due_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(purged_at__isnull=True),
                name="media_kept_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(direction="outbound") | models.Q(inbound__isnull=False),
                name="media_inbound_has_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.media_id}"

    @property
    def available(self) -> bool:
        """A local copy exists to show."""
        return bool(self.file) and self.purged_at is None


# Campaigns live in their own module; importing it here registers its models with this app.
from messaging.campaign_models import (  # noqa: E402,F401
    Campaign,
    CampaignAuthor,
    CampaignStatus,
    CampaignTransition,
    HeaderMediaSource,
    ScheduleKind,
)
