"""Meta's error answers, shaped as in docs/meta-facts.md 1.6, raised from anywhere in a handler.

Titles come from the client's code table, so the sandbox and the classifier agree on what a
code means; ``details`` says what exactly was wrong, as Meta's ``error_data.details`` does.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from cloud_api.errors import lookup


def _title(code: int) -> str:
    row = lookup(code)
    return row.meaning.rstrip(".") if row else "Unknown error"


def error_body(code: int, details: str, *, subcode: int | None = None) -> dict[str, Any]:
    """The ``{"error": {...}}`` body; also used, minus the envelope, for ``errors[]`` in webhooks."""
    error: dict[str, Any] = {
        "message": f"(#{code}) {_title(code)}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def webhook_error(code: int, details: str) -> dict[str, Any]:
    """One item of a status webhook's ``errors[]``."""
    title = _title(code)
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "/documentation/business-cloud_api/support/error-codes",
    }


class GraphError(Exception):
    """Raised by validation; the route turns it into Meta's answer."""

    def __init__(self, code: int, details: str, *, status: int = 400, subcode: int | None = None):
        super().__init__(f"({code}) {details}")
        self.code = code
        self.details = details
        self.status = status
        self.subcode = subcode

    def response(self) -> web.Response:
        return web.json_response(
            error_body(self.code, self.details, subcode=self.subcode), status=self.status
        )


def missing_object(node: str) -> GraphError:
    """Meta's answer for an id that is not ours: code 100, subcode 33."""
    return GraphError(
        100,
        f"Unsupported request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.",
        subcode=33,
    )
