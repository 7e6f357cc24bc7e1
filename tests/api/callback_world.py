"""The callback tests' world: keys with a callback URL, and a real receiver — ``http.server`` in a
thread on 127.0.0.1 — that records what it was sent and answers as a test tells it to.

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.models import ApiKey, Scope

SECRET = "cb-secret-0123456789abcdef0123456789abcdef"


def make_key(name: str = "Shop", *, callback_url: str = "", secret: str = SECRET, **fields) -> ApiKey:
    _raw, prefix, digest = ApiKey.generate()
    return ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=digest,
        scopes=[scope.value for scope in Scope],
        callback_url=callback_url,
        callback_secret=secret if callback_url else "",
        **fields,
    )


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the receiver got, and how it answers: ``answers`` are taken in order (a status code, or
    ``"hang"``: no answer until the test ends), then ``default``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list = field(default_factory=list)
    default: int = 200
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def bodies(self) -> list[dict]:
        return [request.json for request in self.requests]


@pytest.fixture
def receiver(settings):
    """A callback receiver at ``receiver.url`` (loopback callbacks allowed for the test)."""
    settings.API_CALLBACKS_ALLOW_LOOPBACK = True
    yield from serve()


def serve(tls: ssl.SSLContext | None = None):
    """Run a receiver until the generator is closed; over TLS with ``tls``."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            answer = state.answers.pop(0) if state.answers else state.default
            if answer == "hang":
                state.released.wait(30)
                return
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if answer >= 300 else b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    state = Receiver(url=f"{scheme}://127.0.0.1:{server.server_port}/hooks/whatsapp?shop=1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.released.set()
    server.shutdown()
    server.server_close()
