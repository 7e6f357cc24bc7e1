"""send_many (aiohttp, many in flight) against the sandbox: the same outcome for the same fault as
``CloudApiClient.send``, outcomes in the order of the payloads, and no request before its slot."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cloud_api import payloads
from cloud_api.errors import ErrorClass
from cloud_api.memory import InMemoryBackend
from cloud_api.outcomes import Accepted, NotSent, OutcomeUnknown, Refused
from tests.sandbox import CUSTOMER, ORDER_UPDATE, client_for, control, seed_templates, wait_until


def order_update(to: str = CUSTOMER, callback: str = "message-1", template: str = "order_update"):
    return payloads.template_message(
        to,
        name=template,
        language="en_US",
        header=payloads.MediaHeader("image", payloads.MediaRef(link="https://cdn.example/box.png")),
        body=["Pablo", "ORD-9271"],
        buttons=[
            payloads.QuickReplyButton(0, "optout:marketing:42"),
            payloads.UrlButton(1, "ORD-9271"),
            payloads.CopyCodeButton(2, "SAVE20"),
        ],
        biz_opaque_callback_data=callback,
    )


def one_by_one(client, batch):
    return [client.send(payload) for payload in batch]


def all_at_once(client, batch):
    return client.send_many(batch)


# Every outcome test runs through both paths: the same fault must give the same outcome.
SENDERS = [pytest.param(one_by_one, id="send"), pytest.param(all_at_once, id="send_many")]


@pytest.fixture
def make_client() -> Iterator[Callable]:
    clients = []

    def make(url: str, **overrides):
        client = client_for(url, **overrides)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class AnsweringServer:
    """Answers every POST with one fixed status and body (a gateway, a proxy, a broken Meta)."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json"):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def answering() -> Iterator[Callable[..., AnsweringServer]]:
    servers: list[AnsweringServer] = []

    def start(status: int, body: bytes, content_type: str = "application/json") -> AnsweringServer:
        servers.append(AnsweringServer(status, body, content_type))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("send", SENDERS)
def test_accepted_carries_wamid_and_wa_id(sandbox, make_client, send):
    seed_templates(sandbox, ORDER_UPDATE)
    [outcome] = send(make_client(sandbox.url), [order_update()])
    assert isinstance(outcome, Accepted)
    assert [m["wamid"] for m in control(sandbox, "messages")["data"]] == [outcome.wamid]
    assert (outcome.input, outcome.wa_id) == (CUSTOMER, CUSTOMER.lstrip("+"))


@pytest.mark.parametrize("send", SENDERS)
@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (130429, ErrorClass.MESSAGE_THROUGHPUT),
        (131026, ErrorClass.RECIPIENT_PERMANENT),
        (131016, ErrorClass.TRANSIENT),
    ],
)
def test_meta_errors_are_refused_with_their_class(sandbox, make_client, send, code, error_class):
    control(sandbox, "config", {"error_rate": 1.0, "error_codes": [code]})
    [outcome] = send(make_client(sandbox.url), [payloads.text_message(CUSTOMER, "Hi")])
    assert isinstance(outcome, Refused)
    assert (outcome.code, outcome.error_class, outcome.error.http_status) == (code, error_class, 400)


@pytest.mark.parametrize("send", SENDERS)
def test_a_5xx_without_a_graph_error_is_refused_transient(sandbox, make_client, send):
    control(sandbox, "config", {"server_error_rate": 1.0})
    [outcome] = send(make_client(sandbox.url), [payloads.text_message(CUSTOMER, "Hi")])
    assert isinstance(outcome, Refused)
    assert (outcome.code, outcome.error.http_status, outcome.error_class) == (None, 503, ErrorClass.TRANSIENT)


@pytest.mark.parametrize("send", SENDERS)
def test_a_dropped_connection_is_unknown(sandbox, make_client, send):
    seed_templates(sandbox, ORDER_UPDATE)
    control(sandbox, "config", {"unknown_rate": 1.0, "unknown_mode": "drop"})
    [outcome] = send(make_client(sandbox.url), [order_update()])
    assert isinstance(outcome, OutcomeUnknown)
    assert [m["answer"] for m in control(sandbox, "messages")["data"]] == ["drop"]


@pytest.mark.parametrize("send", SENDERS)
def test_an_answer_that_never_comes_is_unknown(sandbox, make_client, send):
    seed_templates(sandbox, ORDER_UPDATE)
    control(sandbox, "config", {"unknown_rate": 1.0, "unknown_mode": "hang"})
    [outcome] = send(make_client(sandbox.url, read_timeout=0.3), [order_update()])
    assert isinstance(outcome, OutcomeUnknown)
    assert "no answer within" in outcome.reason


@pytest.mark.parametrize("send", SENDERS)
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (504, b"Gateway Timeout", OutcomeUnknown),
        (200, b'{"messaging_product": "whatsapp"}', OutcomeUnknown),  # 2xx without a message id
        (200, b"<html>ok</html>", OutcomeUnknown),  # 2xx that is not Meta's JSON
        (502, b"Bad Gateway", Refused),
    ],
)
def test_answers_that_are_not_meta_s_are_read_the_same(answering, make_client, send, status, body, expected):
    server = answering(status, body)
    [outcome] = send(make_client(server.url), [payloads.text_message(CUSTOMER, "Hi")])
    assert isinstance(outcome, expected)
    if expected is Refused:
        assert (outcome.code, outcome.error.http_status, outcome.error_class) == (
            None,
            502,
            ErrorClass.TRANSIENT,
        )


def unused_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound but not listening: the kernel refuses connections
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("send", SENDERS)
def test_a_refused_connection_is_not_sent_for_every_request(make_client, send):
    sock, port = unused_port()
    with sock:
        batch = [payloads.text_message(f"+4915100000{n:03d}", "Hi") for n in range(5)]
        outcomes = send(make_client(f"http://127.0.0.1:{port}"), batch)
    assert all(isinstance(outcome, NotSent) for outcome in outcomes), outcomes
    assert all("could not connect" in outcome.reason for outcome in outcomes)


@pytest.mark.parametrize("send", SENDERS)
def test_a_connect_timeout_is_not_sent(make_client, send):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue so the kernel drops further handshakes: the next connect times out.
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        client = make_client(f"http://127.0.0.1:{port}", connect_timeout=0.2)
        [outcome] = send(client, [payloads.text_message(CUSTOMER, "Hi")])
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert isinstance(outcome, NotSent)
    assert "connect timeout" in outcome.reason


@pytest.mark.parametrize("send", SENDERS)
def test_an_outage_after_pooled_connections_is_not_sent(sandbox, make_client, send):
    seed_templates(sandbox, ORDER_UPDATE)
    client = make_client(sandbox.url)
    assert isinstance(send(client, [order_update()])[0], Accepted)  # a kept-alive connection exists now
    control(sandbox, "outage", {"seconds": 2.0})

    def not_sent():
        [outcome] = send(client, [order_update()])
        return outcome if isinstance(outcome, NotSent) else None

    assert "could not connect" in wait_until(not_sent, timeout=2).reason
    wait_until(lambda: isinstance(send(client, [order_update()])[0], Accepted), timeout=10)


def test_outcomes_come_back_in_the_order_of_the_payloads(sandbox, make_client):
    seed_templates(sandbox, ORDER_UPDATE)
    # Every third names a template the sandbox does not have: refused (132001) in the same answer.
    batch = [
        order_update(f"+49151{n:08d}", f"m{n}", "no_such_template" if n % 3 == 0 else "order_update")
        for n in range(150)
    ]
    outcomes = make_client(sandbox.url).send_many(batch)
    assert len(outcomes) == len(batch)
    for n, (payload, outcome) in enumerate(zip(batch, outcomes, strict=True)):
        if n % 3 == 0:
            assert isinstance(outcome, Refused) and outcome.code == 132001, (n, outcome)
        else:
            assert isinstance(outcome, Accepted) and outcome.input == payload["to"], (n, outcome)
    received = {m["wamid"]: m["biz_opaque_callback_data"] for m in control(sandbox, "messages")["data"]}
    assert [received[o.wamid] for o in outcomes if isinstance(o, Accepted)] == [
        f"m{n}" for n in range(150) if n % 3
    ]


def test_no_request_leaves_before_its_slot_and_they_leave_in_slot_order(sandbox, make_client):
    seed_templates(sandbox, ORDER_UPDATE)
    client = make_client(sandbox.url)
    start = time.time() + 0.3
    # The slots are given in reverse order of the payloads: request 2 is due first.
    slots = [start + 0.6, start + 0.3, start]
    batch = [order_update(f"+4915100000{n:03d}", f"m{n}") for n in range(3)]
    outcomes = client.send_many(batch, not_before=slots)
    assert [o.input for o in outcomes] == [p["to"] for p in batch]
    received = sorted(control(sandbox, "messages")["data"], key=lambda m: m["accepted_at"])
    assert [m["biz_opaque_callback_data"] for m in received] == ["m2", "m1", "m0"]
    for message in received:
        slot = slots[int(message["biz_opaque_callback_data"][1:])]
        assert message["accepted_at"] >= slot


def test_slots_in_the_past_leave_at_once_and_lengths_must_match(sandbox, make_client):
    seed_templates(sandbox, ORDER_UPDATE)
    client = make_client(sandbox.url)
    outcomes = client.send_many([order_update()], not_before=[time.time() - 60])
    assert isinstance(outcomes[0], Accepted)
    with pytest.raises(ValueError, match="not_before has 2 instants for 1 payloads"):
        client.send_many([order_update()], not_before=[0.0, 0.0])
    assert client.send_many([]) == []


def test_start_many_returns_at_once_and_the_answers_come_in_the_future(sandbox, make_client):
    """The dispatcher prepares its next sub-batch while these requests are in flight."""
    seed_templates(sandbox, ORDER_UPDATE)
    client = make_client(sandbox.url)
    slot = time.time() + 0.5
    future = client.start_many([order_update(callback="later")], not_before=[slot])
    assert not future.done()  # its slot has not come: nothing has left yet
    (outcome,) = future.result(timeout=10)
    assert isinstance(outcome, Accepted)
    assert control(sandbox, "messages")["data"][0]["accepted_at"] >= slot
    assert client.start_many([]).result() == []
    with pytest.raises(ValueError, match="not_before has 2 instants for 1 payloads"):
        client.start_many([order_update()], not_before=[0.0, 0.0])


def test_the_memory_backend_sends_each_in_order_without_waiting():
    backend = InMemoryBackend()
    backend.script(NotSent("scripted"))
    batch = [payloads.text_message(f"+4915100000{n:03d}", "Hi") for n in range(3)]
    outcomes = backend.send_many(batch, not_before=[time.time() + 3600] * 3)
    assert backend.sent == batch
    assert outcomes[0] == NotSent("scripted")
    assert [o.input for o in outcomes[1:]] == [p["to"] for p in batch[1:]]


@pytest.mark.slow  # a real (forked) process
def test_the_bulk_sender_survives_a_fork_by_starting_again(sandbox, make_client):
    """django-q2 forks its workers: a sender inherited from the parent has no loop thread there."""
    seed_templates(sandbox, ORDER_UPDATE)
    client = make_client(sandbox.url)
    assert isinstance(client.send_many([order_update()])[0], Accepted)  # the parent's sender exists now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send through the inherited client, report, and leave at once
        signal.alarm(10)  # a child stuck on a lock inherited from another thread dies instead of hanging
        try:
            outcome = client.send_many([order_update(callback="from-the-child")])[0]
            os.write(write, json.dumps(type(outcome).__name__).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        assert json.loads(pipe.read()) == "Accepted"
    assert isinstance(client.send_many([order_update()])[0], Accepted)  # the parent's still works
