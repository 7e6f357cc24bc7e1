"""End to end over real HTTP: another system opts a person in and sends them an order update through
the API (the live server), the dispatcher sends it to the sandbox, the sandbox's signed status
webhooks come back to the live server, and the status reaches both ``GET /api/v1/messages/{id}/``
and the key's callback receiver, signed."""

import functools
import hashlib
import hmac
import time

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone
from django_q.tasks import async_task

import messaging.webhooks.tasks
from api.callbacks import delivery
from api.models import ApiKey, Scope
from api.tasks import deliver_callbacks
from messaging.sending import halt as halt_module
from messaging.tasks import dispatch
from tests.api.callback_world import SECRET, receiver  # noqa: F401 (a fixture)
from tests.messaging.conftest import ORDER_PARAMETERS
from tests.messaging.test_dispatch_sandbox import sandbox_templates
from tests.sandbox import control, wait_until

pytest_plugins = ["tests.api.messaging_world"]
# PostgreSQL: SQLite's shared in-memory test database refuses a read while another thread (here the
# webhook's processing) writes, instead of waiting, which the live server answers with a 500.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.slow,
    pytest.mark.postgres,
]

PERSON = "+4915198765432"


@pytest.fixture
def world(live_server, app_sandbox, make_sandbox, demo_templates, settings, monkeypatch):
    """The app sends to a sandbox whose webhooks go to the live server; webhooks are processed at
    once (sync tasks); the dispatcher and the deliverer are run by the test, in order."""
    sandbox = make_sandbox(webhook_url=live_server.url + "/webhooks/whatsapp/")
    settings.WHATSAPP_API_BASE_URL = sandbox.url
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.MARKETING_SENDING_HOURS = ""
    cache.delete(halt_module.CACHE_KEY)
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    monkeypatch.setattr(delivery, "async_task", lambda *args, **kwargs: None)  # the test delivers
    control(sandbox, "templates", {"templates": sandbox_templates(demo_templates.values())})
    return live_server, sandbox


def test_api_opt_in_send_status_and_callback(world, receiver):  # noqa: F811 (the fixture)
    live_server, sandbox = world
    raw, prefix, digest = ApiKey.generate()
    ApiKey.objects.create(
        name="Shop",
        prefix=prefix,
        key_hash=digest,
        scopes=[scope.value for scope in Scope],
        callback_url=receiver.url,
        callback_secret=SECRET,
    )
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {raw}"
    base = live_server.url + "/api/v1"

    created = api.post(f"{base}/contacts/", json={"phone": PERSON, "first_name": "Pablo"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    opted_in = api.post(
        f"{base}/contacts/{contact_id}/consents/",
        json={
            "action": "opt_in",
            "purpose": "service",
            "source": "checkout",
            "occurred_at": timezone.now().isoformat(),
            "wording_text": "Send me order updates on WhatsApp.",
            "evidence": {"order": "ORD-9271", "checkbox": "whatsapp_updates"},
        },
    )
    assert opted_in.status_code == 201, opted_in.text
    queued = api.post(
        f"{base}/messages/",
        json={
            "contact": contact_id,
            "template": {"name": "order_update", "language": "en", "parameters": ORDER_PARAMETERS},
        },
        headers={"Idempotency-Key": "order-9271-shipped"},
    )
    assert queued.status_code == 202, queued.text
    message_id = queued.json()["id"]

    dispatch()  # what the woken worker does
    (sent,) = control(sandbox, "messages")["data"]
    assert sent["biz_opaque_callback_data"] == message_id

    def state():
        return api.get(f"{base}/messages/{message_id}/").json()["state"]

    wait_until(lambda: state() == "read", timeout=30)
    wait_until(lambda: control(sandbox, "health")["pending_webhooks"] == 0)
    body = api.get(f"{base}/messages/{message_id}/").json()
    assert [s["status"] for s in body["statuses"]][-1] == "read"

    assert deliver_callbacks().split()[0] != "0"
    events = [r for r in receiver.requests if r.json["type"] == "message.status"]
    assert events and events[-1].json["data"]["state"] == "read"
    for request in events:
        timestamp = request.headers["X-Callback-Timestamp"]
        expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
        assert request.headers["X-Signature-256"] == f"sha256={expected.hexdigest()}"
        assert abs(time.time() - int(timestamp)) < 300
