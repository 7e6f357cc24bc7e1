"""The send task against the in-memory backend: claim, rules, payload, and every outcome and error class."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from cloud_api.errors import MetaError
from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown, Refused
from contacts.models import ConsentEvent, ConsentSource, ConsentStatus, Purpose
from core.actors import Actor
from messaging.models import (
    AttemptOutcome,
    HoldReason,
    MessageStatus,
    OutboundMessage,
    RateLimiterSlot,
    SendAttempt,
    SendingHalt,
)
from messaging.sending.dispatch import send_queued
from messaging.sending.failures import handle_meta_error
from messaging.sending.limiter import limiter_key
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


def queue_order(contact):
    return send_message(
        contact=contact, actor=SYSTEM, template=order_update_of(), parameters=ORDER_PARAMETERS
    )


def order_update_of():
    from templates_app.models import MessageTemplate

    return MessageTemplate.objects.get(name="order_update")


def refused(code: int, message: str = "refused") -> Refused:
    return Refused(
        MetaError.from_graph_error({"code": code, "message": f"(#{code}) {message}"}, http_status=400)
    )


def reload(message) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=message.pk)


# --- Accepted ----------------------------------------------------------------------------------


def test_an_accepted_send_stores_the_wamid_and_the_proof(backend, customer, order_update):
    message = queue_order(customer)
    result = send_queued(message.pk)
    assert result.startswith("accepted")
    message = reload(message)
    assert message.status == MessageStatus.ACCEPTED and message.accepted_at
    assert message.authorising_event_id == customer.consents.get(purpose=Purpose.SERVICE).event_id
    attempt = message.attempts.get()
    assert attempt.number == 1 and attempt.outcome == AttemptOutcome.ACCEPTED and attempt.wamid
    (payload,) = backend.sent
    assert payload["to"] == customer.phone
    assert payload["biz_opaque_callback_data"] == str(message.public_id)
    assert payload["template"]["name"] == "order_update" and payload["template"]["language"] == {"code": "en"}
    body = next(c for c in payload["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Pablo", "ORD-9271"]


def test_the_opt_out_button_carries_the_messages_id(backend, customer, promotion):
    message = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    send_queued(message.pk)
    (payload,) = backend.sent
    buttons = [c for c in payload["template"]["components"] if c.get("sub_type") == "quick_reply"]
    assert {"type": "payload", "payload": f"optout:marketing:{message.public_id}"} in [
        p for b in buttons for p in b["parameters"]
    ]


def test_a_second_run_of_the_task_sends_nothing(backend, customer, order_update):
    message = queue_order(customer)
    send_queued(message.pk)
    assert send_queued(message.pk) == "not due or taken by another worker"
    assert len(backend.sent) == 1


def test_meta_rewriting_the_number_sets_the_contacts_wa_id(backend, order_update):
    contact = ContactFactory(phone="+5511987654321")
    from tests.factories import opt_in

    opt_in(contact, Purpose.SERVICE)
    backend.script(Accepted(wamid="wamid.br1", wa_id="551187654321", input=contact.phone))
    send_queued(queue_order(contact).pk)
    contact.refresh_from_db()
    assert contact.wa_id == "551187654321"


def test_a_wa_id_another_contact_holds_proves_one_person_and_merges_them(backend, order_update):
    """Meta's answer names the account reached: two rows holding it are one person (docs/sending.md)."""
    from contacts.selectors import current_consent
    from tests.factories import opt_in, opt_out

    earlier = ContactFactory(phone="+5521987654321")  # as dialled, opted in
    opt_in(earlier, Purpose.SERVICE)
    opt_in(earlier, Purpose.MARKETING)
    later = ContactFactory(phone=None, wa_id="552187654321")  # created by their STOP on WhatsApp
    opt_out(later, Purpose.MARKETING)
    backend.script(Accepted(wamid="wamid.x", wa_id="552187654321", input=earlier.phone))
    message = queue_order(earlier)
    send_queued(message.pk)
    later.refresh_from_db()
    assert later.merged_into_id == earlier.pk
    assert current_consent(contact=earlier, purpose=Purpose.MARKETING).status == "opted_out"
    assert reload(message).status == MessageStatus.ACCEPTED


# --- Rules at claim time -----------------------------------------------------------------------


def test_an_opt_out_between_queueing_and_sending_skips_the_message(backend, customer, promotion):
    message = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    opt_out(customer, Purpose.MARKETING)
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.SKIPPED and message.error_class == "opted_out"
    assert message.finished_at and not message.attempts.exists()
    assert backend.sent == []


def test_a_held_message_stays_queued_with_its_reason_and_time(settings, backend, customer, promotion):
    # Sending hours that start two hours from now in Berlin (the customer's zone): quiet there now,
    # at any time of day ("00:00-00:01" was open during the first minute after midnight).
    start = timezone.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(hours=2)
    settings.MARKETING_SENDING_HOURS = f"{start:%H}:00-{start + timedelta(hours=1):%H}:00"
    message = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.QUEUED and message.hold_reason == HoldReason.QUIET_HOURS
    assert message.next_attempt_at > timezone.now()
    assert backend.sent == []
    # Not due: another run of the task does nothing.
    assert send_queued(message.pk) == "not due or taken by another worker"


# --- Not sent and unknown ----------------------------------------------------------------------


def test_not_sent_is_retried_with_backoff(backend, customer, order_update):
    backend.script(NotSent("connection refused"))
    message = queue_order(customer)
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.QUEUED and message.hold_reason == HoldReason.RETRY
    assert (
        timezone.now() + timedelta(seconds=10)
        < message.next_attempt_at
        < timezone.now() + timedelta(minutes=1)
    )
    assert message.attempts.get().outcome == AttemptOutcome.NOT_SENT
    # Due again: the second attempt is accepted.
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.ACCEPTED
    assert list(message.attempts.values_list("number", "outcome")) == [
        (1, AttemptOutcome.NOT_SENT),
        (2, AttemptOutcome.ACCEPTED),
    ]


def test_transient_failures_stop_at_the_retry_deadline(settings, backend, customer, order_update):
    settings.WHATSAPP_RETRY_DEADLINE_HOURS = 1
    message = queue_order(customer)
    backend.script(refused(131000, "Something went wrong"))
    send_queued(message.pk)
    assert reload(message).status == MessageStatus.QUEUED
    SendAttempt.objects.filter(message=message).update(started_at=timezone.now() - timedelta(hours=2))
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    backend.script(refused(131000, "Something went wrong"))
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.FAILED and message.error_code == 131000
    assert "Gave up after 2 attempts" in message.error_text


def test_an_unknown_outcome_waits_for_reconciliation_and_is_never_resent(
    settings, backend, customer, order_update
):
    backend.script(OutcomeUnknown("no answer within 20s"))
    message = queue_order(customer)
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.UNKNOWN
    attempt = message.attempts.get()
    assert attempt.outcome == AttemptOutcome.UNKNOWN
    expected = timezone.now() + timedelta(minutes=settings.WHATSAPP_UNKNOWN_DEADLINE_MINUTES)
    assert abs((attempt.reconcile_by - expected).total_seconds()) < 5
    send_queued(message.pk)
    assert len(backend.sent) == 1


# --- Meta's error classes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "hold", "min_delay"),
    [
        (130429, MessageStatus.QUEUED, HoldReason.RETRY, timedelta(0)),
        (4, MessageStatus.QUEUED, HoldReason.RETRY, timedelta(seconds=10)),
        (131000, MessageStatus.QUEUED, HoldReason.RETRY, timedelta(seconds=10)),
        (131056, MessageStatus.QUEUED, HoldReason.PAIR_RATE, timedelta(0)),
        (131049, MessageStatus.QUEUED, HoldReason.DEFERRED, timedelta(hours=24)),
        (132015, MessageStatus.QUEUED, HoldReason.TEMPLATE_PAUSED, timedelta(minutes=30)),
        (131047, MessageStatus.FAILED, "", None),
        (132000, MessageStatus.FAILED, "", None),
        (999999, MessageStatus.FAILED, "", None),
    ],
)
def test_each_error_class_does_what_design_says(
    backend, customer, order_update, code, status, hold, min_delay
):
    backend.script(refused(code))
    message = queue_order(customer)
    before = timezone.now()
    send_queued(message.pk)
    message = reload(message)
    assert (message.status, message.hold_reason, message.error_code) == (status, hold, code)
    attempt = message.attempts.get()
    assert attempt.outcome == AttemptOutcome.REFUSED and attempt.error_code == code
    if min_delay is not None:
        assert message.next_attempt_at >= before + min_delay
    else:
        assert message.failed_at and message.next_attempt_at is None


def test_throughput_refusal_slows_the_global_limiter(backend, customer, order_update):
    backend.script(refused(130429, "Rate limit hit"))
    send_queued(queue_order(customer).pk)
    slot = RateLimiterSlot.objects.get(key=limiter_key())
    assert slot.next_at > timezone.now().timestamp() + 0.5


def test_pair_rate_backs_off_four_to_the_n_seconds(backend, customer, order_update):
    message = queue_order(customer)
    delays = []
    for _ in range(3):
        backend.script(refused(131056, "Pair rate limit hit"))
        OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        send_queued(message.pk)
        delays.append((reload(message).next_attempt_at - before).total_seconds())
    assert [round(d) for d in delays] == [1, 4, 16]


def test_template_paused_marks_the_template_paused(backend, customer, promotion):
    backend.script(refused(132015, "Template is paused"))
    send_queued(
        send_message(contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS).pk
    )
    promotion.refresh_from_db()
    assert promotion.status == "PAUSED"
    assert promotion.events.filter(to_value="PAUSED", source="send").exists()


def test_131050_fails_the_message_and_records_a_marketing_opt_out(backend, customer, promotion):
    backend.script(refused(131050, "User stopped marketing messages"))
    message = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    send_queued(message.pk)
    assert reload(message).status == MessageStatus.FAILED
    consent = customer.consents.get(purpose=Purpose.MARKETING)
    assert consent.status == ConsentStatus.OPTED_OUT
    event = ConsentEvent.objects.get(pk=consent.event_id)
    assert event.source == ConsentSource.WHATSAPP_SIGNAL
    assert event.evidence["message_public_id"] == str(message.public_id)
    assert customer.consents.get(purpose=Purpose.SERVICE).status == ConsentStatus.OPTED_IN


def test_131026_marks_the_contact_not_on_whatsapp(backend, customer, order_update):
    backend.script(refused(131026, "Message undeliverable"))
    message = queue_order(customer)
    send_queued(message.pk)
    customer.refresh_from_db()
    assert customer.not_on_whatsapp_since is not None
    assert reload(message).status == MessageStatus.FAILED


def test_an_account_level_error_halts_sending_and_holds_the_message(
    backend, customer, stranger, order_update
):
    backend.script(refused(190, "Access token has expired"))
    message = queue_order(customer)
    send_queued(message.pk)
    message = reload(message)
    assert message.status == MessageStatus.QUEUED and message.hold_reason == HoldReason.HALT
    assert message.next_attempt_at is None
    halt = SendingHalt.objects.get(active=True)
    assert halt.error_code == 190 and "Access token has expired" in halt.reason
    # Every other message waits too, and nothing more is sent.
    from tests.factories import opt_in

    opt_in(stranger, Purpose.SERVICE)
    other = queue_order(stranger)
    send_queued(other.pk)
    assert reload(other).hold_reason == HoldReason.HALT
    assert len(backend.sent) == 1


# --- Errors from webhooks go through the same table --------------------------------------------


def test_a_failed_webhook_with_131049_requeues_an_accepted_message_for_tomorrow(backend, customer, promotion):
    message = send_message(
        contact=customer, actor=SYSTEM, template=promotion, parameters=PROMOTION_PARAMETERS
    )
    send_queued(message.pk)
    message = reload(message)
    attempt = message.attempts.get()
    error = MetaError.from_graph_error({"code": 131049, "title": "Not delivered for ecosystem health"})
    handle_meta_error(message=message, attempt=attempt, error=error, source="webhook")
    message = reload(message)
    assert message.status == MessageStatus.QUEUED and message.hold_reason == HoldReason.DEFERRED
    assert message.next_attempt_at > timezone.now() + timedelta(hours=24)
    attempt.refresh_from_db()
    assert attempt.outcome == AttemptOutcome.ACCEPTED and attempt.error_code == 131049


def test_a_late_error_about_an_earlier_attempt_changes_nothing(backend, customer, order_update):
    backend.script(NotSent("refused"))
    message = queue_order(customer)
    send_queued(message.pk)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    send_queued(message.pk)
    message = reload(message)
    first = message.attempts.get(number=1)
    handle_meta_error(
        message=message, attempt=first, error=MetaError.from_graph_error({"code": 132000}), source="webhook"
    )
    assert reload(message).status == MessageStatus.ACCEPTED
