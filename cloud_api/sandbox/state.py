"""What "WhatsApp" knows: templates, accepted messages, open service windows, media and uploads.

Everything lives in the sandbox's one event loop, so no locks are needed; the control endpoints
expose it to tests as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

TEMPLATE_FIELDS = ("id", "name", "language", "category", "status", "parameter_format", "components")


def new_wamid() -> str:
    """An id shaped like Meta's: ``wamid.`` + base64; unique, opaque."""
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)).decode()


_NON_DIGITS = re.compile(r"\D")


def digits(number: str) -> str:
    return _NON_DIGITS.sub("", number)


@dataclass
class SandboxTemplate:
    id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
    status: str = "PENDING"
    rejected_reason: str = "NONE"
    quality_score: str = "UNKNOWN"
    edits: list[float] = field(default_factory=list)  # wall-clock times of edits, for Meta's edit limits

    def as_graph(self, fields: list[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "rejected_reason": self.rejected_reason,
            "quality_score": {"score": self.quality_score},
        }
        if fields:
            data = {key: value for key, value in data.items() if key in fields or key == "id"}
        return data


@dataclass
class UploadSession:
    id: str
    file_name: str
    file_length: int
    file_type: str
    received: bytearray = field(default_factory=bytearray)


@dataclass
class SandboxState:
    record_limit: int = 100_000
    templates: dict[str, SandboxTemplate] = field(default_factory=dict)
    # Wall-clock time of each person's latest message, by wa_id: their service window.
    last_inbound: dict[str, float] = field(default_factory=dict)
    inbound_ids: set[str] = field(default_factory=set)
    # Media by id: uploads and what sandbox people sent (``add_media``), with their bytes.
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Download links handed out by ``GET /{media-id}``: token → (media id, expiry wall-clock time).
    media_links: dict[str, tuple[str, float]] = field(default_factory=dict)
    upload_sessions: dict[str, UploadSession] = field(default_factory=dict)
    header_handles: set[str] = field(default_factory=set)
    read_marks: list[str] = field(default_factory=list)
    messaging_tier: str = "TIER_250"

    def __post_init__(self) -> None:
        self._ids = itertools.count(int(time.time()) * 1000)
        self.messages: deque[dict[str, Any]] = deque(maxlen=self.record_limit)
        self.refusals: deque[dict[str, Any]] = deque(maxlen=self.record_limit)

    def new_id(self) -> str:
        """A numeric id like Meta's object ids."""
        return str(next(self._ids))

    def reset(self, *, templates: bool = False) -> None:
        self.messages.clear()
        self.refusals.clear()
        self.last_inbound.clear()
        self.inbound_ids.clear()
        self.read_marks.clear()
        if templates:
            self.templates.clear()

    def add_media(
        self, content: bytes, *, mime_type: str, filename: str | None = None, media_id: str | None = None
    ) -> dict[str, Any]:
        """Keep a media file as Meta does for a media id: its bytes, type, size and SHA-256."""
        media_id = media_id or self.new_id()
        media = {
            "id": media_id,
            "mime_type": mime_type,
            "file_size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "filename": filename,
            "content": content,
        }
        self.media[media_id] = media
        return media

    def media_link(self, media_id: str, *, now: float, lifetime: float) -> str:
        """A new download token for ``media_id``, valid for ``lifetime`` seconds (Meta: 5 minutes)."""
        for token, (_, expires) in list(self.media_links.items()):
            if expires <= now:
                del self.media_links[token]
        token = secrets.token_urlsafe(24)
        self.media_links[token] = (media_id, now + lifetime)
        return token

    def find_template(self, name: str, language: str) -> SandboxTemplate | None:
        for template in self.templates.values():
            if template.name == name and template.language == language:
                return template
        return None

    def window_open(self, wa_id: str, now: float, window_seconds: float) -> bool:
        opened = self.last_inbound.get(wa_id)
        return opened is not None and now - opened < window_seconds

    def record_inbound(self, wa_id: str, wamid: str, at: float) -> None:
        self.last_inbound[wa_id] = max(at, self.last_inbound.get(wa_id, 0.0))
        self.inbound_ids.add(wamid)
