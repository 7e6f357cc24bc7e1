# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)
"""Failed webhook events are retried by the sweep with backoff (1, 5, 30 minutes, then hourly) up to
a bounded number of attempts, then left failed and logged at ERROR; an unreadable body is never
retried. Time is moved by passing ``now`` to the sweep, never by waiting."""

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

import messaging.webhooks.consent as consent_module
from contacts.models import Purpose
from messaging.models import WebhookEvent, WebhookOutcome
from messaging.sending.rules import consent_verdict
from messaging.webhooks import tasks
from messaging.webhooks.processing import process_webhook_event
from tests.factories import opt_in
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

WA_ID = "4915187654321"  # the stranger's number


@pytest.fixture
def failing_consent(monkeypatch):
    """record_consent fails the next ``times`` calls (a deadlock, a lock timeout), then works."""
    real = consent_module.record_consent
    left = {"failures": 0}

    def flaky(**kwargs):
        if left["failures"] > 0:
            left["failures"] -= 1
            raise OperationalError("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(consent_module, "record_consent", flaky)

    def fail(times):
        left["failures"] = times

    return fail


def the_event() -> WebhookEvent:
    return WebhookEvent.objects.get()


def sweep_at(moment):
    return tasks.sweep_webhooks(now=moment)


def marketing_opted_in(contact) -> bool:
    return consent_verdict(contact_id=contact.pk, purpose=Purpose.MARKETING).go


def test_a_stop_that_failed_once_is_recorded_by_the_next_sweep_after_a_minute(
    deliver, stranger, failing_consent
):
    opt_in(stranger)
    failing_consent(1)
    deliver(text_message("STOP", wa_id=WA_ID))
    event = the_event()
    assert (event.outcome, event.attempts) == (WebhookOutcome.FAILED, 1)
    assert marketing_opted_in(stranger)

    sweep_at(event.processed_at + timedelta(seconds=59))  # not due yet
    assert the_event().attempts == 1

    assert "retried 1" in sweep_at(event.processed_at + timedelta(minutes=1))
    event = the_event()
    assert (event.outcome, event.attempts, event.error) == (WebhookOutcome.PROCESSED, 2, "")
    assert not marketing_opted_in(stranger)


def test_retries_back_off_1_5_30_minutes_then_hourly(deliver, stranger, failing_consent):
    failing_consent(100)
    deliver(text_message("STOP", wa_id=WA_ID))
    expected = [timedelta(minutes=m) for m in (1, 5, 30, 60, 60, 60)]
    for attempts, delay in enumerate(expected, start=1):
        event = the_event()
        assert (event.outcome, event.attempts) == (WebhookOutcome.FAILED, attempts)
        sweep_at(event.processed_at + delay - timedelta(seconds=1))
        assert the_event().attempts == attempts, f"retried before {delay} after attempt {attempts}"
        sweep_at(event.processed_at + delay)
        assert the_event().attempts == attempts + 1, f"not retried {delay} after attempt {attempts}"


def test_after_the_last_attempt_the_event_stays_failed_and_is_logged_at_error(
    deliver, stranger, failing_consent, caplog
):
    failing_consent(100)
    deliver(text_message("STOP", wa_id=WA_ID))
    moment = timezone.now()
    for _ in range(tasks.MAX_ATTEMPTS):
        moment += timedelta(hours=1)
        sweep_at(moment)
    event = the_event()
    assert (event.outcome, event.attempts) == (WebhookOutcome.FAILED, tasks.MAX_ATTEMPTS)
    gave_up = [r for r in caplog.records if r.levelno == logging.ERROR and "gave up" in r.getMessage()]
    assert len(gave_up) == 1 and f"webhook {event.pk}" in gave_up[0].getMessage()
    assert "reprocess_webhooks" in gave_up[0].getMessage()

    caplog.clear()
    sweep_at(moment + timedelta(days=1))  # no more attempts, and no second alarm
    assert the_event().attempts == tasks.MAX_ATTEMPTS
    assert not [r for r in caplog.records if "gave up" in r.getMessage()]


def test_an_unreadable_body_is_never_retried():
    event = WebhookEvent.objects.create(body=b"this is not JSON")
    process_webhook_event(event_id=event.pk)
    event.refresh_from_db()
    assert event.outcome == WebhookOutcome.FAILED and event.error.startswith("UnreadableWebhook:")
    sweep_at(event.processed_at + timedelta(days=1))
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 1


def test_a_processed_or_pending_event_is_not_retried():
    done = WebhookEvent.objects.create(body=b"{}", outcome=WebhookOutcome.PROCESSED, attempts=1)
    waiting = WebhookEvent.objects.create(body=b"{}")
    sweep_at(timezone.now() + timedelta(days=1))
    assert WebhookEvent.objects.get(pk=done.pk).attempts == 1
    assert WebhookEvent.objects.get(pk=waiting.pk).attempts == 0


def test_a_failed_event_from_before_attempts_were_counted_is_retried():
    """Rows with no processing time or no attempts (an older release, a hand edit) are due."""
    event = WebhookEvent.objects.create(
        body=b'{"object": "whatsapp_business_account", "entry": []}',
        outcome=WebhookOutcome.FAILED,
        error="RuntimeError: boom",
    )
    sweep_at(timezone.now())
    event.refresh_from_db()
    assert (event.outcome, event.attempts) == (WebhookOutcome.PROCESSED, 1)


def test_a_retry_another_sweep_claimed_is_not_run_twice(deliver, stranger, failing_consent):
    """Two sweeps that read the same due event: only the first claim (a conditional UPDATE) runs it."""
    failing_consent(100)
    deliver(text_message("STOP", wa_id=WA_ID))
    event = the_event()
    later = event.processed_at + timedelta(minutes=1)
    assert tasks.webhook_retry_claim(event=event, now=later)
    assert not tasks.webhook_retry_claim(event=event, now=later)


def test_one_retry_that_breaks_does_not_stop_the_others(monkeypatch, caplog):
    first = WebhookEvent.objects.create(body=b"{}", outcome=WebhookOutcome.FAILED, attempts=1)
    second = WebhookEvent.objects.create(body=b"{}", outcome=WebhookOutcome.FAILED, attempts=1)
    real = tasks.process_webhook_event

    def broken_for_the_first(*, event_id, again=False):
        if event_id == first.pk:
            raise OperationalError("connection reset")
        return real(event_id=event_id, again=again)

    monkeypatch.setattr(tasks, "process_webhook_event", broken_for_the_first)
    sweep_at(timezone.now() + timedelta(hours=1))
    assert WebhookEvent.objects.get(pk=second.pk).outcome == WebhookOutcome.PROCESSED
    assert WebhookEvent.objects.get(pk=first.pk).outcome == WebhookOutcome.FAILED
    assert any("retrying webhook" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_a_retry_that_breaks_before_processing_still_counts_as_an_attempt(monkeypatch):
    """Else an event whose retries keep breaking would be retried forever, its limit never met."""
    event = WebhookEvent.objects.create(body=b"{}", outcome=WebhookOutcome.FAILED, attempts=1)

    def broken(*, event_id, again=False):
        raise OperationalError("database is locked")

    monkeypatch.setattr(tasks, "process_webhook_event", broken)
    moment = timezone.now()
    for _ in range(tasks.MAX_ATTEMPTS + 5):
        moment += timedelta(hours=1)
        sweep_at(moment)
    assert WebhookEvent.objects.get(pk=event.pk).attempts == tasks.MAX_ATTEMPTS


def test_a_stop_retried_after_metas_number_change_reaches_who_had_the_number(deliver, failing_consent):
    """The retry looks the sender up as of when they wrote: nobody holds the old number now, but
    the person's contact gave it up after the STOP was sent, so the STOP is theirs."""
    from contacts.models import ConsentSource, Contact
    from tests.factories import ContactFactory
    from tests.messaging.test_identity_signals import changed_number

    old, new = "4915112345678", "4917698765432"
    pablo = ContactFactory(phone="+" + old, wa_id=old)
    opt_in(pablo, occurred_at=timezone.now() - timedelta(days=3), source=ConsentSource.CHECKOUT)
    failing_consent(1)
    deliver(text_message("STOP", wa_id=old, at=int(timezone.now().timestamp()) - 5))
    stop = the_event()
    deliver(changed_number(new, old=old))
    sweep_at(stop.processed_at + timedelta(minutes=1))
    pablo.refresh_from_db()
    assert pablo.wa_id == new
    assert not marketing_opted_in(pablo)
    assert Contact.objects.count() == 1  # no contact made up for the number he left
