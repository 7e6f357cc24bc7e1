"""Template status, quality and category by webhook; the messaging tier by business_capability_update."""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import pytest

from messaging.models import MessagingTier, WebhookEvent, WebhookOutcome
from messaging.tiers import parse_tier
from templates_app.models import TemplateStatus, VersionReview
from tests.messaging.webhook_bodies import (
    change,
    deliver,  # noqa: F401 (a fixture)
    envelope,
)

pytestmark = pytest.mark.django_db

ENTRY_TIME = 1_751_247_548


def template_update(template, event: str, **extra) -> dict:
    value = {
        "event": event,
        "message_template_id": int(template.meta_template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": extra.pop("reason", "NONE"),
        "message_template_category": template.category,
        **extra,
    }
    return envelope(change("message_template_status_update", value), entry_time=ENTRY_TIME)


def test_rejected_keeps_the_reason_and_recommendation(deliver, promotion):
    rejection = {
        "reason": "Your template has parameters placed next to each other without text between them.",
        "recommendation": "Separate parameters with descriptive text.",
    }
    deliver(template_update(promotion, "REJECTED", reason="INVALID_FORMAT", rejection_info=rejection))
    promotion.refresh_from_db()
    assert promotion.status == TemplateStatus.REJECTED
    assert promotion.rejection_reason == "INVALID_FORMAT"
    assert promotion.rejection_detail == rejection["reason"]
    assert promotion.rejection_recommendation == rejection["recommendation"]
    event = promotion.events.get(kind="status")
    assert (event.from_value, event.to_value, event.source) == ("APPROVED", "REJECTED", "webhook")


def test_paused_then_approved_again(deliver, promotion):
    deliver(
        template_update(
            promotion,
            "PAUSED",
            other_info={"title": "FIRST_PAUSE", "description": "Low quality for 3 hours."},
        )
    )
    promotion.refresh_from_db()
    assert promotion.status == TemplateStatus.PAUSED
    assert not promotion.is_sendable
    deliver(template_update(promotion, "APPROVED"))
    promotion.refresh_from_db()
    assert promotion.status == TemplateStatus.APPROVED
    assert promotion.is_sendable
    assert [e.to_value for e in promotion.events.filter(kind="status").order_by("id")] == [
        "PAUSED",
        "APPROVED",
    ]


def test_approved_for_a_pending_version_makes_it_sendable(deliver, promotion):
    version = promotion.approved_version
    type(version).objects.filter(pk=version.pk).update(review=VersionReview.PENDING)
    type(promotion).objects.filter(pk=promotion.pk).update(
        status=TemplateStatus.PENDING, approved_version=None
    )
    promotion.refresh_from_db()
    body = template_update(promotion, "APPROVED")
    deliver(body)
    deliver(body)  # again: nothing more
    promotion.refresh_from_db()
    assert promotion.is_sendable
    assert promotion.approved_version == version
    assert promotion.events.filter(kind="status").count() == 1


def test_a_template_is_matched_by_name_and_language_without_a_known_id(deliver, order_update):
    body = template_update(order_update, "PAUSED")
    body["entry"][0]["changes"][0]["value"]["message_template_id"] = 999
    deliver(body)
    order_update.refresh_from_db()
    assert order_update.status == TemplateStatus.PAUSED


def test_an_unknown_template_is_ignored(deliver, promotion):
    value = {
        "event": "APPROVED",
        "message_template_id": 42,
        "message_template_name": "not_ours",
        "message_template_language": "en",
    }
    response = deliver(envelope(change("message_template_status_update", value)))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED


def test_quality_and_category_updates(deliver, promotion):
    deliver(
        envelope(
            change(
                "message_template_quality_update",
                {
                    "previous_quality_score": "GREEN",
                    "new_quality_score": "YELLOW",
                    "message_template_id": int(promotion.meta_template_id),
                    "message_template_name": promotion.name,
                    "message_template_language": promotion.language,
                },
            ),
            change(
                "template_category_update",
                {
                    "message_template_id": int(promotion.meta_template_id),
                    "message_template_name": promotion.name,
                    "message_template_language": promotion.language,
                    "previous_category": "MARKETING",
                    "new_category": "UTILITY",
                },
            ),
        )
    )
    promotion.refresh_from_db()
    assert promotion.quality_rating == "YELLOW"
    assert promotion.category == "UTILITY"
    assert set(promotion.events.values_list("kind", flat=True)) == {"quality", "category"}


# --- The messaging tier ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tier", "limit"),
    [
        ({"max_daily_conversations_per_business": "TIER_2K"}, "TIER_2K", 2000),
        ({"max_daily_conversations_per_business": 10000}, "TIER_10K", 10000),
        ({"max_daily_conversation_per_phone": 1000, "max_phone_numbers_per_business": 2}, "TIER_1K", 1000),
        ({"max_daily_conversations_per_business": "TIER_UNLIMITED"}, "TIER_UNLIMITED", None),
        ({"max_daily_conversations_per_business": "TIER_100K"}, "TIER_100K", 100000),
    ],
)
def test_business_capability_update_adds_a_tier_row(deliver, value, tier, limit):
    body = envelope(change("business_capability_update", value), entry_time=ENTRY_TIME)
    deliver(body)
    deliver(body)  # delivered again: one row
    row = MessagingTier.objects.get()
    assert (row.tier, row.limit, row.source) == (tier, limit, "business_capability_update")
    assert row.reported_at.timestamp() == ENTRY_TIME


def test_a_capability_update_without_a_messaging_limit_adds_nothing(deliver):
    deliver(envelope(change("business_capability_update", {"max_phone_numbers_per_business": 25})))
    assert not MessagingTier.objects.exists()
    assert WebhookEvent.objects.get().outcome == WebhookOutcome.PROCESSED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("TIER_250", ("TIER_250", 250)),
        ("tier_2k", ("TIER_2K", 2000)),
        ("2000", ("TIER_2K", 2000)),
        (250, ("TIER_250", 250)),
        (5000, ("TIER_5000", 5000)),
        ("TIER_5K", ("TIER_5K", 5000)),
        ("UNLIMITED", ("UNLIMITED", None)),
        (-1, ("TIER_UNLIMITED", None)),
        ("a lot", None),
        (None, None),
        (True, None),
        ({"tier": "TIER_2K"}, None),
    ],
)
def test_parse_tier_is_lenient_about_shapes_meta_has_not_pinned_down(raw, expected):
    assert parse_tier(raw) == expected
