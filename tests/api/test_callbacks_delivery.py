"""Delivering callbacks to a real receiver (``http.server`` on 127.0.0.1): signed as documented,
retried with backoff on an error or no answer, stopped by a 2xx, given up at the limits, never sent
for a revoked key or to an address the URL check refuses, and written events delivered in batches."""
# ruff: noqa: F811 (fixtures are imported, then named as test arguments)

import itertools
import re
import shutil
import ssl
import subprocess
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from api import tasks
from api.callbacks import delivery
from api.callbacks.delivery import claim_due, deliver_due
from api.models import CallbackDelivery, CallbackEvent, CallbackState
from core.actors import Actor
from messaging.models import MessageStatus, OutboundMessage
from messaging.sending.states import message_fail
from tests.api.callback_world import SECRET, make_key, receiver, serve  # noqa: F401 (a fixture)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-callbacks.md"


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    calls = []
    monkeypatch.setattr(delivery, "async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def documented_verify():
    """``verify_callback`` exactly as docs/api-callbacks.md prints it."""
    (code,) = [
        block for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S) if "def verify" in block
    ]
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify_callback"]


def event_for(key, **fields) -> CallbackEvent:
    return CallbackEvent.objects.create(
        key=key,
        type="message.status",
        payload={"message_id": "5d0c8f0e-3a4b-4a53-9c1b-2f7f1f8e9a10", "state": "delivered", "error": None},
        **fields,
    )


def make_due(*events) -> None:
    CallbackEvent.objects.filter(pk__in=[e.pk for e in events]).update(next_attempt_at=timezone.now())


def fresh(event) -> CallbackEvent:
    return CallbackEvent.objects.get(pk=event.pk)


def attempts_of(event) -> list[CallbackDelivery]:
    return list(CallbackDelivery.objects.filter(event=event).order_by("pk"))


def test_a_callback_is_signed_as_documented(receiver, documented_verify):
    key = make_key(callback_url=receiver.url)
    event = event_for(key)
    deliver_due()

    (request,) = receiver.requests
    assert request.path == "/hooks/whatsapp?shop=1"
    headers = request.headers
    assert documented_verify(SECRET, headers, request.body)
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == receiver.url.split("/")[2]
    assert headers["X-Callback-Id"] == str(event.event_id)
    body = request.json
    assert body["id"] == str(event.event_id)
    assert (body["type"], body["data"]) == ("message.status", event.payload)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", body["created_at"])
    # What the recipe refuses: another secret, a changed body, a stale or a future timestamp.
    assert not documented_verify("another-secret", headers, request.body)
    assert not documented_verify(SECRET, headers, request.body.replace(b"delivered", b"read"))
    signed_at = int(headers["X-Callback-Timestamp"])
    assert not documented_verify(SECRET, headers, request.body, now=signed_at + 301)
    assert not documented_verify(SECRET, headers, request.body, now=signed_at - 301)
    assert not documented_verify(SECRET, {**headers, "X-Signature-256": "md5=00"}, request.body)
    assert fresh(event).state == CallbackState.DELIVERED


def test_an_error_is_retried_with_backoff_and_a_2xx_stops_it(receiver):
    receiver.answers = [500]
    key = make_key(callback_url=receiver.url)
    event = event_for(key)
    before = timezone.now()
    deliver_due()

    failed = fresh(event)
    assert (failed.state, failed.attempts, failed.last_error) == (CallbackState.PENDING, 1, "HTTP 500: no")
    assert before + timedelta(seconds=30) <= failed.next_attempt_at <= timezone.now() + timedelta(seconds=60)
    (first,) = attempts_of(event)
    assert (first.status_code, first.error) == (500, "HTTP 500: no")
    deliver_due()
    assert len(receiver.requests) == 1  # not due yet

    make_due(event)
    deliver_due()
    delivered = fresh(event)
    assert (delivered.state, delivered.attempts, delivered.last_error) == (CallbackState.DELIVERED, 2, "")
    assert delivered.delivered_at is not None
    assert [a.status_code for a in attempts_of(event)] == [500, 200]
    make_due(event)  # even when asked again, a delivered event is not pending
    deliver_due()
    assert len(receiver.requests) == 2


def test_backoff_grows_and_is_capped():
    for attempts, ceiling in ((1, 60), (2, 120), (3, 240), (7, 3600), (20, 3600)):
        delay = delivery.retry_delay(attempts).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


def test_no_answer_times_out_and_the_keys_other_events_wait_with_it(receiver, settings):
    settings.API_CALLBACK_TIMEOUT_SECONDS = 0.5
    receiver.answers = ["hang"]
    key = make_key(callback_url=receiver.url)
    first, second, third = (event_for(key) for _ in range(3))
    deliver_due()

    assert len(receiver.requests) == 1
    (attempt,) = attempts_of(first)
    assert attempt.status_code is None
    assert "timeout" in attempt.error
    waited = fresh(first).next_attempt_at
    for event in (second, third):
        row = fresh(event)
        assert (row.state, row.attempts, row.next_attempt_at) == (CallbackState.PENDING, 0, waited)
        assert not attempts_of(event)


def test_a_refused_connection_is_a_failed_attempt(settings):
    settings.API_CALLBACKS_ALLOW_LOOPBACK = True
    key = make_key(callback_url="http://127.0.0.1:9/nothing-listens-here")
    event = event_for(key)
    deliver_due()
    (attempt,) = attempts_of(event)
    assert attempt.status_code is None and attempt.error.startswith("Could not connect")
    assert fresh(event).state == CallbackState.PENDING


def test_a_redirect_is_not_followed(receiver):
    receiver.answers = [302]
    key = make_key(callback_url=receiver.url)
    event = event_for(key)
    deliver_due()
    assert len(receiver.requests) == 1
    assert "redirects are not followed" in fresh(event).last_error
    assert fresh(event).state == CallbackState.PENDING


def test_given_up_after_the_attempt_limit(receiver, settings):
    settings.API_CALLBACK_MAX_ATTEMPTS = 2
    receiver.default = 503
    key = make_key(callback_url=receiver.url)
    event = event_for(key)
    deliver_due()
    make_due(event)
    deliver_due()
    make_due(event)
    deliver_due()

    row = fresh(event)
    assert (row.state, row.attempts) == (CallbackState.GAVE_UP, 2)
    assert row.last_error == "Gave up after 2 attempts: HTTP 503: no"
    assert len(receiver.requests) == 2


def test_given_up_when_a_retry_would_come_after_the_give_up_age(receiver, settings):
    settings.API_CALLBACK_GIVE_UP_HOURS = 24
    receiver.default = 500
    key = make_key(callback_url=receiver.url)
    event = event_for(key, created_at=timezone.now() - timedelta(hours=24) + timedelta(seconds=10))
    deliver_due()
    assert fresh(event).state == CallbackState.GAVE_UP


def test_a_revoked_keys_events_are_dropped_unsent(receiver):
    key = make_key(callback_url=receiver.url)
    events = [event_for(key), event_for(key)]
    key.revoked_at = timezone.now()
    key.save()
    deliver_due()
    assert not receiver.requests
    for event in events:
        row = fresh(event)
        assert row.state == CallbackState.GAVE_UP
        assert "revoked" in row.last_error
        assert not attempts_of(event)


def test_a_key_without_a_secret_is_never_posted_unsigned(receiver):
    key = make_key(callback_url=receiver.url)
    key.callback_secret = ""
    key.save()
    event = event_for(key)
    deliver_due()
    assert not receiver.requests
    assert fresh(event).state == CallbackState.GAVE_UP


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("https://127.0.0.1:{port}/hooks", "loopback"),
        ("http://127.0.0.1:{port}/hooks", "HTTPS"),
        ("https://10.0.0.7/hooks", "private"),
        ("https://[::1]:{port}/hooks", "loopback"),
    ],
)
def test_a_url_the_check_refuses_is_not_called_at_delivery(receiver, settings, url, refusal):
    """The check runs again before each delivery: here loopback was allowed when the key was saved."""
    port = receiver.url.split(":")[2].split("/")[0]
    key = make_key(callback_url=url.format(port=port))
    settings.API_CALLBACKS_ALLOW_LOOPBACK = False
    event = event_for(key)
    deliver_due()
    assert not receiver.requests
    (attempt,) = attempts_of(event)
    assert attempt.status_code is None
    assert attempt.error.startswith("Not sent:") and refusal in attempt.error
    assert fresh(event).state == CallbackState.PENDING  # retried later, then given up like any failure


def test_the_request_goes_to_the_address_the_check_accepted(receiver, monkeypatch):
    """The name is resolved once, by the check; the connection is made to that address with the
    name as Host. A name nothing else can resolve reaching the receiver shows no second lookup."""
    import api.callbacks.targets as targets

    answers = {"hooks.shop.example": "127.0.0.1"}
    looked_up = []
    real = targets.socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        looked_up.append(host)
        if host in answers:
            return [(2, 1, 6, "", (answers[host], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(targets.socket, "getaddrinfo", resolver)
    port = receiver.url.split(":")[2].split("/")[0]
    key = make_key(callback_url=f"http://hooks.shop.example:{port}/cb")
    event = event_for(key)
    deliver_due()
    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.shop.example:{port}"
    assert looked_up == ["hooks.shop.example", "127.0.0.1"]  # the check's lookup, then the address
    assert fresh(event).state == CallbackState.DELIVERED

    answers["hooks.shop.example"] = "10.1.2.3"  # rebound to a private address since
    later = event_for(key)
    deliver_due()
    assert len(receiver.requests) == 1
    assert attempts_of(later)[0].error == "Not sent: The callback URL must use HTTPS."  # not loopback now


def test_events_written_together_wake_one_task_that_delivers_them_all(
    receiver, queued_tasks, django_capture_on_commit_callbacks
):
    key = make_key(callback_url=receiver.url)
    contact = ContactFactory()
    messages = [
        OutboundMessage.objects.create(
            contact=contact,
            kind="text",
            status=MessageStatus.ACCEPTED,
            actor_kind=Actor.API_KEY,
            actor_ref=str(key.pk),
        )
        for _ in range(12)
    ]
    error = {"error_code": 131026, "error_class": "recipient-permanent", "error_text": "Undeliverable"}
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for message in messages:
            message_fail(message, error=error, expected=[MessageStatus.ACCEPTED])
    assert CallbackEvent.objects.count() == 12
    assert queued_tasks == [(delivery.DELIVER_TASK,)]  # one wake-up for twelve events

    summary = tasks.deliver_callbacks()
    assert summary.startswith("12 delivered")
    assert sorted(r.json["data"]["message_id"] for r in receiver.requests) == sorted(
        str(m.public_id) for m in messages
    )
    assert set(CallbackEvent.objects.values_list("state", flat=True)) == {CallbackState.DELIVERED}


def test_a_claim_leases_its_events(receiver):
    key = make_key(callback_url=receiver.url)
    event = event_for(key)
    token, claimed = claim_due()
    assert [e.pk for e in claimed] == [event.pk]
    assert claim_due()[1] == []  # leased: nobody else takes it
    _, again = claim_due(now=token + timedelta(seconds=1))  # a worker that died: due when the lease ends
    assert [e.pk for e in again] == [event.pk]


def test_a_woken_deliverer_is_not_woken_twice(queued_tasks):
    assert delivery.wake_deliverer() is True
    assert delivery.wake_deliverer() is False
    assert len(queued_tasks) == 1


def test_the_deliverer_runs_every_minute():
    schedule = Schedule.objects.get(name=tasks.DELIVER_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "api.tasks.deliver_callbacks",
        Schedule.MINUTES,
        1,
    )


# --- HTTPS: the certificate is checked against the URL's name, at the address the check accepted --


def _openssl(command: str, *, cwd: Path, subject: str = "") -> None:
    arguments = command.split() + (["-subj", subject] if subject else [])
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_receiver(tmp_path, settings, monkeypatch):
    """A receiver over TLS with a certificate for ``hooks.shop.example`` from a test CA, which the
    deliverer is made to trust; the name resolves to 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    new_key = "req -newkey rsa:2048 -nodes"
    _openssl(f"{new_key} -x509 -keyout ca.key -out ca.pem -days 1", cwd=tmp_path, subject="/CN=Test CA")
    _openssl(f"{new_key} -keyout server.key -out server.csr", cwd=tmp_path, subject="/CN=hooks.shop.example")
    (tmp_path / "san.cnf").write_text("subjectAltName=DNS:hooks.shop.example\n")
    _openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 "
        "-extfile san.cnf",
        cwd=tmp_path,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    monkeypatch.setattr(delivery.certifi, "where", lambda: str(tmp_path / "ca.pem"))
    import api.callbacks.targets as targets

    real = targets.socket.getaddrinfo
    names = {"hooks.shop.example", "other.shop.example"}

    def resolver(host, *args, **kwargs):
        if host in names:
            return [(2, 1, 6, "", ("127.0.0.1", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(targets.socket, "getaddrinfo", resolver)
    settings.API_CALLBACKS_ALLOW_LOOPBACK = True
    yield from serve(tls=context)


def test_over_https_the_certificate_must_name_the_urls_host(tls_receiver):
    port = tls_receiver.url.split(":")[2].split("/")[0]
    good = event_for(make_key("Shop", callback_url=f"https://hooks.shop.example:{port}/cb"))
    deliver_due()
    assert fresh(good).state == CallbackState.DELIVERED
    assert tls_receiver.requests[0].headers["Host"] == f"hooks.shop.example:{port}"

    wrong = event_for(make_key("Other", callback_url=f"https://other.shop.example:{port}/cb"))
    deliver_due()
    assert len(tls_receiver.requests) == 1
    (attempt,) = attempts_of(wrong)
    assert attempt.status_code is None and "SSL" in attempt.error, attempt.error
    assert "hooks.shop.example" in attempt.error or "match" in attempt.error, attempt.error


def test_a_batch_past_half_its_lease_releases_the_rest_unsent(receiver, monkeypatch):
    """A slow receiver cannot make a batch outlive its lease: what is left is due again at once."""
    monkeypatch.setattr(delivery, "LEASE", timedelta(0))  # half of nothing: spent before the first POST
    key = make_key(callback_url=receiver.url)
    events = [event_for(key), event_for(key)]
    token, claimed = claim_due()
    tally = delivery.deliver_claimed(claimed, token=token)
    assert (tally.postponed, tally.delivered) == (2, 0)
    assert not receiver.requests
    for event in events:
        row = fresh(event)
        assert (row.state, row.attempts) == (CallbackState.PENDING, 0)
        assert row.next_attempt_at <= timezone.now()


# --- A slow receiver ---------------------------------------------------------------------------


@pytest.fixture
def trickler(settings):
    """A receiver that answers one byte every 0.2 s: the whole answer (``trickler.mode = "all"``),
    or a prompt 200's headers and then its long body (``"body"``)."""
    settings.API_CALLBACKS_ALLOW_LOOPBACK = True
    stop = threading.Event()
    state = {"mode": "all"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n"
            if state["mode"] == "body":
                self.wfile.write(head)
                head = b""
            for byte in head + b"x" * 400:
                if stop.wait(0.2):
                    return
                self.wfile.write(bytes([byte]))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class Trickler:
        url = f"http://127.0.0.1:{server.server_port}/slow"

        @property
        def mode(self):
            return state["mode"]

        @mode.setter
        def mode(self, value):
            state["mode"] = value

    yield Trickler()
    stop.set()
    server.shutdown()
    server.server_close()


def test_a_trickling_receiver_is_cut_off_at_the_deadline_and_other_keys_are_delivered(
    trickler, receiver, settings
):
    settings.API_CALLBACK_TIMEOUT_SECONDS = 1.0
    slow_key = make_key("Slow", callback_url=trickler.url)
    slow, slow_next = event_for(slow_key), event_for(slow_key)
    fast = event_for(make_key("Fast", callback_url=receiver.url))
    started = time.monotonic()
    deliver_due()
    assert time.monotonic() - started < 1.0 + 2.0  # its answer alone would take 12 s

    (attempt,) = attempts_of(slow)
    assert attempt.status_code is None and "timeout" in attempt.error, attempt.error
    assert attempt.duration_ms < 1500
    assert (fresh(slow).state, fresh(slow).attempts) == (CallbackState.PENDING, 1)
    assert (fresh(slow_next).attempts, attempts_of(slow_next)) == (0, [])  # waits, not attempted
    assert (fresh(fast).state, fresh(fast).attempts) == (CallbackState.DELIVERED, 1)


def test_a_2xx_whose_body_trickles_is_delivered_without_reading_the_body(trickler, settings):
    settings.API_CALLBACK_TIMEOUT_SECONDS = 1.0
    trickler.mode = "body"
    event = event_for(make_key(callback_url=trickler.url))
    started = time.monotonic()
    deliver_due()
    assert time.monotonic() - started < 3.0  # the 400-byte body would take 80 s
    assert fresh(event).state == CallbackState.DELIVERED


def test_a_keys_share_of_a_batch_is_one_timeout(receiver, settings, monkeypatch):
    """Past its share no further POST starts for the key: the rest is released, due at once."""
    settings.API_CALLBACK_TIMEOUT_SECONDS = 1.0
    key = make_key(callback_url=receiver.url)
    events = [event_for(key) for _ in range(3)]
    ticks = itertools.count(step=0.6)  # each look at the clock finds it 0.6 s later
    monkeypatch.setattr(delivery, "time", SimpleNamespace(monotonic=lambda: next(ticks), time=time.time))
    token, claimed = claim_due()
    tally = delivery.deliver_claimed(claimed, token=token)
    assert (tally.delivered, tally.postponed) == (1, 2)
    assert [fresh(e).attempts for e in events] == [1, 0, 0]


def test_an_attempt_counts_when_claimed_so_a_killed_run_still_spends_it(receiver, settings):
    settings.API_CALLBACK_MAX_ATTEMPTS = 3
    receiver.answers = [500]
    event = event_for(make_key(callback_url=receiver.url))
    token, _ = claim_due()  # the run is killed before it records anything
    assert fresh(event).attempts == 1
    token, _ = claim_due(now=token + timedelta(seconds=1))  # killed again
    token, claimed = claim_due(now=token + timedelta(seconds=1))
    tally = delivery.deliver_claimed(claimed, token=token)
    assert tally.gave_up == 1 and len(receiver.requests) == 1
    row = fresh(event)
    assert (row.state, row.attempts) == (CallbackState.GAVE_UP, 3)
    assert row.last_error.startswith("Gave up after 3 attempts")
