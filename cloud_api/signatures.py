"""``X-Hub-Signature-256``: HMAC-SHA256 of a webhook's raw body with the app secret.

Signed and checked over the exact bytes on the wire: re-serialised JSON would not match, because
Meta escapes non-ASCII characters. The sandbox signs with :func:`signature_header`; the webhook
view checks with :func:`verify_signature` against the current and, during a rotation, the
previous secret (:func:`app_secrets`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def signature_header(body: bytes, secret: str) -> str:
    """The header value Meta sends: ``sha256=<hex digest>``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header_value: str | None, secrets: Iterable[str]) -> bool:
    """True when ``header_value`` is the signature of ``body`` under any of the non-empty ``secrets``."""
    if not header_value or not header_value.startswith(_PREFIX):
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500).
    received = header_value.removeprefix(_PREFIX).strip().lower().encode("utf-8", "replace")
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        # Compare against every secret, so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected, received)
    return matched


def app_secrets() -> list[str]:
    """The secrets a signature may be made with now: current first, then the previous one if set."""
    from django.conf import settings

    return [s for s in (settings.WHATSAPP_APP_SECRET, settings.WHATSAPP_APP_SECRET_PREVIOUS) if s]
