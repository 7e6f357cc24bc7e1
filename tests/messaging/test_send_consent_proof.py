"""The send path trusts a current-consent row only together with its event.

The check reads the authorising event itself (one join) and refuses when the event's action,
purpose or contact disagree with the message's, or when the event is not the one the order rule
says decides (a later event, an opt-out in the same second); on PostgreSQL a constraint trigger
refuses a row that disagrees with its event in the first place, even from raw SQL.
"""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from contacts.models import ConsentSource, ConsentStatus, CurrentConsent, Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.dispatch import send_queued
from messaging.sending.rules import SkipReason, consent_verdict
from messaging.sending.service import send_message
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS, PROMOTION_PARAMETERS

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def backend(memory_backend):
    return memory_backend


def promote(contact) -> OutboundMessage:
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.get(name="spring_promotion")
    return send_message(contact=contact, actor=SYSTEM, template=template, parameters=PROMOTION_PARAMETERS)


def marketing_row(contact):
    return CurrentConsent.objects.filter(contact=contact, purpose=Purpose.MARKETING)


def assert_skipped_unsent(message, backend, reason=SkipReason.CONSENT_PROOF_MISMATCH):
    message.refresh_from_db()
    assert (message.status, message.error_class) == (MessageStatus.SKIPPED, reason)
    assert message.authorising_event_id is None
    assert not message.attempts.exists()
    assert backend.sent == []


# --- The send-time check (forced with a queryset update) --------------------------------------------


@pytest.fixture
def trigger_off(db):
    """On PostgreSQL the trigger would refuse the forced rows: switch it off inside the test's
    transaction (DDL is transactional there, so the rollback after the test switches it on)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE contacts_currentconsent DISABLE TRIGGER current_consent_matches_event"
            )


@pytest.mark.usefixtures("trigger_off")
def test_a_row_forced_to_opted_in_over_an_opt_out_event_does_not_let_the_message_through(
    backend, customer, promotion
):
    message = promote(customer)
    opt_out(customer, Purpose.MARKETING)
    assert marketing_row(customer).update(status=ConsentStatus.OPTED_IN) == 1
    send_queued(message.pk)
    assert_skipped_unsent(message, backend)
    assert "opt-out" in message.error_text


@pytest.mark.usefixtures("trigger_off")
def test_a_row_pointing_at_another_purposes_opt_in_does_not_let_the_message_through(
    backend, customer, promotion
):
    message = promote(customer)
    service_event = customer.consents.get(purpose=Purpose.SERVICE).event_id
    marketing_row(customer).update(event_id=service_event)
    send_queued(message.pk)
    assert_skipped_unsent(message, backend)
    assert "service" in message.error_text


@pytest.mark.usefixtures("trigger_off")
def test_a_row_pointing_at_someone_elses_opt_in_does_not_let_the_message_through(
    backend, customer, promotion
):
    message = promote(customer)
    other = ContactFactory()
    others_event = opt_in(other, Purpose.MARKETING)
    marketing_row(customer).update(event_id=others_event.pk)
    send_queued(message.pk)
    assert_skipped_unsent(message, backend)
    assert "another contact" in message.error_text


@pytest.mark.usefixtures("trigger_off")
def test_send_message_refuses_a_row_that_disagrees_with_its_event(customer, promotion):
    opt_out(customer, Purpose.MARKETING)
    marketing_row(customer).update(status=ConsentStatus.OPTED_IN)
    with pytest.raises(ApplicationError) as refused:
        promote(customer)
    assert refused.value.code == "consent_proof_mismatch"
    assert not OutboundMessage.objects.exists()


def test_an_honest_row_goes_with_its_event_as_the_proof(backend, customer, order_update):
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    send_queued(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.ACCEPTED
    assert message.authorising_event_id == customer.consents.get(purpose=Purpose.SERVICE).event_id


# --- The named event must be the deciding one ---------------------------------------------------


def name_as_proof(contact, event):
    """Point the contact's marketing row at ``event`` as "opted in": a hand edit, a bad data fix.
    The row agrees with its event (so PostgreSQL's trigger lets it be), but the event is outdated."""
    assert marketing_row(contact).update(event=event, status=ConsentStatus.OPTED_IN) == 1


def test_a_row_naming_an_opt_in_that_a_later_opt_out_superseded_does_not_let_the_message_through(
    backend, stranger, promotion
):
    old = opt_in(stranger, occurred_at=timezone.now() - timedelta(days=30))
    message = promote(stranger)
    opt_out(stranger, occurred_at=timezone.now() - timedelta(days=1))
    name_as_proof(stranger, old)
    verdict = consent_verdict(contact_id=stranger.pk, purpose=Purpose.MARKETING)
    assert verdict.skipped and verdict.reason == SkipReason.CONSENT_PROOF_MISMATCH
    assert f"event {old.pk} is not the one that decides" in verdict.detail
    send_queued(message.pk)
    assert_skipped_unsent(message, backend)


def test_a_row_naming_an_older_opt_in_than_the_deciding_one_is_refused(stranger):
    """Not only an opt-out: the proof is the event that decides, so a newer opt-in is the proof."""
    old = opt_in(stranger, occurred_at=timezone.now() - timedelta(days=30))
    opt_in(stranger, occurred_at=timezone.now() - timedelta(days=1))
    name_as_proof(stranger, old)
    verdict = consent_verdict(contact_id=stranger.pk, purpose=Purpose.MARKETING)
    assert verdict.skipped and verdict.reason == SkipReason.CONSENT_PROOF_MISMATCH


def test_a_row_naming_an_opt_in_outvoted_by_an_opt_out_in_the_same_second_is_refused(stranger):
    """The order rule: an opt-out less than a second before the latest event wins (whole seconds)."""
    now = timezone.now()
    opted_in = opt_in(stranger, occurred_at=now)
    opt_out(stranger, occurred_at=now - timedelta(milliseconds=500))
    assert marketing_row(stranger).get().status == ConsentStatus.OPTED_OUT
    name_as_proof(stranger, opted_in)
    verdict = consent_verdict(contact_id=stranger.pk, purpose=Purpose.MARKETING)
    assert verdict.skipped and verdict.reason == SkipReason.CONSENT_PROOF_MISMATCH


def test_an_opt_in_after_an_old_opt_out_is_the_proof(stranger, django_assert_max_num_queries):
    """The person wrote START after a STOP: the START decides and authorises the message. Someone
    with an opt-out in their history is asked of the order rule itself, in a few more queries."""
    opt_out(stranger, source=ConsentSource.KEYWORD, occurred_at=timezone.now() - timedelta(days=3))
    start = opt_in(stranger, source=ConsentSource.KEYWORD, occurred_at=timezone.now() - timedelta(days=1))
    with django_assert_max_num_queries(4):
        verdict = consent_verdict(contact_id=stranger.pk, purpose=Purpose.MARKETING)
    assert verdict.go and verdict.authorising_event_id == start.pk


def test_the_proof_is_read_in_one_query(customer, django_assert_num_queries):
    with django_assert_num_queries(1):
        verdict = consent_verdict(contact_id=customer.pk, purpose=Purpose.MARKETING)
    assert verdict.go and verdict.authorising_event_id == customer.consents.get(purpose="marketing").event_id


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda c: None, SkipReason.NO_CONSENT),
        (lambda c: opt_out(c, Purpose.MARKETING), SkipReason.OPTED_OUT),
    ],
    ids=["nothing recorded", "opted out"],
)
def test_no_opt_in_is_no_proof(stranger, setup, reason):
    opt_in(stranger, Purpose.SERVICE)
    setup(stranger)
    verdict = consent_verdict(contact_id=stranger.pk, purpose=Purpose.MARKETING)
    assert verdict.skipped and verdict.reason == reason


# --- PostgreSQL: the trigger refuses the forged row itself ------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE contacts_currentconsent SET status = 'opted_in' WHERE contact_id = %(contact)s "
        "AND purpose = 'marketing'",
        "UPDATE contacts_currentconsent SET event_id = %(service_event)s WHERE contact_id = %(contact)s "
        "AND purpose = 'marketing'",
        "UPDATE contacts_currentconsent SET event_id = %(others_event)s WHERE contact_id = %(contact)s "
        "AND purpose = 'marketing'",
    ],
    ids=["status over an opt-out", "another purpose's event", "another contact's event"],
)
def test_postgres_refuses_a_raw_update_that_makes_the_row_disagree_with_its_event(customer, sql):
    opt_out(customer, Purpose.MARKETING)
    others_event = opt_in(ContactFactory(), Purpose.MARKETING)
    params = {
        "contact": customer.pk,
        "service_event": customer.consents.get(purpose=Purpose.SERVICE).event_id,
        "others_event": others_event.pk,
    }
    before = marketing_row(customer).values_list("status", "event_id").get()
    with (
        pytest.raises(DatabaseError, match="disagrees with its event"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    assert marketing_row(customer).values_list("status", "event_id").get() == before
    assert before[0] == ConsentStatus.OPTED_OUT
