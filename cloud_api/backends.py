"""The backend chosen by ``WHATSAPP_BACKEND``, like Django's e-mail backends.

``cloud`` is :class:`CloudApiClient` against ``WHATSAPP_API_BASE_URL`` (Meta or the sandbox);
``memory`` is :class:`InMemoryBackend`. Code that sends calls :func:`get_backend` and never
builds a client itself, so one pooled session serves the whole process.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from cloud_api.client import CloudApiClient, CloudApiConfig
from cloud_api.memory import InMemoryBackend
from cloud_api.outcomes import SendOutcome
from cloud_api.payloads import Payload


class WhatsAppBackend(Protocol):
    def send(self, payload: Payload) -> SendOutcome: ...

    def send_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> list[SendOutcome]:
        """Outcomes in the order of ``payloads``; request i leaves no earlier than ``not_before[i]``."""

    def mark_read(self, message_id: str, *, typing_indicator: bool = False) -> None: ...

    def create_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Payload],
        parameter_format: str | None = None,
    ) -> dict[str, Any]: ...

    def list_templates(
        self, *, fields: Sequence[str] = (), filters: Mapping[str, str] | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]: ...

    def get_template(self, template_id: str) -> dict[str, Any]: ...

    def edit_template(
        self, template_id: str, *, components: Sequence[Payload] | None = None, category: str | None = None
    ) -> dict[str, Any]: ...

    def delete_template(self, *, name: str, template_id: str | None = None) -> None: ...

    def upload_media(self, content: bytes, *, mime_type: str, filename: str = "file") -> str: ...

    def upload_template_sample(self, content: bytes, *, mime_type: str, file_name: str) -> str: ...

    def get_media(self, media_id: str) -> dict[str, Any]: ...

    def download_media(self, url: str, *, destination: BinaryIO, max_bytes: int) -> int: ...


_memory_backend = InMemoryBackend()


@functools.lru_cache(maxsize=8)
def _cloud_client(config: CloudApiConfig) -> CloudApiClient:
    return CloudApiClient(config)


def get_backend() -> WhatsAppBackend:
    """The process's backend for the current settings (one client per distinct configuration)."""
    from django.conf import settings

    if settings.WHATSAPP_BACKEND == "memory":
        return _memory_backend
    return _cloud_client(CloudApiConfig.from_settings())
