"""The view wakes one processor instead of queueing a task per POST; the processor drains and sleeps."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from messaging.models import WebhookEvent
from messaging.webhooks import tasks
from tests.messaging.webhook_bodies import URL, encode, sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "async_task", lambda func, *args, **kwargs: calls.append((func, args)))
    for slot in range(tasks.PROCESSORS):
        cache.delete(tasks._awake_key(slot))
    monkeypatch.setattr(tasks, "_last_sighting", 0.0)
    return calls


def post(client, django_capture_on_commit_callbacks):
    body = encode({"object": "whatsapp_business_account", "entry": []})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sign(body)
        )
    assert response.status_code == 200


def test_many_posts_wake_one_processor(client, django_capture_on_commit_callbacks, queued):
    for _ in range(5):
        post(client, django_capture_on_commit_callbacks)
    assert queued == [(tasks.DRAIN_TASK, (0,))]
    assert WebhookEvent.objects.filter(outcome="pending").count() == 5


def test_the_processor_drains_everything_then_sleeps(client, django_capture_on_commit_callbacks, queued):
    for _ in range(3):
        post(client, django_capture_on_commit_callbacks)
    assert tasks.drain_webhooks(0) == "3 webhooks processed"
    assert not WebhookEvent.objects.filter(outcome="pending").exists()
    post(client, django_capture_on_commit_callbacks)  # asleep again: the next POST wakes it
    assert len(queued) == 2


def test_a_backlog_wakes_a_second_processor(queued, monkeypatch):
    monkeypatch.setattr(tasks, "EVENTS_PER_RUN", 2)
    WebhookEvent.objects.bulk_create(WebhookEvent(body=b"{}") for _ in range(5))
    tasks.drain_webhooks(0)
    assert (tasks.DRAIN_TASK, (1,)) in queued


def test_the_sweep_wakes_a_processor_for_stale_events(queued):
    assert tasks.sweep_webhooks().startswith("no stale webhooks")
    cache.add(tasks._awake_key(0), True, 30)  # a flag left by a worker that died
    WebhookEvent.objects.create(body=b"{}", received_at=timezone.now() - timedelta(minutes=2))
    assert "woke" in tasks.sweep_webhooks()
    assert queued == [(tasks.DRAIN_TASK, (0,))]


def test_a_queue_outage_still_answers_200_and_keeps_the_event(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks, "async_task", broken)
    cache.delete(tasks._awake_key(0))
    monkeypatch.setattr(tasks, "_last_sighting", 0.0)
    post(client, django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.filter(outcome="pending").count() == 1


def test_an_event_posted_on_a_stale_sighting_is_still_drained(queued, monkeypatch):
    """A process trusts a sighting of an awake processor briefly; the processor's last look outlasts it."""
    import time

    monkeypatch.setattr(tasks, "_last_sighting", time.monotonic())  # "awake", seen just now
    # Still trusted when this process stalls past the 50 ms window before it posts (a busy machine).
    monkeypatch.setattr(tasks, "SIGHTING_SECONDS", 60.0)
    event = WebhookEvent.objects.create(body=b"{}")
    assert tasks.wake_processor() is False  # trusted the sighting: no new task
    tasks.drain_webhooks(0)
    event.refresh_from_db()
    assert event.outcome == "processed"
