"""Signed webhook bodies for the webhook tests, and the ``deliver`` fixture that posts them.

Bodies are built as Meta builds them (docs/meta-facts.md 4.6) and signed with settings.WHATSAPP_APP_SECRET
over the exact bytes posted. ``deliver`` runs the queued processing in django-q2's sync mode, as the
documented way to test tasks, so a test sees what a worker would have done.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

import pytest
from django.conf import settings

from cloud_api.signatures import signature_header

URL = "/webhooks/whatsapp/"
WABA_ID = "102290129340398"
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
_counter = itertools.count(1)


def sign(body: bytes, secret: str | None = None) -> str:
    return signature_header(body, secret or settings.WHATSAPP_APP_SECRET)


def envelope(*changes: dict[str, Any], entry_time: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": WABA_ID, "changes": list(changes)}
    if entry_time is not None:
        entry["time"] = entry_time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def change(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"field": field, "value": value}


def messages_change(
    *, statuses: list | None = None, messages: list | None = None, contacts: list | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": METADATA}
    if statuses is not None:
        value["statuses"] = statuses
    if messages is not None:
        value["messages"] = messages
    if contacts is not None:
        value["contacts"] = contacts
    return change("messages", value)


def status(wamid: str, state: str, at: int | None = None, **extra: Any) -> dict[str, Any]:
    item = {
        "id": wamid,
        "status": state,
        "timestamp": str(at or int(time.time())),
        "recipient_id": "4915112345678",
    }
    if state in ("sent", "delivered"):
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing",
        }
    item.update(extra)
    return item


def statuses_body(*items: dict[str, Any]) -> dict[str, Any]:
    return envelope(messages_change(statuses=list(items)))


def new_wamid(prefix: str = "in") -> str:
    return f"wamid.{prefix}.{next(_counter)}.{uuid.uuid4().hex[:12]}"


def inbound(
    kind: str,
    content: Any,
    *,
    wa_id: str = "4915112345678",
    name: str = "Pablo N.",
    wamid: str | None = None,
    at: int | None = None,
    context: dict | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """An envelope with one inbound message of ``kind`` from ``wa_id``."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid or new_wamid(),
        # Meta's whole seconds, rounded up so the message is not older than what the test set up
        # just before it (processing reads a time in the future as now).
        "timestamp": str(at or int(time.time()) + 1),
        "type": kind,
    }
    if kind == "contacts":
        message["contacts"] = content
    else:
        message[kind] = content
    if context:
        message["context"] = context
    sender: dict[str, Any] = {"profile": {"name": name}, "wa_id": wa_id}
    if user_id:
        sender["user_id"] = user_id
    return envelope(messages_change(messages=[message], contacts=[sender]))


def text_message(body: str, **kwargs: Any) -> dict[str, Any]:
    return inbound("text", {"body": body}, **kwargs)


def encode(payload: dict[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, monkeypatch):
    """POST a signed body (dict or raw bytes) as Meta does; queued processing runs before it returns.

    Only the webhook's own task runs in django-q2's sync mode; what processing queues for the send
    path (a confirmation) stays queued, as it would until a worker picks it up.
    """
    import functools

    from django_q.tasks import async_task

    import messaging.webhooks.tasks

    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    # The processor runs inline here: no other process can hold a stale sighting of it.
    monkeypatch.setattr(messaging.webhooks.tasks, "SIGHTING_SECONDS", 0.0)
    monkeypatch.setattr(messaging.webhooks.tasks, "SLEEP_GRACE_SECONDS", 0.0)

    def post(payload: dict[str, Any] | bytes, *, signature: str | None = None, headers: dict | None = None):
        body = encode(payload)
        extra = {"HTTP_X_HUB_SIGNATURE_256": signature if signature is not None else sign(body)}
        extra.update(headers or {})
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", **extra)

    return post


def outbound(
    contact, *, wamid: str | None = "auto", status: str = "accepted", outcome: str = "accepted", **fields
):
    """An outbound message with one attempt, made with the ORM (as the send path would leave it)."""
    from django.utils import timezone

    from messaging.models import MessageKind, OutboundMessage, SendAttempt

    fields.setdefault("kind", MessageKind.TEMPLATE if fields.get("template_version") else MessageKind.TEXT)
    message = OutboundMessage.objects.create(
        contact=contact,
        status=status,
        actor_kind="system",
        actor_label="tests",
        attempt_count=1,
        accepted_at=timezone.now() if outcome == "accepted" else None,
        **fields,
    )
    SendAttempt.objects.create(
        message=message,
        number=1,
        outcome=outcome,
        wamid=new_wamid("out") if wamid == "auto" else wamid,
        finished_at=timezone.now(),
    )
    return message
