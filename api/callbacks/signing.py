"""How a callback is signed: HMAC-SHA256, with the key's callback secret, over ``<timestamp>.<body>``.

The timestamp is inside the signed text, so a receiver that rejects old timestamps (five minutes,
docs/api-callbacks.md) cannot be fed a captured callback again later; the event id in the body and
in ``X-Callback-Id`` lets it drop a repeat within that window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

SIGNATURE_HEADER = "X-Signature-256"
TIMESTAMP_HEADER = "X-Callback-Timestamp"
ID_HEADER = "X-Callback-Id"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature-256`` value: ``sha256=`` and the hex HMAC of ``timestamp`` ``.`` ``body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def callback_body(*, event_id: str, type: str, created_at: str, data: dict) -> bytes:
    """The exact bytes posted (and signed): compact UTF-8 JSON."""
    document = {"id": event_id, "type": type, "created_at": created_at, "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def iso_instant(moment: datetime) -> str:
    """Times in callbacks: ISO 8601 in UTC with microseconds, as the outbox's SQL writes them too."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
