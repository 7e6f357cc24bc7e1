"""Error 131049 (Meta deferred the message) is retried no sooner than 24 hours, but not forever.

Retries stop ``WHATSAPP_DEFERRED_RETRY_DAYS`` after the message's first 131049; the message then
fails with Meta's code.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from cloud_api.errors import ErrorClass, MetaError
from cloud_api.outcomes import Refused
from core.actors import Actor
from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendAttempt
from messaging.sending.dispatch import send_queued
from messaging.sending.failures import handle_meta_error
from messaging.sending.service import send_message
from tests.core.test_settings import manage
from tests.messaging.conftest import PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")
DEFERRED = {
    "code": 131049,
    "message": "This message was not delivered to maintain healthy ecosystem engagement.",
}


@pytest.fixture(autouse=True)
def backend(memory_backend, settings):
    settings.MARKETING_FREQUENCY_CAP = 0
    settings.WHATSAPP_DEFERRED_RETRY_DAYS = 3
    return memory_backend


def deferred() -> Refused:
    return Refused(MetaError.from_graph_error(DEFERRED, http_status=400))


@pytest.fixture
def promo(customer, promotion) -> OutboundMessage:
    return send_message(contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS)


def age_attempts(message, by: timedelta) -> None:
    """Pretend the attempts so far started ``by`` earlier, and make the message due now."""
    for attempt in SendAttempt.objects.filter(message=message):
        SendAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - by)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_a_131049_inside_the_deadline_is_deferred_again(backend, promo):
    backend.script(deferred())
    send_queued(promo.pk)
    age_attempts(promo, timedelta(days=1, minutes=10))
    backend.script(deferred())
    send_queued(promo.pk)
    promo.refresh_from_db()
    assert (promo.status, promo.hold_reason) == (MessageStatus.QUEUED, HoldReason.DEFERRED)
    assert promo.next_attempt_at > timezone.now() + timedelta(hours=24)


def test_131049_retries_stop_after_the_configured_days_and_the_message_fails_with_metas_code(backend, promo):
    backend.script(deferred())
    send_queued(promo.pk)
    # The next retry (24 h 5 min from now) would fall after 3 days from the first 131049.
    age_attempts(promo, timedelta(days=2, hours=1))
    backend.script(deferred())
    send_queued(promo.pk)
    promo.refresh_from_db()
    assert promo.status == MessageStatus.FAILED
    assert (promo.error_code, promo.error_class) == (131049, ErrorClass.DEFERRED)
    assert promo.failed_at and promo.next_attempt_at is None and promo.hold_reason == HoldReason.NONE
    assert "3 days" in promo.error_text
    assert len(backend.sent) == 2


def test_the_deadline_is_a_setting(settings, backend, promo):
    settings.WHATSAPP_DEFERRED_RETRY_DAYS = 1
    backend.script(deferred())
    send_queued(promo.pk)
    promo.refresh_from_db()
    # Even the first retry, 24 h 5 min later, would fall after one day.
    assert promo.status == MessageStatus.FAILED and promo.error_code == 131049


def test_a_131049_webhook_after_the_deadline_fails_an_accepted_message(backend, promo):
    backend.script(deferred())
    send_queued(promo.pk)
    age_attempts(promo, timedelta(days=2, hours=1))
    send_queued(promo.pk)  # accepted this time …
    promo.refresh_from_db()
    assert promo.status == MessageStatus.ACCEPTED
    latest = promo.attempts.get(number=2)
    # … then Meta's failed webhook says 131049 again.
    handle_meta_error(
        message=promo, attempt=latest, error=MetaError.from_graph_error(DEFERRED), source="webhook"
    )
    promo.refresh_from_db()
    assert promo.status == MessageStatus.FAILED and promo.error_code == 131049


def test_the_days_count_from_the_first_131049_not_from_earlier_transient_retries(settings, backend, promo):
    settings.WHATSAPP_RETRY_DEADLINE_HOURS = 24 * 10
    backend.script(Refused(MetaError.from_graph_error({"code": 131000}, http_status=500)))
    send_queued(promo.pk)
    age_attempts(promo, timedelta(days=5))  # a transient failure five days ago
    backend.script(deferred())
    send_queued(promo.pk)
    promo.refresh_from_db()
    assert (promo.status, promo.hold_reason) == (MessageStatus.QUEUED, HoldReason.DEFERRED)


@pytest.mark.parametrize("value", ["0", "-2", "three"])
def test_a_malformed_deadline_stops_start_up_naming_it(value):
    result = manage("check", WHATSAPP_DEFERRED_RETRY_DAYS=value)
    assert result.returncode != 0
    assert "WHATSAPP_DEFERRED_RETRY_DAYS" in result.stderr
