"""The sandbox's own endpoints under ``/_sandbox/``: what tests read, and what they make happen.

Read: what was accepted, refused, delivered as webhooks. Make happen: a person writes first, a
marketing opt-out via ``user_preferences``, a messaging-tier change, a template's status, an
outage, new fault rates. No token is needed: the sandbox listens on loopback only.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cloud_api.sandbox.events import capability_event, user_preferences_event
from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.people import profile_name
from cloud_api.sandbox.state import digits

if TYPE_CHECKING:
    from cloud_api.sandbox.app import Sandbox

PREFERENCE_DETAILS = {
    "stop": "User requested to stop marketing messages",
    "resume": "User requested to resume marketing messages",
    "signup": "User signed up for marketing messages",
}
TIERS = ("TIER_250", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED")


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise _bad_request("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("the body must be a JSON object")
    return body


class ControlApi:
    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox
        self._state = sandbox.state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sandbox/health", self.health),
            web.get("/_sandbox/messages", self.messages),
            web.get("/_sandbox/refusals", self.refusals),
            web.get("/_sandbox/webhooks", self.webhooks),
            web.get("/_sandbox/read_marks", self.read_marks),
            web.post("/_sandbox/inbound", self.inbound),
            web.post("/_sandbox/window", self.window),
            web.post("/_sandbox/user_preferences", self.user_preferences),
            web.post("/_sandbox/tier", self.tier),
            web.get("/_sandbox/templates", self.templates),
            web.post("/_sandbox/templates", self.upsert_templates),
            web.post("/_sandbox/templates/{template_id}/status", self.template_status),
            web.get("/_sandbox/config", self.get_config),
            web.post("/_sandbox/config", self.update_config),
            web.post("/_sandbox/outage", self.outage),
            web.post("/_sandbox/reset", self.reset),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "pending_webhooks": self._sandbox.webhooks.pending})

    async def messages(self, request: web.Request) -> web.Response:
        """Accepted sends, oldest first; ``?to=`` filters by number (digits compared)."""
        data = list(self._state.messages)
        if "to" in request.query:
            wanted = digits(request.query["to"])
            data = [m for m in data if m["wa_id"] == wanted or digits(m["to"]) == wanted]
        return web.json_response({"data": data})

    async def refusals(self, request: web.Request) -> web.Response:
        return web.json_response({"data": list(self._state.refusals)})

    async def webhooks(self, request: web.Request) -> web.Response:
        sender = self._sandbox.webhooks
        return web.json_response(
            {
                "pending": sender.pending,
                "delivered_bodies": sender.delivered_bodies,
                "dropped_bodies": sender.dropped_bodies,
                "attempts": list(sender.attempts),
            }
        )

    async def read_marks(self, request: web.Request) -> web.Response:
        return web.json_response({"data": list(self._state.read_marks)})

    async def inbound(self, request: web.Request) -> web.Response:
        """A person writes first: ``{"from", "kind", ...}``; kinds in docs/sandbox.md."""
        try:
            wamid = self._sandbox.people.write(await _body(request))
        except (ValueError, TypeError) as exc:
            raise _bad_request(str(exc)) from None
        return web.json_response({"wamid": wamid})

    async def window(self, request: web.Request) -> web.Response:
        """Open (or with ``"open": false`` close) a person's service window without a webhook."""
        body = await _body(request)
        wa_id = digits(str(body.get("wa_id", "")))
        if not wa_id:
            raise _bad_request("'wa_id' is required")
        if body.get("open", True):
            self._state.last_inbound[wa_id] = time.time()
        else:
            self._state.last_inbound.pop(wa_id, None)
        return web.json_response({"wa_id": wa_id, "open": bool(body.get("open", True))})

    async def user_preferences(self, request: web.Request) -> web.Response:
        body = await _body(request)
        wa_id = digits(str(body.get("wa_id", "")))
        value = body.get("value", "stop")
        if not wa_id or value not in PREFERENCE_DETAILS:
            raise _bad_request("give 'wa_id' and 'value' (stop, resume or signup)")
        event = user_preferences_event(
            wa_id=wa_id,
            name=body.get("name") or profile_name(wa_id),
            value=value,
            detail=body.get("detail") or PREFERENCE_DETAILS[value],
            timestamp=time.time(),
        )
        self._sandbox.webhooks.schedule(event)
        return web.json_response({"ok": True})

    async def tier(self, request: web.Request) -> web.Response:
        """Change the messaging tier: a ``business_capability_update`` webhook.

        The value's shape is [UNVERIFIED] beyond the field name; ``value`` replaces it entirely.
        """
        body = await _body(request)
        tier = body.get("tier", "")
        if tier not in TIERS and "value" not in body:
            raise _bad_request(f"'tier' is one of {', '.join(TIERS)} (or give the whole 'value')")
        self._state.messaging_tier = tier or self._state.messaging_tier
        value = body.get("value") or {"max_daily_conversations_per_business": tier}
        self._sandbox.webhooks.schedule(capability_event(value))
        return web.json_response({"tier": self._state.messaging_tier})

    async def templates(self, request: web.Request) -> web.Response:
        data = [t.as_graph() for t in self._state.templates.values()]
        return web.json_response({"data": data})

    async def upsert_templates(self, request: web.Request) -> web.Response:
        """``{"templates": [...], "notify": false}`` or one template; status defaults to APPROVED."""
        body = await _body(request)
        items = body.get("templates", [body])
        notify = bool(body.get("notify", False))
        try:
            saved = [self._sandbox.templates.upsert(item, notify=notify) for item in items]
        except GraphError as error:
            raise _bad_request(error.details) from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise _bad_request(str(exc)) from None
        return web.json_response({"data": [t.as_graph() for t in saved]})

    async def template_status(self, request: web.Request) -> web.Response:
        """Set a template's status (PAUSED, DISABLED, APPROVED …) and announce it by webhook."""
        template = self._state.templates.get(request.match_info["template_id"])
        if template is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "no such template"}), content_type="application/json"
            )
        body = await _body(request)
        status = body.get("status")
        if not status:
            raise _bad_request("'status' is required")
        self._sandbox.templates.set_status(
            template,
            status,
            reason=body.get("reason"),
            notify=body.get("notify", True),
            other_info=body.get("other_info"),
        )
        return web.json_response(template.as_graph())

    async def get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self._sandbox.config.as_json())

    async def update_config(self, request: web.Request) -> web.Response:
        try:
            self._sandbox.config.update(await _body(request))
        except (ValueError, TypeError, AttributeError) as exc:
            raise _bad_request(str(exc)) from None
        return web.json_response(self._sandbox.config.as_json())

    async def outage(self, request: web.Request) -> web.Response:
        """Stop listening for ``seconds``: every connection is refused meanwhile (provably not sent)."""
        body = await _body(request)
        seconds = float(body.get("seconds", 5.0))
        if not 0 < seconds <= 3600:
            raise _bad_request("'seconds' is between 0 and 3600")
        self._sandbox.start_outage(seconds)
        return web.json_response({"outage_seconds": seconds})

    async def reset(self, request: web.Request) -> web.Response:
        """Forget messages, refusals, windows and webhook records (templates too with ``templates``)."""
        body = await _body(request)
        self._state.reset(templates=bool(body.get("templates", False)))
        self._sandbox.webhooks.attempts.clear()
        return web.json_response({"ok": True})
