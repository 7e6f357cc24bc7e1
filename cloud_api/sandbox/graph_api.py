"""The Graph API routes the sandbox answers like Meta: messages, media, templates, resumable uploads.

Paths are Meta's: ``/{version}/{phone-number-id}/messages``, ``/{version}/{phone-number-id}/media``,
``/{version}/{waba-id}/message_templates``, ``/{version}/{app-id}/uploads``, and
``/{version}/{node}`` for a template id, a media id or an ``upload:<session>``; a media id's
download URL (``/whatsapp_business/attachments/?mid=…``) answers only with the bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cloud_api.sandbox.graph_errors import GraphError, missing_object
from cloud_api.sandbox.send_validation import validate_send
from cloud_api.sandbox.state import UploadSession

if TYPE_CHECKING:
    from cloud_api.sandbox.app import Sandbox

MB = 1024 * 1024
MEDIA_LIMITS = {
    "image/jpeg": 5 * MB,
    "image/png": 5 * MB,
    "image/webp": 500 * 1024,
    "video/mp4": 16 * MB,
    "video/3gpp": 16 * MB,
    "audio/aac": 16 * MB,
    "audio/amr": 16 * MB,
    "audio/mpeg": 16 * MB,
    "audio/mp4": 16 * MB,
    "audio/ogg": 16 * MB,
    "text/plain": 100 * MB,
    "application/pdf": 100 * MB,
    "application/msword": 100 * MB,
    "application/vnd.ms-excel": 100 * MB,
    "application/vnd.ms-powerpoint": 100 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
}
SAMPLE_TYPES = ("application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4")
MAX_UPLOAD_BYTES = 101 * MB
# Where a media id's URL points (Meta's are on lookaside.fbsbx.com) and how long it works.
MEDIA_DOWNLOAD_PATH = "/whatsapp_business/attachments/"
MEDIA_URL_SECONDS = 300.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers_graph_errors(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except GraphError as error:
            return error.response()

    return wrapper


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise GraphError(100, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    return body


class GraphApi:
    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox
        self._config = sandbox.config
        self._state = sandbox.state

    def routes(self) -> list[web.RouteDef]:
        version = "/{version:v[0-9]+\\.[0-9]+}"
        wrap = _answers_graph_errors
        return [
            web.post(version + "/{node}/messages", self.send_message),
            web.post(version + "/{node}/media", wrap(self.upload_media)),
            web.get(version + "/{node}/message_templates", wrap(self.list_templates)),
            web.post(version + "/{node}/message_templates", wrap(self.create_template)),
            web.delete(version + "/{node}/message_templates", wrap(self.delete_templates)),
            web.post(version + "/{node}/uploads", wrap(self.start_upload)),
            web.get(MEDIA_DOWNLOAD_PATH, wrap(self.download_media)),
            web.get(version + "/{node}", wrap(self.get_node)),
            web.post(version + "/{node}", wrap(self.post_node)),
            web.delete(version + "/{node}", wrap(self.delete_node)),
        ]

    # --- Shared checks ----------------------------------------------------------------------

    def _check_token(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme not in ("Bearer", "OAuth") or not token:
            token = request.query.get("access_token", "")
        if not secrets.compare_digest(token.strip().encode(), self._config.access_token.encode()):
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token", status=401)

    def _check_node(self, request: web.Request, expected: str) -> None:
        self._check_token(request)
        node = request.match_info["node"]
        if node != expected:
            raise missing_object(node)

    # --- Messages ---------------------------------------------------------------------------

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox
        await sandbox.faults.delay_answer()
        payload: dict[str, Any] = {}
        try:
            self._check_node(request, self._config.phone_number_id)
            refusal = sandbox.faults.refuse_send()
            if refusal is not None:
                self._state.refusals.append({"at": time.time(), "status": refusal.status, "injected": True})
                return refusal
            payload = await _json_body(request)
            if payload.get("status") == "read":
                return self._mark_read(payload)
            send = validate_send(payload, self._state, self._config, time.time())
        except GraphError as error:
            self._state.refusals.append(
                {
                    "at": time.time(),
                    "status": error.status,
                    "code": error.code,
                    "details": error.details,
                    "to": payload.get("to"),
                    "type": payload.get("type"),
                    "biz_opaque_callback_data": payload.get("biz_opaque_callback_data"),
                }
            )
            return error.response()
        withheld = sandbox.faults.unknown_outcome()
        self._state.messages.append(
            {
                "wamid": send.wamid,
                "to": payload["to"],
                "wa_id": send.wa_id,
                "type": payload.get("type", "text"),
                "biz_opaque_callback_data": payload.get("biz_opaque_callback_data"),
                "accepted_at": time.time(),
                "answer": withheld or "sent",
                "payload": payload,
            }
        )
        sandbox.people.after_accept(send)
        if withheld is not None:
            return await self._withhold_answer(request, withheld)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": payload["to"], "wa_id": send.wa_id}],
                "messages": [{"id": send.wamid}],
            }
        )

    def _mark_read(self, payload: dict[str, Any]) -> web.Response:
        message_id = payload.get("message_id")
        if not message_id:
            raise GraphError(131008, "Required parameter is missing: message_id")
        if message_id not in self._state.inbound_ids:
            raise GraphError(
                100, f"Invalid parameter: message_id {message_id!r} is not a message you received."
            )
        self._state.read_marks.append(message_id)
        return web.json_response({"success": True})

    async def _withhold_answer(self, request: web.Request, mode: str) -> web.StreamResponse:
        """The send was accepted (its webhooks follow) but the caller never learns it."""
        transport = request.transport
        if mode == "hang":
            deadline = time.monotonic() + self._config.hang_seconds
            while transport is not None and not transport.is_closing() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError  # aiohttp ends the request quietly; nothing is written

    # --- Media ------------------------------------------------------------------------------

    async def upload_media(self, request: web.Request) -> web.Response:
        self._check_node(request, self._config.phone_number_id)
        form = await request.post()
        if form.get("messaging_product") != "whatsapp":
            raise GraphError(131008, "Required parameter is missing: messaging_product")
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise GraphError(131008, "Required parameter is missing: file")
        content = upload.file.read()
        mime_type = upload.content_type
        limit = MEDIA_LIMITS.get(mime_type)
        if limit is None:
            raise GraphError(131053, f"Media upload error: {mime_type} is not a supported type.")
        if len(content) > limit:
            raise GraphError(
                131053, f"Media upload error: {len(content)} bytes exceeds {limit} for {mime_type}."
            )
        media = self._state.add_media(content, mime_type=mime_type, filename=upload.filename)
        return web.json_response({"id": media["id"]})

    async def download_media(self, request: web.Request) -> web.Response:
        """A media URL from ``GET /{media-id}``: the bytes, with the bearer token, for 5 minutes."""
        self._check_token(request)
        link = self._state.media_links.get(request.query.get("mid", ""))
        media = self._state.media.get(link[0]) if link and link[1] > time.time() else None
        if media is None:
            raise GraphError(100, "The media URL is unknown or expired; ask for a new one.", status=404)
        return web.Response(body=media["content"], content_type=media["mime_type"])

    # --- Templates --------------------------------------------------------------------------

    async def create_template(self, request: web.Request) -> web.Response:
        self._sandbox.faults.refuse_management()
        self._check_node(request, self._config.business_account_id)
        template = self._sandbox.templates.create(await _json_body(request))
        return web.json_response(
            {"id": template.id, "status": template.status, "category": template.category}
        )

    async def list_templates(self, request: web.Request) -> web.Response:
        self._sandbox.faults.refuse_management()
        self._check_node(request, self._config.business_account_id)
        query = request.query
        fields = [f.strip() for f in query.get("fields", "").split(",") if f.strip()] or None
        templates = sorted(self._state.templates.values(), key=lambda t: int(t.id))
        for key in ("name", "status", "language", "category"):
            if key in query:
                templates = [t for t in templates if str(getattr(t, key)).upper() == query[key].upper()]
        try:
            limit = max(1, min(int(query.get("limit", 25)), 1000))
            start = int(base64.urlsafe_b64decode(query["after"]).decode()) if "after" in query else 0
        except (ValueError, TypeError):
            raise GraphError(100, "Invalid limit or after cursor.") from None
        page = templates[start : start + limit]
        body: dict[str, Any] = {"data": [t.as_graph(fields) for t in page]}
        if page:
            cursors = {
                "before": base64.urlsafe_b64encode(str(start).encode()).decode(),
                "after": base64.urlsafe_b64encode(str(start + len(page)).encode()).decode(),
            }
            body["paging"] = {"cursors": cursors}
            if start + len(page) < len(templates):
                body["paging"]["next"] = str(request.url.update_query({"after": cursors["after"]}))
        return web.json_response(body)

    async def delete_templates(self, request: web.Request) -> web.Response:
        self._sandbox.faults.refuse_management()
        self._check_node(request, self._config.business_account_id)
        name = request.query.get("name")
        if not name:
            raise GraphError(131008, "Required parameter is missing: name")
        self._sandbox.templates.delete(name, request.query.get("hsm_id"))
        return web.json_response({"success": True})

    # --- Resumable upload -------------------------------------------------------------------

    async def start_upload(self, request: web.Request) -> web.Response:
        self._sandbox.faults.refuse_management()
        self._check_node(request, self._config.app_id)
        query = request.query
        file_type = query.get("file_type", "")
        if file_type not in SAMPLE_TYPES:
            raise GraphError(100, f"file_type must be one of {', '.join(SAMPLE_TYPES)}.")
        try:
            file_length = int(query.get("file_length", ""))
        except ValueError:
            raise GraphError(131008, "Required parameter is missing: file_length") from None
        if not 0 < file_length <= MAX_UPLOAD_BYTES:
            raise GraphError(100, "file_length is out of range.")
        session = UploadSession(
            id="upload:" + secrets.token_urlsafe(24),
            file_name=query.get("file_name", "file"),
            file_length=file_length,
            file_type=file_type,
        )
        self._state.upload_sessions[session.id] = session
        return web.json_response({"id": session.id})

    async def _continue_upload(self, request: web.Request, session: UploadSession) -> web.Response:
        try:
            offset = int(request.headers.get("file_offset", ""))
        except ValueError:
            raise GraphError(131008, "Required header is missing: file_offset") from None
        if offset != len(session.received):
            raise GraphError(
                100, f"file_offset {offset} does not match the uploaded {len(session.received)} bytes."
            )
        chunk = await request.read()
        if len(session.received) + len(chunk) > session.file_length:
            raise GraphError(100, "More bytes than file_length.")
        session.received.extend(chunk)
        if len(session.received) < session.file_length:
            return web.json_response({"id": session.id, "file_offset": len(session.received)})
        kind = base64.b64encode(session.file_type.encode()).decode()
        handle = f"4::{kind}:{secrets.token_urlsafe(48)}"
        self._state.header_handles.add(handle)
        return web.json_response({"h": handle})

    # --- Nodes: a template, a media item or an upload session -------------------------------

    async def get_node(self, request: web.Request) -> web.Response:
        self._check_token(request)
        node = request.match_info["node"]
        if node in self._state.upload_sessions:
            session = self._state.upload_sessions[node]
            return web.json_response({"id": session.id, "file_offset": len(session.received)})
        if node in self._state.templates:
            fields = [f for f in request.query.get("fields", "").split(",") if f] or None
            return web.json_response(self._state.templates[node].as_graph(fields))
        if node in self._state.media:
            media = self._state.media[node]
            token = self._state.media_link(node, now=time.time(), lifetime=MEDIA_URL_SECONDS)
            url = request.url.with_path(MEDIA_DOWNLOAD_PATH).with_query({"mid": token})
            return web.json_response(
                {
                    "messaging_product": "whatsapp",
                    "url": str(url),
                    "mime_type": media["mime_type"],
                    "sha256": media["sha256"],
                    "file_size": media["file_size"],
                    "id": node,
                }
            )
        raise missing_object(node)

    async def post_node(self, request: web.Request) -> web.Response:
        self._check_token(request)
        node = request.match_info["node"]
        if node in self._state.upload_sessions:
            return await self._continue_upload(request, self._state.upload_sessions[node])
        template = self._state.templates.get(node)
        if template is None:
            raise missing_object(node)
        self._sandbox.faults.refuse_management()
        self._sandbox.templates.edit(template, await _json_body(request))
        return web.json_response({"success": True})

    async def delete_node(self, request: web.Request) -> web.Response:
        self._check_token(request)
        node = request.match_info["node"]
        if self._state.media.pop(node, None) is None:
            raise missing_object(node)
        return web.json_response({"success": True})
