"""The people on the other end: what happens to a message after "WhatsApp" accepted it, and who writes.

After a send is accepted, the person's phone reports ``sent``, ``delivered`` and (for a share)
``read``; a share of readers answer with text, a quick-reply press or "STOP". Numbers with a
configured ending are not on WhatsApp or fail delivery, with Meta's code in a ``failed`` status.
A test makes a person write first through the control endpoint (:meth:`People.write`); any
inbound message opens that person's 24-hour service window.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import time
from dataclasses import dataclass
from typing import Any

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.events import inbound_event, media_content, pricing, status_event
from cloud_api.sandbox.graph_errors import webhook_error
from cloud_api.sandbox.media_samples import sample_media
from cloud_api.sandbox.state import SandboxState, SandboxTemplate, new_wamid
from cloud_api.sandbox.template_rules import template_shape
from cloud_api.sandbox.webhooks import WebhookSender

REPLY_TEXTS = (
    "Thanks!",
    "Does it come in another color?",
    "When will it arrive?",
    "Can I change my appointment?",
    "👍",
)
FAILURE_DETAILS = {
    131026: "Message Undeliverable.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number.",
    131049: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
    "messages on WhatsApp from your business.",
    131053: "Media upload error: the media id is unknown or of a type this message cannot carry.",
}
# Per-user marketing limits and marketing opt-outs only ever stop marketing templates.
MARKETING_ONLY_CODES = frozenset({131049, 131050})
MEDIA_KINDS = ("image", "video", "document", "audio", "sticker")
DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "document": "application/pdf",
    "audio": "audio/ogg",
    "sticker": "image/webp",
}


@dataclass(frozen=True)
class AcceptedSend:
    """What the people simulation needs to know about one accepted message."""

    wamid: str
    wa_id: str
    payload: dict[str, Any]
    template: SandboxTemplate | None
    window_open: bool
    failure_code: int | None = None  # set when the send must fail asynchronously (window mode "webhook")


def profile_name(wa_id: str) -> str:
    return f"Person {wa_id[-4:]}"


class People:
    def __init__(self, config: SandboxConfig, state: SandboxState, sender: WebhookSender, rng: random.Random):
        self._config = config
        self._state = state
        self._sender = sender
        self._rng = rng

    # --- After a send -----------------------------------------------------------------------

    def _failure_code(self, send: AcceptedSend) -> int | None:
        if send.failure_code is not None:
            return send.failure_code
        for ending, code in self._config.failing_endings.items():
            if send.wa_id.endswith(ending):
                marketing = send.template is not None and send.template.category == "MARKETING"
                if code not in MARKETING_ONLY_CODES or marketing:
                    return code
        return None

    def after_accept(self, send: AcceptedSend) -> None:
        config = self._config
        now = time.time()
        opaque = send.payload.get("biz_opaque_callback_data")
        code = self._failure_code(send)
        if code is not None:
            error = webhook_error(code, FAILURE_DETAILS.get(code, "Message failed to send."))
            self._sender.schedule(
                status_event(
                    send.wamid,
                    "failed",
                    timestamp=now + config.sent_delay,
                    recipient_id=send.wa_id,
                    biz_opaque_callback_data=opaque,
                    errors=[error],
                ),
                config.sent_delay,
            )
            return
        template = send.template
        category = template.category.lower() if template else "service"
        free = template is None or (template.category == "UTILITY" and send.window_open)
        block = pricing(category, free=free)
        read = self._rng.random() < config.read_share
        last_delay = config.read_delay if read else config.delivered_delay
        sent_delay = config.sent_delay
        if self._rng.random() < config.reorder_rate:
            sent_delay = last_delay + 0.05  # `sent` arrives after `delivered`/`read`, as integrators report
        timeline = [("sent", sent_delay, block), ("delivered", config.delivered_delay, block)]
        if read:
            timeline.append(("read", config.read_delay, None))
        for status, delay, pricing_block in timeline:
            event = status_event(
                send.wamid,
                status,
                timestamp=now + delay,
                recipient_id=send.wa_id,
                biz_opaque_callback_data=opaque,
                pricing_block=pricing_block,
            )
            self._sender.schedule(event, delay)
        if read and self._rng.random() < config.reply_share:
            self._reply(send, config.read_delay + config.reply_delay)

    def _reply(self, send: AcceptedSend, delay: float) -> None:
        mix = {kind: weight for kind, weight in self._config.reply_mix.items() if weight > 0}
        kind = self._rng.choices(list(mix), weights=list(mix.values()))[0] if mix else "text"
        context = {"from": self._config.display_phone_number, "id": send.wamid}
        if kind == "stop":
            self._schedule_inbound(send.wa_id, "text", {"body": "STOP"}, None, delay)
            return
        if kind == "button":
            pressed = self._button_press(send)
            if pressed is not None:
                message_type, content = pressed
                self._schedule_inbound(send.wa_id, message_type, content, context, delay)
                return
        self._schedule_inbound(send.wa_id, "text", {"body": self._rng.choice(REPLY_TEXTS)}, None, delay)

    def _button_press(self, send: AcceptedSend) -> tuple[str, dict[str, Any]] | None:
        """A press on one of the message's buttons, as the matching webhook type; None if it has none."""
        payload = send.payload
        if send.template is not None:
            quick_replies = template_shape(send.template.category, send.template.components).quick_replies
            if not quick_replies:
                return None
            button = self._rng.choice(quick_replies)
            sent_payload = button.text
            for component in payload.get("template", {}).get("components") or []:
                if component.get("sub_type") == "quick_reply" and str(component.get("index")) == str(
                    button.index
                ):
                    sent_payload = (component.get("parameters") or [{}])[0].get("payload", button.text)
            return "button", {"payload": sent_payload, "text": button.text}
        interactive = payload.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button" and action.get("buttons"):
            reply = self._rng.choice(action["buttons"]).get("reply", {})
            return "interactive", {
                "type": "button_reply",
                "button_reply": {"id": reply.get("id"), "title": reply.get("title")},
            }
        if interactive.get("type") == "list":
            rows = [row for section in action.get("sections", []) for row in section.get("rows", [])]
            if rows:
                row = self._rng.choice(rows)
                return "interactive", {"type": "list_reply", "list_reply": dict(row)}
        return None

    # --- Inbound ----------------------------------------------------------------------------

    def _schedule_inbound(
        self,
        wa_id: str,
        message_type: str,
        content: Any,
        context: dict | None,
        delay: float,
        name: str | None = None,
    ) -> str:
        wamid = new_wamid()
        at = time.time() + delay
        event = inbound_event(
            wa_id=wa_id,
            name=name or profile_name(wa_id),
            wamid=wamid,
            timestamp=at,
            message_type=message_type,
            content=content,
            context=context,
        )
        self._sender.schedule(event, delay)
        # The window opens when the person actually writes, not when the reply is planned.
        asyncio.get_running_loop().call_later(delay, self._state.record_inbound, wa_id, wamid, at)
        return wamid

    def write(self, request: dict[str, Any]) -> str:
        """A person writes first (control endpoint); returns the inbound message's wamid."""
        wa_id = "".join(ch for ch in str(request.get("from", "")) if ch.isdigit())
        if not wa_id:
            raise ValueError("'from' (the person's number) is required")
        kind = request.get("kind", "text")
        context = (
            {"from": self._config.display_phone_number, "id": request["context"]}
            if request.get("context")
            else None
        )
        message_type, content = self._inbound_content(kind, request)
        return self._schedule_inbound(
            wa_id, message_type, content, context, 0.0, name=request.get("profile_name")
        )

    def _inbound_content(self, kind: str, request: dict[str, Any]) -> tuple[str, Any]:
        if kind == "text":
            return "text", {"body": str(request.get("body", "Hello"))}
        if kind == "opt_in_code":
            # What an opt-in link's prefilled text sends; `text` gives the exact wording.
            code = str(request.get("code", ""))
            return "text", {"body": str(request.get("text") or code)}
        if kind == "button":
            text = str(request.get("text", "OK"))
            return "button", {"payload": str(request.get("payload", text)), "text": text}
        if kind == "button_reply":
            reply = {"id": str(request.get("id", "")), "title": str(request.get("title", ""))}
            return "interactive", {"type": "button_reply", "button_reply": reply}
        if kind == "list_reply":
            reply = {"id": str(request.get("id", "")), "title": str(request.get("title", ""))}
            if request.get("description"):
                reply["description"] = str(request["description"])
            return "interactive", {"type": "list_reply", "list_reply": reply}
        if kind in MEDIA_KINDS:
            media = self._media_sent(kind, request)
            content = media_content(
                kind,
                media_id=media["id"],
                mime_type=media["mime_type"],
                sha256=str(request.get("sha256") or media["sha256"]),
                caption=request.get("caption"),
                filename=request.get("filename"),
            )
            return kind, content
        if kind == "location":
            location = {
                "latitude": float(request.get("latitude", 52.52)),
                "longitude": float(request.get("longitude", 13.405)),
            }
            for key in ("name", "address", "url"):
                if request.get(key):
                    location[key] = request[key]
            return "location", location
        if kind == "reaction":
            if not request.get("message_id"):
                raise ValueError("a reaction needs 'message_id'")
            return "reaction", {"message_id": request["message_id"], "emoji": request.get("emoji", "👍")}
        raise ValueError(f"unknown kind {kind!r}")

    def _media_sent(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        """The file a person sends, kept under its media id so the app can download it.

        ``media_id`` of an uploaded file sends that file; ``content_base64`` gives the exact bytes;
        otherwise a small sample of the kind (``media_samples``). ``sha256`` in the request only
        changes what the webhook claims (a test of a corrupted download), never the bytes.
        """
        media_id = str(request.get("media_id") or "") or None
        if media_id in self._state.media:
            return self._state.media[media_id]
        mime_type = str(request.get("mime_type", DEFAULT_MIME[kind]))
        if request.get("content_base64") is not None:
            try:
                content = base64.b64decode(str(request["content_base64"]), validate=True)
            except binascii.Error:
                raise ValueError("'content_base64' is not base64") from None
        else:
            content = sample_media(kind, mime_type)
        return self._state.add_media(
            content, mime_type=mime_type, filename=request.get("filename"), media_id=media_id
        )
