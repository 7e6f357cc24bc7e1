"""Fixtures for the client and the sandbox: a sandbox in a thread, a tiny webhook receiver, a client.

Everything listens on 127.0.0.1 with port 0, so tests run in parallel. Delays are a few
milliseconds and tests poll with a deadline (:func:`wait_until`) instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from cloud_api.client import CloudApiClient, CloudApiConfig
from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.server import BackgroundSandbox

TOKEN = "test-access-token"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
APP_ID = "1000000000000001"
VERSION = "v25.0"
CUSTOMER = "+4915112345678"
CUSTOMER_WA_ID = "4915112345678"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class WebhookReceiver:
    """Records every POST (raw body and headers); answers with ``statuses`` first, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/whatsapp/"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]

    def values(self, field: str = "messages") -> list[dict[str, Any]]:
        return [
            change["value"]
            for body in self.bodies()
            for entry in body["entry"]
            for change in entry["changes"]
            if change["field"] == field
        ]

    def statuses_of(self, wamid: str) -> list[dict[str, Any]]:
        return [s for value in self.values() for s in value.get("statuses", []) if s["id"] == wamid]

    def inbound_messages(self) -> list[dict[str, Any]]:
        return [m for value in self.values() for m in value.get("messages", [])]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


def sandbox_config(**overrides: Any) -> SandboxConfig:
    """Fast, deterministic settings: everything happens within a few hundred milliseconds."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        business_account_id=WABA_ID,
        app_id=APP_ID,
        seed=7,
        sent_delay=0.01,
        delivered_delay=0.02,
        read_delay=0.03,
        read_share=1.0,
        reply_delay=0.01,
        review_delay=0.02,
        webhook_retry_initial=0.05,
        webhook_retry_max=0.2,
        hang_seconds=5.0,
    )
    return dataclasses.replace(config, **overrides)


@pytest.fixture
def make_sandbox(webhook_receiver: WebhookReceiver) -> Iterator[Callable[..., BackgroundSandbox]]:
    """Start a sandbox with overrides of :func:`sandbox_config`; webhooks go to the test receiver."""
    started: list[BackgroundSandbox] = []

    def make(**overrides: Any) -> BackgroundSandbox:
        overrides.setdefault("webhook_url", webhook_receiver.url)
        sandbox = BackgroundSandbox(sandbox_config(**overrides)).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., BackgroundSandbox]) -> BackgroundSandbox:
    return make_sandbox()


def client_for(url: str, **overrides: Any) -> CloudApiClient:
    config = CloudApiConfig(
        base_url=url,
        api_version=VERSION,
        phone_number_id=PHONE_NUMBER_ID,
        business_account_id=WABA_ID,
        app_id=APP_ID,
        access_token=TOKEN,
        connect_timeout=1.0,
        read_timeout=1.0,
    )
    return CloudApiClient(dataclasses.replace(config, **overrides))


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[CloudApiClient]:
    api = client_for(sandbox.url)
    yield api
    api.close()


def control(sandbox: BackgroundSandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call a ``/_sandbox/`` endpoint: GET without a body, POST with one."""
    url = f"{sandbox.url}/_sandbox/{path}"
    response = requests.get(url, timeout=5) if body is None else requests.post(url, json=body, timeout=5)
    response.raise_for_status()
    return response.json()


ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2U=:seed"]}},
        {
            "type": "BODY",
            "text": "Hello {{1}}, your order {{2}} is on its way.",
            "example": {"body_text": [["Pablo", "ORD-1"]]},
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Unsubscribe"},
                {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
                {"type": "COPY_CODE", "example": "SAVE20"},
            ],
        },
    ],
}

WELCOME_NAMED = {
    "name": "welcome_named",
    "language": "de",
    "category": "MARKETING",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Hallo {{first_name}}",
            "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Jo"}]},
        },
        {
            "type": "BODY",
            "text": "Schön, dass du da bist, {{first_name}}. Dein Code: {{code}}!",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Jo"},
                    {"param_name": "code", "example": "X1"},
                ]
            },
        },
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
    ],
}


def seed_templates(
    sandbox: BackgroundSandbox, *templates: dict[str, Any], status: str = "APPROVED"
) -> list[dict]:
    return control(sandbox, "templates", {"templates": [{**t, "status": status} for t in templates]})["data"]


def point_app_at(settings, sandbox: BackgroundSandbox) -> BackgroundSandbox:
    """The app's WHATSAPP_* settings (pytest-django's ``settings``) pointed at ``sandbox``."""
    settings.WHATSAPP_BACKEND = "cloud"
    settings.WHATSAPP_API_BASE_URL = sandbox.url
    settings.WHATSAPP_API_VERSION = VERSION
    settings.WHATSAPP_ACCESS_TOKEN = TOKEN
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = WABA_ID
    settings.WHATSAPP_APP_ID = APP_ID
    return sandbox


@pytest.fixture
def app_sandbox(make_sandbox: Callable[..., BackgroundSandbox], settings) -> BackgroundSandbox:
    """A sandbox the app itself talks to: the WHATSAPP_* settings point at it (cloud backend)."""
    sandbox = point_app_at(settings, make_sandbox())
    settings.WHATSAPP_CONNECT_TIMEOUT = 1.0
    settings.WHATSAPP_READ_TIMEOUT = 2.0
    return sandbox
