"""The callback outbox: what a key is told, written in the transaction of the change — statuses of
the messages it sent, replies and consent of the people it knows — and nothing for anyone else."""
# ruff: noqa: F811 (fixtures are imported, then named as test arguments)

import datetime as dt
import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.callbacks.outbox import on_contact_merged
from api.models import CallbackEvent, CallbackState, KeyContact
from contacts.bulk import contacts_record_opt_out
from contacts.merging import contact_merge
from contacts.models import ConsentAction, ConsentSource, Purpose
from contacts.services import record_consent
from core.actors import Actor
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from messaging.sending import batch as batches
from messaging.sending.service import send_message
from messaging.sending.states import message_fail
from messaging.statuses import StatusReport, apply_status_reports
from templates_app.demo import seed_templates
from tests.api.callback_world import make_key
from tests.factories import ContactFactory, opt_in, opt_out
from tests.messaging.webhook_bodies import (
    deliver,  # noqa: F401 (a fixture)
    outbound,
    text_message,
)

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]
pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
ORDER_PARAMETERS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-9271"],
    "buttons": {"0": "ORD-9271"},
}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    """The deliverer's wake-ups, recorded instead of queued."""
    calls = []
    monkeypatch.setattr("api.callbacks.delivery.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def order_update(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}["order_update"]


@pytest.fixture
def customer(db):
    contact = ContactFactory(phone="+4915112345678", first_name="Pablo", time_zone="Europe/Berlin")
    opt_in(contact, Purpose.MARKETING)
    opt_in(contact, Purpose.SERVICE)
    return contact


@pytest.fixture
def shop(db):
    return make_key("Shop", callback_url="https://shop.example/hooks")


def events(key=None, type=None) -> list[CallbackEvent]:
    rows = CallbackEvent.objects.order_by("pk")
    if key is not None:
        rows = rows.filter(key=key)
    if type is not None:
        rows = rows.filter(type=type)
    return list(rows)


def sent_by(key, contact, order_update) -> OutboundMessage:
    return send_message(contact=contact, actor=key.actor, template=order_update, parameters=ORDER_PARAMETERS)


def api_outbound(contact, key) -> OutboundMessage:
    """An accepted message with its attempt, as if ``key`` had sent it."""
    message = outbound(contact)
    OutboundMessage.objects.filter(pk=message.pk).update(actor_kind=Actor.API_KEY, actor_ref=str(key.pk))
    message.refresh_from_db()
    return message


# --- message.status ---------------------------------------------------------------------------


def test_an_accepted_send_is_told_to_the_key_that_sent_it_and_to_no_other(
    shop, customer, order_update, memory_backend, queued_tasks, django_capture_on_commit_callbacks
):
    other = make_key("CRM", callback_url="https://crm.example/hooks")
    silent = make_key("Back office")  # no callback URL
    message = sent_by(shop, customer, order_update)
    staff_message = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    assert not events()  # queued is what POST /messages/ answers: no event
    with django_capture_on_commit_callbacks(execute=True):
        batches.send_batch(batches.claim_batch())

    (event,) = events()
    assert (event.key, event.type, event.state, event.attempts) == (shop, "message.status", "pending", 0)
    message.refresh_from_db()
    assert event.payload == {
        "message_id": str(message.public_id),
        "contact_id": customer.pk,
        "state": "accepted",
        "timestamp": event.payload["timestamp"],
        "error": None,
    }
    assert dt.datetime.fromisoformat(event.payload["timestamp"]) == message.accepted_at
    assert INSTANT.match(event.payload["timestamp"])
    assert UUID.match(str(event.event_id))
    assert not events(other) and not events(silent)
    assert OutboundMessage.objects.get(pk=staff_message.pk).status == MessageStatus.ACCEPTED
    assert len(queued_tasks) == 1  # the deliverer, woken after the commit


def test_webhook_statuses_are_told_in_order_with_whatsapps_times(shop, customer):
    message = api_outbound(customer, shop)
    wamid = message.attempts.get().wamid
    t0 = dt.datetime(2026, 12, 1, 9, 0, 0, tzinfo=dt.UTC)
    for offset, state in ((1, "sent"), (2, "delivered"), (3, "read")):
        report = StatusReport(wamid=wamid, status=state, timestamp=t0 + dt.timedelta(seconds=offset))
        apply_status_reports(reports=[report])
    apply_status_reports(reports=[StatusReport(wamid=wamid, status="delivered", timestamp=t0)])  # late
    told = [(e.payload["state"], e.payload["timestamp"]) for e in events(shop)]
    assert told == [
        ("sent", "2026-12-01T09:00:01.000000Z"),
        ("delivered", "2026-12-01T09:00:02.000000Z"),
        ("read", "2026-12-01T09:00:03.000000Z"),
    ]


def test_a_failed_status_carries_whatsapps_code_its_class_and_words(shop, customer):
    message = api_outbound(customer, shop)
    report = StatusReport(
        wamid=message.attempts.get().wamid,
        status="failed",
        timestamp=timezone.now(),
        errors=[{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}],
    )
    apply_status_reports(reports=[report])
    (event,) = events(shop)
    assert event.payload["state"] == "failed"
    assert event.payload["error"]["code"] == 131026
    assert event.payload["error"]["class"] == "recipient-permanent"
    assert "undeliverable" in event.payload["error"]["text"]


def test_a_message_skipped_at_the_claim_says_why(shop, customer, order_update, memory_backend):
    message = sent_by(shop, customer, order_update)
    opt_out(customer, Purpose.SERVICE)
    batches.claim_batch()
    (event,) = events(shop)
    assert (event.payload["message_id"], event.payload["state"]) == (str(message.public_id), "skipped")
    assert event.payload["error"]["class"] == "opted_out"
    assert event.payload["error"]["code"] is None


def test_a_change_rolled_back_leaves_no_event(shop, customer, queued_tasks):
    message = api_outbound(customer, shop)
    error = {"error_code": None, "error_class": "test", "error_text": "rolled back"}
    with pytest.raises(RuntimeError), transaction.atomic():
        assert message_fail(message, error=error, expected=[MessageStatus.ACCEPTED])
        assert len(events(shop)) == 1  # written with the change …
        raise RuntimeError("the change fails after it")
    assert not events()  # … and gone with it
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.ACCEPTED
    assert not queued_tasks


def test_a_revoked_key_is_told_nothing_new(shop, customer):
    message = api_outbound(customer, shop)
    shop.revoked_at = timezone.now()
    shop.save()
    message_fail(message, error={"error_class": "test"}, expected=[MessageStatus.ACCEPTED])
    assert not events()


def test_campaign_messages_write_no_event_and_cost_no_query(sending, shop, memory_backend):
    """The dispatcher's hot path: a campaign's sub-batch is accepted (and one message skipped)
    without a statement that reads or writes the outbox."""
    version = sending.template.approved_version
    contacts = [ContactFactory(country="DE") for _ in range(4)]
    for contact in contacts[:3]:
        opt_in(contact, sending.purpose)
    messages = OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                contact=contact,
                campaign=sending,
                kind=MessageKind.TEMPLATE,
                purpose=sending.purpose,
                template_version=version,
                next_attempt_at=timezone.now(),
                actor_kind="system",
                actor_label="tests",
            )
            for contact in contacts
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        batches.send_batch(batches.claim_batch())
    states = sorted(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True)
    )
    assert states == ["accepted", "accepted", "accepted", "skipped"]
    assert not events()
    assert not [q["sql"] for q in queries if "api_" in q["sql"]]


# --- message.received -------------------------------------------------------------------------


def test_a_reply_is_told_to_every_key_that_knows_the_person_and_names_only_its_own_message(
    deliver, shop, customer
):
    crm = make_key("CRM", callback_url="https://crm.example/hooks")
    stranger = make_key("Other shop", callback_url="https://other.example/hooks")
    KeyContact.objects.bulk_create(
        [KeyContact(key=shop, contact=customer), KeyContact(key=crm, contact=customer)]
    )
    message = api_outbound(customer, shop)
    deliver(text_message("Saturday instead?", context={"id": message.attempts.get().wamid}))

    ours, theirs = events(shop, "message.received")[0], events(crm, "message.received")[0]
    assert ours.payload["in_reply_to"] == str(message.public_id)
    assert theirs.payload["in_reply_to"] is None
    assert ours.payload["contact_id"] == customer.pk
    assert ours.payload["message"]["text"] == "Saturday instead?"
    assert ours.payload["message"]["type"] == "text"
    assert INSTANT.match(ours.payload["message"]["sent_at"])
    assert not events(stranger)


def test_a_repeated_webhook_tells_the_reply_once(deliver, shop, customer):
    KeyContact.objects.create(key=shop, contact=customer)
    body = text_message("Hello")
    deliver(body)
    deliver(body)
    assert len(events(shop, "message.received")) == 1


# --- consent ----------------------------------------------------------------------------------


def test_an_opt_out_from_any_source_is_told_to_the_keys_that_know_the_person(deliver, shop, customer):
    KeyContact.objects.create(key=shop, contact=customer)
    deliver(text_message("STOP"))
    told = events(shop, "consent.opt_out")
    assert {e.payload["purpose"] for e in told} == {Purpose.MARKETING}
    (event,) = told
    assert event.payload["source"] == ConsentSource.KEYWORD
    assert event.payload["recorded_by_this_key"] is False
    assert event.payload["contact_id"] == customer.pk
    assert INSTANT.match(event.payload["occurred_at"])


def test_an_opt_in_the_key_recorded_comes_back_marked_as_its_own(shop, customer):
    KeyContact.objects.create(key=shop, contact=customer)
    record_consent(
        contact=customer,
        purpose=Purpose.SERVICE,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.API,
        actor=shop.actor,
    )
    (event,) = events(shop)
    assert (event.type, event.payload["recorded_by_this_key"]) == ("consent.opt_out", True)


def test_a_bulk_opt_out_tells_each_known_person_in_one_statement(shop, editor):
    known = [ContactFactory() for _ in range(3)]
    unknown = ContactFactory()
    KeyContact.objects.bulk_create([KeyContact(key=shop, contact=c) for c in known])
    people = type(unknown).objects.filter(pk__in=[c.pk for c in [*known, unknown]])
    with CaptureQueriesContext(connection) as queries:
        contacts_record_opt_out(
            contacts=people,
            purposes=[Purpose.MARKETING],
            reason="Asked by phone",
            actor=Actor.for_user(editor),
        )
    told = events(shop, "consent.opt_out")
    assert sorted(e.payload["contact_id"] for e in told) == sorted(c.pk for c in known)
    assert {e.payload["source"] for e in told} == {ConsentSource.STAFF}
    assert len([q for q in queries if "api_callbackevent" in q["sql"]]) == 1


def test_after_a_merge_the_keys_that_knew_either_row_know_the_survivor(shop, editor):
    survivor, merged = ContactFactory(), ContactFactory()
    KeyContact.objects.create(key=shop, contact=merged)
    contact_merge(survivor=survivor, merged=merged, actor=Actor.for_user(editor), reason="same person")
    assert KeyContact.objects.filter(key=shop, contact=survivor).exists()
    assert on_contact_merged(None, survivor=survivor, merged=ContactFactory()) == {}


def test_events_start_pending_and_due(shop, customer):
    message = api_outbound(customer, shop)
    before = timezone.now()
    message_fail(message, error={"error_class": "test"}, expected=[MessageStatus.ACCEPTED])
    (event,) = events(shop)
    assert event.state == CallbackState.PENDING
    assert before <= event.next_attempt_at <= timezone.now()
    assert before <= event.created_at <= timezone.now()
