"""Error 131050 (the person stopped marketing messages) is about the person, not the attempt.

It is written to the ledger whichever attempt it names — a late answer of an older attempt too —
and once per refused message: the same refusal in the HTTP answer and in a webhook, or a
replayed webhook, adds no second event.
"""

import pytest
from django.utils import timezone

from cloud_api.errors import MetaError
from cloud_api.outcomes import OutcomeUnknown, Refused
from contacts.models import ConsentAction, ConsentEvent, ConsentSource, ConsentStatus, Contact, Purpose
from core.actors import Actor
from messaging.models import AttemptOutcome, MessageStatus, OutboundMessage
from messaging.sending.dispatch import claim_message, record_outcome, send_queued, start_attempt
from messaging.sending.failures import handle_meta_error, opt_out_signal_key
from messaging.sending.review import message_resend
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_out
from tests.messaging.conftest import PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")
STOPPED = {"code": 131050, "message": "(#131050) User stopped marketing messages"}


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


def promote(contact) -> OutboundMessage:
    return send_message(
        contact=contact, actor=SYSTEM, template=promotion_of(), parameters=PROMOTION_PARAMETERS
    )


def promotion_of():
    from templates_app.models import MessageTemplate

    return MessageTemplate.objects.get(name="spring_promotion")


def refusal() -> Refused:
    return Refused(MetaError.from_graph_error(STOPPED, http_status=400))


def signal_events(message) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(signal_key=opt_out_signal_key(message)))


@pytest.fixture
def resent_and_accepted(backend, customer, promotion):
    """Attempt 1 ended unknown, staff resent the message, attempt 2 was accepted."""
    backend.script(OutcomeUnknown("read timeout"))
    message = promote(customer)
    send_queued(message.pk)
    message_resend(message=OutboundMessage.objects.get(pk=message.pk), actor=SYSTEM)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED and message.attempt_count == 2
    return message


def test_a_late_131050_about_an_older_attempt_still_records_the_opt_out(customer, resent_and_accepted):
    message = resent_and_accepted
    first = message.attempts.get(number=1)
    record_outcome(message, first, refusal())

    consent = customer.consents.get(purpose=Purpose.MARKETING)
    assert consent.status == ConsentStatus.OPTED_OUT
    (event,) = signal_events(message)
    assert consent.event_id == event.pk
    assert (event.action, event.source) == (ConsentAction.OPT_OUT, ConsentSource.WHATSAPP_SIGNAL)
    assert event.evidence["message_public_id"] == str(message.public_id)
    assert event.evidence["attempt"] == 1
    # The message itself is the newer attempt's: it stays accepted.
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.attempts.get(number=1).outcome == AttemptOutcome.REFUSED


def test_a_late_131050_webhook_about_an_older_attempt_still_records_the_opt_out(
    customer, resent_and_accepted
):
    message = resent_and_accepted
    first = message.attempts.get(number=1)
    handle_meta_error(
        message=message, attempt=first, error=MetaError.from_graph_error(STOPPED), source="webhook"
    )
    assert customer.consents.get(purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT
    assert len(signal_events(message)) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED


def test_the_same_131050_in_the_answer_and_in_a_webhook_records_one_event(backend, customer, promotion):
    backend.script(refusal())
    message = promote(customer)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    attempt = message.attempts.get()
    before = ConsentEvent.objects.count()
    for _ in range(2):  # the failed webhook, then Meta's retry of it
        handle_meta_error(
            message=message, attempt=attempt, error=MetaError.from_graph_error(STOPPED), source="webhook"
        )
    assert ConsentEvent.objects.count() == before
    assert len(signal_events(message)) == 1
    assert signal_events(message)[0].signal_key == f"meta-131050:{message.public_id}"


def test_a_131050_for_someone_already_opted_out_is_still_written_as_metas_signal(
    backend, customer, promotion
):
    # The request left just before the person's STOP was recorded; Meta's refusal is evidence of
    # its own and goes into the ledger (no check-then-insert on the current state).
    message = promote(customer)
    claim = claim_message(message.pk)
    attempt = start_attempt(claim)
    opt_out(customer, Purpose.MARKETING, source=ConsentSource.KEYWORD)
    record_outcome(claim.message, attempt, refusal())
    assert len(signal_events(message)) == 1
    assert customer.consents.get(purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT


def test_a_131050_for_a_contact_merged_meanwhile_lands_on_the_survivor(backend, customer, promotion):
    message = promote(customer)
    survivor = ContactFactory(phone="+4915100000777")
    claim = claim_message(message.pk)
    attempt = start_attempt(claim)
    Contact.objects.filter(pk=customer.pk).update(merged_into=survivor, merged_at=timezone.now())
    record_outcome(claim.message, attempt, refusal())
    (event,) = signal_events(message)
    assert event.contact_id == survivor.pk
    assert survivor.consents.get(purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT


def test_another_code_records_no_opt_out(backend, customer, promotion):
    backend.script(Refused(MetaError.from_graph_error({"code": 131047}, http_status=400)))
    message = promote(customer)
    send_queued(message.pk)
    assert signal_events(message) == []
    assert customer.consents.get(purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_IN
