"""send_message's cost in statements, pinned so it cannot creep back: each round trip to the
database was a large share of a single send's time (docs/benchmarks.md, "Single sends").

A business-initiated template send is one read (the contact's merge and its consent with the
proof) and the INSERT, with no transaction or savepoint of its own; a transaction only where two
writes must be one (a staff member's send and its activity-log row), a savepoint only where the
INSERT may fail and the call go on (an idempotency key's twin).
"""

from contextlib import nullcontext

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import OutboundMessage
from messaging.sending import service
from messaging.sending.service import send_message
from tests.messaging.conftest import ORDER_PARAMETERS, inbound_message

SYSTEM = Actor.system("tests")


@pytest.fixture
def woken(monkeypatch):
    """The dispatcher's wake, recorded instead of run (its cache lookups are not send_message's)."""
    calls = []
    monkeypatch.setattr(service, "dispatch_after_commit", lambda: calls.append(True))
    return calls


def statements(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split()[0].upper() for query in context.captured_queries]


def send(contact, template, **kwargs):
    with CaptureQueriesContext(connection) as context:
        message = send_message(
            contact=contact,
            actor=kwargs.pop("actor", SYSTEM),
            template=template,
            parameters=ORDER_PARAMETERS,
            **kwargs,
        )
    return message, context


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_template_send_is_one_read_and_one_insert_committed_on_its_own(customer, order_update, woken):
    order_update.approved_version  # noqa: B018 — loaded once by the caller, as a request or a loop does
    message, context = send(customer, order_update)
    assert statements(context) == ["SELECT", "INSERT"]
    read = context.captured_queries[0]["sql"]
    assert "merged_into_id" in read and "contacts_currentconsent" in read  # the merge and the consent
    assert woken == [True]
    assert not connection.in_atomic_block
    assert OutboundMessage.objects.get(pk=message.pk).contact_id == customer.pk  # committed


def test_inside_a_callers_transaction_it_adds_no_savepoint(customer, order_update, woken):
    order_update.approved_version  # noqa: B018
    _, context = send(customer, order_update)
    assert statements(context) == ["SELECT", "INSERT"]


def test_a_staff_send_writes_the_message_and_its_log_entry_in_one_transaction(
    customer, order_update, editor, woken
):
    order_update.approved_version  # noqa: B018
    message, context = send(customer, order_update, actor=Actor.for_user(editor))
    # The read, full_clean's check that the staff member exists, then the message and its
    # activity-log row together or neither.
    assert statements(context) == ["SELECT", "SELECT", "SAVEPOINT", "INSERT", "INSERT", "RELEASE"]
    assert "contacts_activitylogentry" in context.captured_queries[4]["sql"]
    assert message.pk


def test_an_idempotency_key_adds_its_lookup_and_a_savepoint_around_the_insert(customer, order_update, woken):
    order_update.approved_version  # noqa: B018
    _, context = send(customer, order_update, idempotency_key="api:one")
    assert statements(context) == ["SELECT", "SELECT", "SAVEPOINT", "INSERT", "RELEASE"]
    _, again = send(customer, order_update, idempotency_key="api:one")
    assert statements(again) == ["SELECT"]  # the first one's message, nothing more


def test_a_reply_reads_the_message_it_answers_and_the_merge_only(customer, woken):
    question = inbound_message(customer, "Where is my parcel?")
    customer.refresh_from_db()
    with CaptureQueriesContext(connection) as context:
        send_message(contact=customer, actor=SYSTEM, text="On its way.", reply_to=question)
    # The inbox hears of the reply (messaging.signals.reply_queued): one UPDATE of the person's
    # conversation, which leaves "waiting on us".
    assert statements(context) == ["SELECT", "SELECT", "INSERT", "UPDATE"]


def _twin_queued_meanwhile(monkeypatch, template, key: str) -> dict:
    """A concurrent request with the same key commits its message between this call's lookup of the
    key and its INSERT; the returned dict gets the twin's id."""
    real, twin = service.recipient_now, {}

    def recipient_now(**kwargs):
        monkeypatch.setattr(service, "recipient_now", real)
        contact = Contact.objects.get(pk=kwargs["contact_id"])
        twin["pk"] = send_message(
            contact=contact, actor=SYSTEM, template=template, parameters=ORDER_PARAMETERS, idempotency_key=key
        ).pk
        return real(**kwargs)

    monkeypatch.setattr(service, "recipient_now", recipient_now)
    return twin


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("inside_a_transaction", [False, True])
def test_a_concurrent_twin_with_the_same_key_wins_and_the_callers_transaction_goes_on(
    customer, order_update, woken, monkeypatch, inside_a_transaction
):
    twin = _twin_queued_meanwhile(monkeypatch, order_update, "api:twin")
    with transaction.atomic() if inside_a_transaction else nullcontext():
        message = send_message(
            contact=customer,
            actor=SYSTEM,
            template=order_update,
            parameters=ORDER_PARAMETERS,
            idempotency_key="api:twin",
        )
        assert Contact.objects.filter(pk=customer.pk).exists()  # the caller's transaction goes on
    assert message.pk == twin["pk"]
    assert OutboundMessage.objects.filter(idempotency_key="api:twin").count() == 1


def test_a_contact_deleted_since_the_caller_loaded_it_is_refused_by_name(stranger, order_update):
    Contact.objects.filter(pk=stranger.pk).delete()
    with pytest.raises(ApplicationError) as refused:
        send_message(contact=stranger, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    assert refused.value.code == "contact_not_found"
    assert not OutboundMessage.objects.exists()
