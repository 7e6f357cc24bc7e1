"""Idempotency-Key on POST /messages/ (and the consent POST): replayed, refused when reused or in flight,
released on a server error, expired after API_IDEMPOTENCY_TTL, and safe under concurrency."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.idempotency import idempotency_records_purge
from api.models import IdempotencyRecord, IdempotencyState, Scope
from contacts.models import Purpose
from messaging.models import OutboundMessage
from tests.api.keys import client_for_key, create_key, key_and_client
from tests.factories import opt_in
from tests.messaging.conftest import ORDER_PARAMETERS

pytest_plugins = ["tests.api.messaging_world"]

URL = "/api/v1/messages/"


def order_body(contact) -> dict:
    return {
        "contact": contact.pk,
        "template": {"name": "order_update", "language": "en", "parameters": ORDER_PARAMETERS},
    }


def post(client, body, key: str | None = "order-9271-shipped", **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(URL, body, **headers)


@pytest.fixture
def sender(db):
    return key_and_client(Scope.MESSAGES_SEND, Scope.MESSAGES_READ)


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_answer_and_queues_once(sender, customer, order_update):
    _, client = sender
    first = post(client, order_body(customer))
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    again = post(client, order_body(customer))
    assert again.status_code == 202 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_the_body_is_compared_as_json_not_as_bytes(sender, customer, order_update):
    _, client = sender
    body = order_body(customer)
    first = post(client, body)
    template = {"parameters": ORDER_PARAMETERS, "language": "en", "name": "order_update"}
    reordered = json.dumps({"template": template, "contact": customer.pk}, indent=4)
    again = client.post(
        URL, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="order-9271-shipped"
    )
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_a_quoted_key_is_the_same_key(sender, customer, order_update):
    _, client = sender
    first = post(client, order_body(customer), key="abc-1")
    again = post(client, order_body(customer), key='"abc-1"')
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(sender, customer, order_update):
    _, client = sender
    post(client, order_body(customer))
    other = {**order_body(customer), "template": {**order_body(customer)["template"], "language": "de"}}
    response = post(client, other)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_request_still_in_flight_is_409(sender, customer, order_update):
    key, client = sender
    post(client, order_body(customer))
    IdempotencyRecord.objects.filter(key=key).update(
        state=IdempotencyState.IN_FLIGHT, response_status=None, response_body=None
    )
    response = post(client, order_body(customer))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_request_in_flight"


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["", "   ", '""', "k" * 256, "clé-1"])
def test_an_empty_overlong_or_non_ascii_key_is_400_and_claims_nothing(sender, customer, order_update, value):
    _, client = sender
    response = post(client, order_body(customer), key=value)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert not IdempotencyRecord.objects.exists() and not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_a_key_of_255_characters_is_taken(sender, customer, order_update):
    _, client = sender
    assert post(client, order_body(customer), key="k" * 255).status_code == 202


@pytest.mark.django_db
def test_a_refusal_is_the_final_answer_for_that_key(sender, stranger, order_update):
    """A 422 is kept and replayed like a 202: the client fixes the cause, then sends with a new key."""
    _, client = sender
    first = post(client, order_body(stranger))
    assert first.status_code == 422 and first.json()["error"]["code"] == "no_consent"
    opt_in(stranger, Purpose.SERVICE)
    again = post(client, order_body(stranger))
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert post(client, order_body(stranger), key="order-9271-shipped-2").status_code == 202


@pytest.mark.django_db
def test_requests_refused_before_the_claim_claim_nothing(customer, order_update):
    _, reader = key_and_client(Scope.MESSAGES_READ)
    assert post(reader, order_body(customer)).status_code == 403
    _, sender = key_and_client(Scope.MESSAGES_SEND)
    bad_json = sender.post(URL, "{", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert bad_json.status_code == 400
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
def test_a_server_error_releases_the_key_and_the_retry_finds_the_queued_message(
    sender, customer, order_update, monkeypatch
):
    """The message was queued, then the answer failed: the retry runs again and gets that message,
    because the service's own idempotency key is derived from the request."""
    _, client = sender

    def broken(*args, **kwargs):
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr("api.endpoints.messages.MessageOut.to_representation", broken)
    client.raise_request_exception = False
    assert post(client, order_body(customer)).status_code == 500
    assert not IdempotencyRecord.objects.exists()
    assert OutboundMessage.objects.count() == 1
    monkeypatch.undo()
    retry = post(client, order_body(customer))
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry
    assert OutboundMessage.objects.count() == 1
    assert retry.json()["id"] == str(OutboundMessage.objects.get().public_id)


@pytest.mark.django_db
def test_records_are_kept_for_the_configured_hours_and_then_count_as_absent(
    sender, customer, order_update, settings
):
    settings.API_IDEMPOTENCY_TTL = 2
    key, client = sender
    post(client, order_body(customer))
    record = IdempotencyRecord.objects.get(key=key)
    assert record.state == IdempotencyState.DONE and record.response_status == 202
    assert abs((record.expires_at - record.created_at) - timedelta(hours=2)) < timedelta(seconds=1)
    IdempotencyRecord.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = {**order_body(customer), "template": {**order_body(customer)["template"], "parameters": {}}}
    response = post(client, other)  # another body: no 422, the old record is gone
    assert response.status_code == 422 and response.json()["error"]["code"] == "template_parameters_invalid"
    assert IdempotencyRecord.objects.get(key=key).pk != record.pk


@pytest.mark.django_db
def test_each_api_key_has_its_own_idempotency_keys(customer, order_update):
    _, shop = key_and_client(Scope.MESSAGES_SEND)
    _, crm = key_and_client(Scope.MESSAGES_SEND, name="CRM")
    first, second = post(shop, order_body(customer)), post(crm, order_body(customer))
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"] and OutboundMessage.objects.count() == 2


@pytest.mark.django_db
def test_expired_records_are_purged(customer, order_update):
    key, _ = create_key(Scope.MESSAGES_SEND)
    now = timezone.now()
    for name, expires in (("old", now - timedelta(hours=1)), ("fresh", now + timedelta(hours=1))):
        IdempotencyRecord.objects.create(key=key, idempotency_key=name, fingerprint="f", expires_at=expires)
    assert idempotency_records_purge(now=now) == 1
    assert list(IdempotencyRecord.objects.values_list("idempotency_key", flat=True)) == ["fresh"]


@pytest.mark.django_db
def test_the_purge_runs_every_hour():
    from django_q.models import Schedule

    from api.idempotency import PURGE_SCHEDULE_NAME

    schedule = Schedule.objects.get(name=PURGE_SCHEDULE_NAME)  # created after migrate
    assert schedule.func == "api.idempotency.idempotency_records_purge"
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.HOURLY, -1)


@pytest.mark.django_db
def test_the_consent_post_is_idempotent_too(customer):
    _, client = key_and_client(Scope.CONSENT_WRITE)
    body = {"action": "opt_out", "purpose": "marketing", "source": "api"}
    url = f"/api/v1/contacts/{customer.pk}/consents/"
    first = client.post(url, body, HTTP_IDEMPOTENCY_KEY="stop-1")
    again = client.post(url, body, HTTP_IDEMPOTENCY_KEY="stop-1")
    assert first.status_code == 201 and again.json() == first.json()
    reused = client.post(URL.replace("messages", "x"), body, HTTP_IDEMPOTENCY_KEY="stop-1")
    assert reused.status_code == 404  # no such endpoint: nothing to do with the key
    other = client.post(url, {**body, "purpose": "service"}, HTTP_IDEMPOTENCY_KEY="stop-1")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


# --- concurrency, on PostgreSQL with two connections ------------------------------------------


def _in_thread(target, results, index):
    try:
        results[index] = target()
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_request_while_the_first_is_in_flight_is_409_and_one_message_is_queued(
    customer, order_update, monkeypatch
):
    """The first request is held inside send_message until the second has answered."""
    from messaging.sending import service

    _, raw = create_key(Scope.MESSAGES_SEND)
    inside, release = threading.Event(), threading.Event()
    real_send = service.send_message

    def held_send(**kwargs):
        inside.set()
        assert release.wait(30), "the test never released the first request"
        return real_send(**kwargs)

    monkeypatch.setattr("api.endpoints.messages.send_message", held_send)
    results = [None, None]
    first = threading.Thread(
        target=_in_thread, args=(lambda: post(client_for_key(raw), order_body(customer)), results, 0)
    )
    first.start()
    try:
        assert inside.wait(30), "the first request never reached send_message"
        results[1] = post(client_for_key(raw), order_body(customer))
    finally:
        release.set()
        first.join(30)
    assert results[1].status_code == 409
    assert results[1].json()["error"]["code"] == "idempotency_request_in_flight"
    assert results[0].status_code == 202
    assert OutboundMessage.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_requests_with_one_key_queue_one_message(customer, order_update):
    """Started together, on two connections: whichever loses gets a 409 or the replayed 202."""
    _, raw = create_key(Scope.MESSAGES_SEND)
    start = threading.Barrier(2)
    results = [None, None]

    def request():
        client = client_for_key(raw)
        start.wait(30)
        return post(client, order_body(customer))

    threads = [threading.Thread(target=_in_thread, args=(request, results, i)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(response.status_code for response in results)
    assert statuses in ([202, 202], [202, 409]), statuses
    if statuses == [202, 202]:
        assert results[0].json() == results[1].json()
    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_request_abandoned_in_flight_is_claimed_again_after_its_lease(sender, customer, order_update):
    """Its process died mid-request: after the lease the retry runs (and finds nothing to replay)."""
    from api.idempotency import IN_FLIGHT_LEASE

    key, client = sender
    post(client, order_body(customer))
    IdempotencyRecord.objects.filter(key=key).update(
        state=IdempotencyState.IN_FLIGHT, created_at=timezone.now() - IN_FLIGHT_LEASE + timedelta(seconds=30)
    )
    assert post(client, order_body(customer)).status_code == 409  # still within the lease
    IdempotencyRecord.objects.filter(key=key).update(created_at=timezone.now() - IN_FLIGHT_LEASE)
    retry = post(client, order_body(customer))
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry
    assert OutboundMessage.objects.count() == 1  # send_message's own key found the first message
    assert IdempotencyRecord.objects.get(key=key).state == IdempotencyState.DONE


@pytest.mark.django_db
def test_an_answer_that_cannot_be_kept_releases_the_key(sender, customer, order_update, monkeypatch):
    key, client = sender

    def broken(record, response):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("api.idempotency.complete", broken)
    client.raise_request_exception = False
    assert post(client, order_body(customer)).status_code == 500
    assert not IdempotencyRecord.objects.filter(key=key).exists()
