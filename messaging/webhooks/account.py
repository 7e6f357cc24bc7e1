"""Account-level webhooks: template status, quality and category; the messaging tier.

Templates are changed only through ``templates_app.services.template_apply_status`` (the one
template status service, which also serves the sync); a template we do not know is ignored, so
Meta stops retrying. Tier reports become a new ``MessagingTier`` row: the history is the record of
when Meta raised the limit.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from messaging.models import MessagingTier, WebhookEvent
from messaging.tiers import parse_tier
from messaging.webhooks.envelope import Change, as_dict, text
from templates_app.models import Category, MessageTemplate
from templates_app.services import template_apply_status

_TIER_FIELDS = ("max_daily_conversations_per_business", "max_daily_conversation_per_phone")
# The largest limit a MessagingTier row holds (a 32-bit integer column on PostgreSQL); Meta's
# largest finite tier is 100,000, so anything above this is not a real messaging limit.
LARGEST_LIMIT = 2**31 - 1

logger = logging.getLogger(__name__)


def apply_template_change(*, change: Change) -> bool:
    """Status, quality or category of one template; False when the template is not ours."""
    value = change.value
    template = _template_for(value)
    if template is None:
        return False
    occurred_at = min(change.entry_time or timezone.now(), timezone.now())
    if change.field == "message_template_status_update":
        status = text(value.get("event"), 32).strip().upper()
        if not status:
            return False
        rejection = as_dict(value.get("rejection_info"))
        template_apply_status(
            template=template,
            source="webhook",
            status=status,
            reason=text(value.get("reason"), 64),
            detail=text(rejection.get("reason")) or text(as_dict(value.get("other_info")).get("description")),
            recommendation=text(rejection.get("recommendation")),
            occurred_at=occurred_at,
        )
    elif change.field == "message_template_quality_update":
        quality = text(value.get("new_quality_score"), 16).strip().upper()
        if quality:
            template_apply_status(
                template=template, source="webhook", quality=quality, occurred_at=occurred_at
            )
    elif change.field == "template_category_update":
        category = text(value.get("new_category") or value.get("correct_category"), 16).strip().upper()
        if category in Category.values:
            template_apply_status(
                template=template, source="webhook", category=category, occurred_at=occurred_at
            )
    return True


def apply_capability_update(*, change: Change, webhook_event: WebhookEvent) -> MessagingTier | None:
    """A new tier row from ``business_capability_update``; None when it carries no messaging limit.

    A value that is no messaging limit we can hold (``1e400``, ``5000000000``, ``"lots"``) is
    ignored with a warning: it stays in the stored body as Meta sent it, the current tier stays as
    it was, and the rest of the webhook is processed.
    """
    value = change.value
    name = next((name for name in _TIER_FIELDS if name in value), None)
    if name is None:
        return None
    raw = value[name]
    parsed = parse_tier(raw)
    if parsed is not None and not _storable(*parsed):
        parsed = None
    if parsed is None:
        if raw is not None:
            logger.warning(
                "business_capability_update: %s = %.80r is not a messaging limit; ignored", name, raw
            )
        return None
    tier, limit = parsed
    reported_at = change.entry_time or webhook_event.received_at
    tier_row, _ = MessagingTier.objects.get_or_create(
        tier=tier, limit=limit, reported_at=reported_at, source="business_capability_update"
    )
    return tier_row


def _storable(tier: str, limit: int | None) -> bool:
    max_length = MessagingTier._meta.get_field("tier").max_length
    return len(tier) <= max_length and (limit is None or limit <= LARGEST_LIMIT)


def _template_for(value: dict) -> MessageTemplate | None:
    meta_id = text(value.get("message_template_id"), 64).strip()
    if meta_id:
        template = MessageTemplate.objects.filter(meta_template_id=meta_id).first()
        if template is not None:
            return template
    name = text(value.get("message_template_name"), 512).strip()
    language = text(value.get("message_template_language"), 8).strip()
    if name and language:
        return MessageTemplate.objects.filter(name=name, language=language).first()
    return None
