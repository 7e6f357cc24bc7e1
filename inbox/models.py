"""The support inbox: one conversation per contact, internal notes, canned replies.

A conversation is the inbox's index over a contact's messages, not a copy of them: the thread is
read from ``InboundMessage`` and ``OutboundMessage`` by contact. What the list needs for one row
(last activity, a preview, unread and waiting-on-us) is kept on the conversation, so the list page
reads one indexed range of one table whatever the number of messages. ``changed_at`` is when the
row last changed in any way, so the list's poll can bring every change (``inbox.selectors``).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import Contact


class ConversationState(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Conversation(models.Model):
    """Created by a contact's first inbound message; campaigns and API sends alone never make one."""

    contact = models.OneToOneField(Contact, on_delete=models.PROTECT, related_name="conversation")
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # conversation_assignee_idx leads with it
    )
    awaiting_reply = models.BooleanField(
        default=False, help_text="Waiting on us: the person wrote last and no one has answered yet."
    )
    unread_count = models.PositiveIntegerField(
        default=0,
        help_text="Inbound messages since an agent (never an Auditor) last opened the conversation.",
    )
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    last_message_inbound = models.BooleanField(default=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Stamped with ``timezone.now()`` by every write of the row (``inbox.conversations``,
    # ``inbox.services``, ``inbox.merging``): new activity, read, assigned, resolved, reopened, merged.
    changed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        indexes = [
            models.Index(fields=["state", "-last_activity_at", "-id"], name="conversation_state_idx"),
            models.Index(
                fields=["assigned_to", "state", "-last_activity_at", "-id"], name="conversation_assignee_idx"
            ),
            models.Index(
                fields=["state", "-last_activity_at", "-id"],
                name="conversation_waiting_idx",
                condition=models.Q(awaiting_reply=True),
            ),
            models.Index(
                fields=["state", "assigned_to"],
                name="conversation_unread_idx",
                condition=models.Q(unread_count__gt=0),
            ),
            # The list's poll: the rows changed in the last minutes, a short range at the index's end.
            models.Index(fields=["changed_at", "id"], name="conversation_changed_idx"),
        ]
        permissions = [
            ("reply_conversation", "Can reply to conversations"),
            ("assign_conversation", "Can assign conversations"),
        ]

    def __str__(self) -> str:
        return f"Conversation with {self.contact}"


class ConversationNote(models.Model):
    """An internal note: staff only, never sent to the customer; kept as written (no edits)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.created_at:%Y-%m-%d %H:%M}"


class CannedReply(models.Model):
    """A ready answer in one language, with variables filled from the contact (``{{first_name}}``)."""

    title = models.CharField(max_length=80)
    language = models.CharField(max_length=16, help_text="A Meta locale code (de, en_US, pt_BR).")
    body = models.TextField(max_length=4096)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "language"]
        constraints = [
            models.UniqueConstraint(fields=["title", "language"], name="cannedreply_title_language_unique")
        ]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"
