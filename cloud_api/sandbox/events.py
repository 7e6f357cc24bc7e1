"""The shapes of the webhook events the sandbox sends, modelled on docs/meta-facts.md section 4.

Each function returns one item; :mod:`cloud_api.sandbox.webhooks` wraps due items into Meta's
envelope (``object``, ``entry[]``, ``changes[]``, ``metadata``) and batches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WebhookEvent:
    """One thing to tell the app: a status, an inbound message, or a change of another field.

    ``field`` is the webhook field; for ``messages`` the ``item`` is one status (``kind`` "status")
    or one inbound message (``kind`` "message", with ``contact``); otherwise ``item`` is the whole
    ``value``.
    """

    field: str
    kind: str
    item: dict[str, Any]
    contact: dict[str, Any] | None = None


def pricing(category: str, *, free: bool) -> dict[str, Any]:
    """The PMP ``pricing`` block: templates are billed unless free; service messages never are."""
    return {
        "billable": not free,
        "pricing_model": "PMP",
        "type": "free_customer_service" if free else "regular",
        "category": category,
    }


def status_event(
    wamid: str,
    status: str,
    *,
    timestamp: float,
    recipient_id: str,
    biz_opaque_callback_data: str | None = None,
    pricing_block: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> WebhookEvent:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(timestamp)),
        "recipient_id": recipient_id,
    }
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing_block is not None:
        item["pricing"] = pricing_block
    if errors:
        item["errors"] = errors
    return WebhookEvent("messages", "status", item)


def inbound_event(
    *,
    wa_id: str,
    name: str,
    wamid: str,
    timestamp: float,
    message_type: str,
    content: Any,
    context: dict | None,
) -> WebhookEvent:
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(timestamp)),
        "type": message_type,
    }
    if context:
        message["context"] = context
    message[message_type] = content
    return WebhookEvent("messages", "message", message, contact={"profile": {"name": name}, "wa_id": wa_id})


def media_content(
    kind: str, *, media_id: str, mime_type: str, sha256: str, caption: str | None, filename: str | None
) -> dict:
    """A received media message's object: the id to fetch it by and the SHA-256 of its bytes."""
    content: dict[str, Any] = {"id": media_id, "mime_type": mime_type, "sha256": sha256}
    if caption and kind in ("image", "video", "document"):
        content["caption"] = caption
    if kind == "document":
        content["filename"] = filename or "document.pdf"
    if kind == "audio":
        content["voice"] = False
    if kind == "sticker":
        content["animated"] = False
    return content


def template_status_event(
    *,
    template_id: str,
    name: str,
    language: str,
    category: str,
    event: str,
    reason: str | None,
    rejection_info: dict | None = None,
    other_info: dict | None = None,
) -> WebhookEvent:
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": category,
    }
    if rejection_info:
        value["rejection_info"] = rejection_info
    if other_info:
        value["other_info"] = other_info
    return WebhookEvent("message_template_status_update", "other", value)


def user_preferences_event(
    *, wa_id: str, name: str, value: str, detail: str, timestamp: float
) -> WebhookEvent:
    preference = {
        "wa_id": wa_id,
        "detail": detail,
        "category": "marketing_messages",
        "value": value,
        "timestamp": int(timestamp),
    }
    return WebhookEvent(
        "user_preferences",
        "other",
        {
            "messaging_product": "whatsapp",
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "user_preferences": [preference],
        },
    )


def capability_event(value: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent("business_capability_update", "other", value)
