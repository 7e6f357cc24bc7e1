"""The callback outbox is a queue, not an archive: old delivered and given-up events are purged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import CallbackDelivery, CallbackEvent, CallbackState
from api.tasks import callback_events_purge
from tests.api.callback_world import make_key

pytestmark = pytest.mark.django_db


def test_old_delivered_and_given_up_events_go_with_their_attempts_pending_ones_stay(settings):
    settings.API_CALLBACK_RETENTION_DAYS = 30
    key = make_key(callback_url="https://shop.example/hooks")
    now = timezone.now()

    def event(state, age_days):
        row = CallbackEvent.objects.create(
            key=key,
            type="message.received",
            payload={"text": "my order?"},
            state=state,
            created_at=now - timedelta(days=age_days),
        )
        CallbackDelivery.objects.create(event=row, status_code=200)
        return row

    old_delivered = event(CallbackState.DELIVERED, 31)
    old_given_up = event(CallbackState.GAVE_UP, 31)
    old_pending = event(CallbackState.PENDING, 31)
    recent = event(CallbackState.DELIVERED, 29)

    assert callback_events_purge(now=now) == 2
    kept = set(CallbackEvent.objects.values_list("pk", flat=True))
    assert kept == {old_pending.pk, recent.pk}
    assert not CallbackDelivery.objects.filter(event_id__in=[old_delivered.pk, old_given_up.pk]).exists()
