"""A backend that keeps everything in process memory, for fast unit tests of code around the client.

Like Django's ``locmem`` e-mail backend: what was sent is in ``sent``; a test scripts the next
outcomes with :meth:`InMemoryBackend.script` to exercise refusals, *not sent* and *unknown*.
It checks nothing about templates or windows — tests of those rules use the sandbox.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from cloud_api.client import MediaNotDownloaded
from cloud_api.errors import ErrorClass, MetaError
from cloud_api.outcomes import Accepted, CloudApiCallFailed, Refused, SendOutcome
from cloud_api.payloads import Payload


class InMemoryBackend:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.template_status_on_create = "PENDING"
        self.reset()

    def reset(self) -> None:
        self.sent: list[Payload] = []
        self.read_marks: list[str] = []
        self.templates: dict[str, dict[str, Any]] = {}
        self.media: dict[str, bytes] = {}
        self._scripted: deque[SendOutcome] = deque()

    def script(self, *outcomes: SendOutcome) -> None:
        """The outcomes of the next sends, in order; afterwards sends are accepted again."""
        self._scripted.extend(outcomes)

    def _next_id(self) -> str:
        return str(next(self._ids))

    def send(self, payload: Payload) -> SendOutcome:
        self.sent.append(payload)
        if self._scripted:
            return self._scripted.popleft()
        to = str(payload.get("to", ""))
        return Accepted(
            wamid=f"wamid.memory{self._next_id()}", wa_id="".join(c for c in to if c.isdigit()), input=to
        )

    def send_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> list[SendOutcome]:
        """:meth:`send` for each payload, in order. ``not_before`` is not waited for: nothing leaves the
        process, and tests of code around the client should not sleep through the limiter's slots."""
        return [self.send(payload) for payload in payloads]

    def mark_read(self, message_id: str, *, typing_indicator: bool = False) -> None:
        self.read_marks.append(message_id)

    def create_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Payload],
        parameter_format: str | None = None,
    ) -> dict[str, Any]:
        template_id = self._next_id()
        self.templates[template_id] = {
            "id": template_id,
            "name": name,
            "language": language,
            "category": category,
            "components": list(components),
            "parameter_format": parameter_format or "POSITIONAL",
            "status": self.template_status_on_create,
        }
        return {"id": template_id, "status": self.template_status_on_create, "category": category}

    def list_templates(
        self, *, fields: Sequence[str] = (), filters: Mapping[str, str] | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        for template in list(self.templates.values()):
            if all(str(template.get(k, "")).upper() == str(v).upper() for k, v in (filters or {}).items()):
                yield dict(template)

    def _template(self, template_id: str, operation: str) -> dict[str, Any]:
        if template_id not in self.templates:
            error = MetaError(
                code=100, error_class=ErrorClass.REQUEST_PERMANENT, message="(#100) Invalid parameter"
            )
            raise CloudApiCallFailed(Refused(error), operation=operation)
        return self.templates[template_id]

    def get_template(self, template_id: str) -> dict[str, Any]:
        return dict(self._template(template_id, "get template"))

    def edit_template(
        self, template_id: str, *, components: Sequence[Payload] | None = None, category: str | None = None
    ) -> dict[str, Any]:
        template = self._template(template_id, "edit template")
        if components is not None:
            template["components"] = list(components)
        if category is not None:
            template["category"] = category
        template["status"] = self.template_status_on_create
        return {"success": True}

    def delete_template(self, *, name: str, template_id: str | None = None) -> None:
        for key, template in list(self.templates.items()):
            if template["name"] == name and template_id in (None, key):
                del self.templates[key]

    def upload_media(self, content: bytes, *, mime_type: str, filename: str = "file") -> str:
        media_id = self._next_id()
        self.media[media_id] = content
        return media_id

    def upload_template_sample(self, content: bytes, *, mime_type: str, file_name: str) -> str:
        return f"memory-handle:{self.upload_media(content, mime_type=mime_type)}"

    def get_media(self, media_id: str) -> dict[str, Any]:
        """Meta's answer for a media id this backend holds (a test puts bytes in ``media`` first)."""
        content = self.media[media_id]
        return {
            "id": media_id,
            "url": f"memory://media/{media_id}",
            "mime_type": "application/octet-stream",
            "sha256": hashlib.sha256(content).hexdigest(),
            "file_size": len(content),
        }

    def download_media(self, url: str, *, destination: BinaryIO, max_bytes: int) -> int:
        content = self.media[url.rsplit("/", 1)[-1]]
        if len(content) > max_bytes:
            raise MediaNotDownloaded(f"the file is larger than {max_bytes} bytes")
        destination.write(content)
        return len(content)
