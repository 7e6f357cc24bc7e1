"""What an HTTP answer of the Cloud API means: the one table both clients read an answer with.

The ``requests`` client (:mod:`cloud_api.client`, one request at a time) and the aiohttp client
(:mod:`cloud_api.async_client`, many at once) differ only in how they fail before an answer exists
(each library has its own exceptions, mapped to the same outcomes in each module). Once a status and
a body exist, both call :func:`read_answer` and, for a send, :func:`send_outcome`, so an answer
cannot mean one thing on one path and another on the other.
"""

from __future__ import annotations

import json
from typing import Any

from cloud_api.errors import MetaError
from cloud_api.outcomes import Accepted, Failure, OutcomeUnknown, Refused, SendOutcome


def read_answer(status: int, body: bytes) -> dict[str, Any] | Failure:
    """Meta's JSON answer on success, else the failure with what it means for a retry."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:  # includes UnicodeDecodeError
        parsed = None
    if status < 400:
        if isinstance(parsed, dict):
            return parsed
        # Something answered 2xx but not with Meta's JSON: the request arrived, its fate is unclear.
        return OutcomeUnknown(f"HTTP {status} with an unreadable body")
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return Refused(MetaError.from_graph_error(parsed["error"], http_status=status))
    if status == 504:
        # A gateway gave up waiting for Meta, which may still have accepted the message.
        return OutcomeUnknown("HTTP 504 from a gateway: Meta may have accepted the request")
    return Refused(MetaError.without_code(status, body.decode("utf-8", errors="replace")))


def send_outcome(result: dict[str, Any] | Failure) -> SendOutcome:
    """A send's outcome from :func:`read_answer`'s result: accepted only with a message id."""
    if not isinstance(result, dict):
        return result
    try:
        contact = result["contacts"][0]
        message = result["messages"][0]
        return Accepted(
            wamid=message["id"],
            wa_id=contact.get("wa_id", ""),
            input=contact.get("input", ""),
            message_status=message.get("message_status"),
            body=result,
        )
    except (KeyError, IndexError, TypeError, AttributeError):
        return OutcomeUnknown(f"success answer without a message id: {json.dumps(result)[:300]}")
