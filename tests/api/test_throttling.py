"""Per-key throttling: one counter per key in the database, shared by every client and process."""

import threading

import pytest
from django.db import connection
from django.test import override_settings

from api.models import RateWindow
from api.throttling import count_call, parse_rate
from tests.api.keys import client_for_key, create_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


@pytest.mark.parametrize(
    "rate,expected",
    [("600/min", (600, 60)), ("20/s", (20, 1)), ("10000/day", (10000, 86400)), ("5/h", (5, 3600))],
)
def test_rates_are_read_as_drf_writes_them(rate, expected):
    assert parse_rate(rate) == expected


@override_settings(API_THROTTLE_RATE="3/min")
def test_two_clients_sharing_a_key_share_its_limit(monkeypatch):
    monkeypatch.setattr("api.throttling.time.time", lambda: 1_800_000_030.0)  # 30 s into a window
    _, raw = create_key("templates:read")
    first, second = client_for_key(raw), client_for_key(raw)
    answers = [client.get(URL).status_code for client in (first, second, first)]
    assert answers == [200, 200, 200]
    refused = second.get(URL)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    error = refused.json()["error"]
    assert error["code"] == "throttled" and error["details"]["retry_after"] == int(refused["Retry-After"])
    _, other_raw = create_key("templates:read", name="Other")
    assert client_for_key(other_raw).get(URL).status_code == 200  # another key has its own count


@override_settings(API_THROTTLE_RATE="1/min")
def test_unauthenticated_calls_are_refused_before_they_are_counted(client):
    for _ in range(3):
        assert client.get(URL).status_code == 401
    assert not RateWindow.objects.exists()


def test_a_new_window_clears_the_old_ones():
    key, _ = create_key("templates:read")
    assert [count_call(key.pk, 60), count_call(key.pk, 60)] == [1, 2]
    assert count_call(key.pk, 120) == 1
    assert list(RateWindow.objects.values_list("window_start", "calls")) == [(120, 1)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_calls_are_counted_one_by_one():
    """Eight threads, 25 calls each, on their own connections: every count is handed out once
    (a read-then-write counter would hand some out twice)."""
    key, _ = create_key("templates:read")
    counts: list[int] = []
    lock = threading.Lock()

    def calls():
        try:
            mine = [count_call(key.pk, 600) for _ in range(25)]
            with lock:
                counts.extend(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 201))


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", "/api/v1/contacts/", None),
        ("post", "/api/v1/contacts/", {"phone": "+4915123456789"}),
        ("post", "/api/v1/contacts/bulk/", {"contacts": [{"phone": "+4915123456789"}]}),
        ("get", "/api/v1/templates/", None),
    ],
)
@override_settings(API_THROTTLE_RATE="1/day")
def test_every_endpoint_is_throttled(monkeypatch, method, path, body):
    monkeypatch.setattr("api.throttling.time.time", lambda: 1_800_000_030.0)
    _, raw = create_key()
    client = client_for_key(raw)
    first = getattr(client, method)(path, body, format="json")
    assert first.status_code in (200, 201)
    second = getattr(client, method)(path, body, format="json")
    assert second.status_code == 429 and second.json()["error"]["code"] == "throttled"
    assert int(second["Retry-After"]) > 0
