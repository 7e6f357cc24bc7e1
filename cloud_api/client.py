"""The only code that speaks HTTP to the Cloud API (Meta's, or the sandbox's: they differ by base URL).

One pooled ``requests.Session`` per client, separate connect and read timeouts, the bearer token
on every call. Every request ends in one of the outcomes of :mod:`cloud_api.outcomes`:
sends return it, management calls return Meta's answer or raise :class:`CloudApiCallFailed`
carrying it. Answers are read by :mod:`cloud_api.answers`, the same table ``send_many`` (many sends
at once, over aiohttp: :mod:`cloud_api.async_client`) reads them with.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from cloud_api.answers import read_answer, send_outcome
from cloud_api.async_client import BulkSender
from cloud_api.outcomes import CloudApiCallFailed, Failure, NotSent, OutcomeUnknown, SendOutcome
from cloud_api.payloads import Payload, mark_read

logger = logging.getLogger(__name__)

# Meta's media ids are numeric; anything else must not become a path on the Graph API.
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class MediaNotDownloaded(Exception):
    """A media download refused on our side: an unsafe URL or a file over the size allowed."""


# The MIME types the Resumable Upload API takes for a template's media sample (docs/meta-facts.md 8.2).
SAMPLE_MIME_TYPES = frozenset({"application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"})


@dataclass(frozen=True)
class CloudApiConfig:
    """Where the Cloud API is and who we are there; read once from settings."""

    base_url: str
    api_version: str
    phone_number_id: str
    business_account_id: str
    app_id: str
    access_token: str
    connect_timeout: float
    read_timeout: float
    # Requests of one send_many in flight at once (WHATSAPP_SEND_CONCURRENCY).
    send_concurrency: int = 64

    @classmethod
    def from_settings(cls) -> CloudApiConfig:
        from django.conf import settings

        return cls(
            base_url=settings.WHATSAPP_API_BASE_URL.rstrip("/"),
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            app_id=settings.WHATSAPP_APP_ID,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            connect_timeout=settings.WHATSAPP_CONNECT_TIMEOUT,
            read_timeout=settings.WHATSAPP_READ_TIMEOUT,
            send_concurrency=settings.WHATSAPP_SEND_CONCURRENCY,
        )


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when urllib3 failed before a connection existed, so no byte of the request left."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class CloudApiClient:
    """Sends messages, manages templates and uploads media; safe to share between threads."""

    def __init__(self, config: CloudApiConfig, *, pool_size: int = 32):
        self.config = config
        self._session = requests.Session()
        # No automatic retries: whether a retry is safe is exactly what the outcome tells the caller.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"Authorization": f"Bearer {config.access_token}"})
        self._timeout = (config.connect_timeout, config.read_timeout)
        # The aiohttp sender for send_many, started on first use (most processes never send in bulk).
        self._bulk: BulkSender | None = None
        self._bulk_lock = threading.Lock()

    def close(self) -> None:
        self._session.close()
        with self._bulk_lock:
            if self._bulk is not None:
                self._bulk.close()
                self._bulk = None

    def _url(self, *path: str) -> str:
        return "/".join((self.config.base_url, self.config.api_version, *path))

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any] | Failure:
        """Meta's JSON answer on success, else the failure with what it means for a retry."""
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.ConnectTimeout as exc:
            return NotSent(f"connect timeout after {self.config.connect_timeout}s: {exc}")
        except requests.ReadTimeout as exc:
            return OutcomeUnknown(f"no answer within {self.config.read_timeout}s: {exc}")
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                return NotSent(f"could not connect: {exc}")
            return OutcomeUnknown(f"connection lost after connecting: {exc}")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema):
            raise  # A configuration mistake, not an outcome.
        except requests.RequestException as exc:
            return OutcomeUnknown(f"request failed after connecting: {exc}")
        return read_answer(response.status_code, response.content)

    def _management_call(self, operation: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        result = self._request(method, url, **kwargs)
        if isinstance(result, dict):
            return result
        logger.warning("WhatsApp %s failed: %s", operation, result)
        raise CloudApiCallFailed(result, operation=operation)

    # --- Messages ---------------------------------------------------------------------------

    def send(self, payload: Payload) -> SendOutcome:
        """Send one message built by :mod:`cloud_api.payloads`."""
        return send_outcome(
            self._request("POST", self._url(self.config.phone_number_id, "messages"), json=payload)
        )

    def send_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> list[SendOutcome]:
        """Send many messages concurrently (aiohttp); outcomes in the order of ``payloads``.

        ``not_before[i]`` is a ``time.time()`` instant before which request ``i`` does not leave (the
        limiter's slots). See :class:`cloud_api.async_client.BulkSender`.
        """
        return self._bulk_sender().send_many(payloads, not_before=not_before)

    def start_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> Future[list[SendOutcome]]:
        """:meth:`send_many` without waiting for the answers (they arrive in the future): the batch
        dispatcher writes the next sub-batch's attempts while these requests are in flight."""
        return self._bulk_sender().start_many(payloads, not_before=not_before)

    def _bulk_sender(self) -> BulkSender:
        with self._bulk_lock:
            if self._bulk is None or not self._bulk.usable():
                self._bulk = BulkSender(self.config)
            return self._bulk

    def mark_read(self, message_id: str, *, typing_indicator: bool = False) -> None:
        """Blue ticks on an inbound message; repeating it is harmless."""
        self._management_call(
            "mark as read",
            "POST",
            self._url(self.config.phone_number_id, "messages"),
            json=mark_read(message_id, typing_indicator=typing_indicator),
        )

    # --- Templates --------------------------------------------------------------------------

    def create_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        components: Sequence[Payload],
        parameter_format: str | None = None,
    ) -> dict[str, Any]:
        """Submit a template for review; Meta answers ``{"id", "status", "category"}``."""
        body: Payload = {"name": name, "language": language, "category": category, "components": components}
        if parameter_format is not None:
            body["parameter_format"] = parameter_format
        return self._management_call(
            "create template",
            "POST",
            self._url(self.config.business_account_id, "message_templates"),
            json=body,
        )

    def list_templates(
        self,
        *,
        fields: Sequence[str] = (),
        filters: Mapping[str, str] | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every template of the business account, following Meta's cursor paging.

        ``filters`` are passed through, e.g. ``{"status": "APPROVED", "name": "order_update"}``.
        """
        params: dict[str, Any] = {"limit": page_size, **(filters or {})}
        if fields:
            params["fields"] = ",".join(fields)
        url = self._url(self.config.business_account_id, "message_templates")
        while True:
            page = self._management_call("list templates", "GET", url, params=params)
            yield from page.get("data", [])
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params["after"] = after

    def get_template(self, template_id: str) -> dict[str, Any]:
        return self._management_call("get template", "GET", self._url(template_id))

    def edit_template(
        self,
        template_id: str,
        *,
        components: Sequence[Payload] | None = None,
        category: str | None = None,
    ) -> dict[str, Any]:
        """Replace a template's components and/or category; Meta reviews it again."""
        body: Payload = {}
        if components is not None:
            body["components"] = list(components)
        if category is not None:
            body["category"] = category
        return self._management_call("edit template", "POST", self._url(template_id), json=body)

    def delete_template(self, *, name: str, template_id: str | None = None) -> None:
        """Delete by name (every language) or, with ``template_id``, that one language version."""
        params = {"name": name}
        if template_id is not None:
            params["hsm_id"] = template_id
        self._management_call(
            "delete template",
            "DELETE",
            self._url(self.config.business_account_id, "message_templates"),
            params=params,
        )

    # --- Media ------------------------------------------------------------------------------

    def upload_media(self, content: bytes, *, mime_type: str, filename: str = "file") -> str:
        """Upload media to send by id (30 days); returns the media id."""
        result = self._management_call(
            "upload media",
            "POST",
            self._url(self.config.phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        return str(result["id"])

    def get_media(self, media_id: str) -> dict[str, Any]:
        """Meta's answer for a media id: ``url`` (valid for 5 minutes), ``mime_type``, ``sha256``,
        ``file_size``, ``id``. A received media id lasts 7 days."""
        if not MEDIA_ID.fullmatch(media_id):
            raise ValueError(f"not a media id: {media_id[:50]!r}")
        return self._management_call("get media", "GET", self._url(media_id))

    def download_media(self, url: str, *, destination: BinaryIO, max_bytes: int) -> int:
        """Write the bytes at a media ``url`` (from :meth:`get_media`) to ``destination``; returns
        how many. Raises :class:`MediaNotDownloaded` for a URL the token must not go to or a file
        over ``max_bytes`` (stopped as soon as it is), :class:`CloudApiCallFailed` for the rest.

        The bearer token goes only to an ``https`` URL or to the API's own origin (the sandbox):
        the URL comes from an answer, and a token sent over plain HTTP elsewhere is a token lost.
        ``requests`` drops it on a redirect to another host.
        """
        parts = urlsplit(url)
        base = urlsplit(self.config.base_url)
        if parts.scheme != "https" and (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise MediaNotDownloaded(f"the media URL is not https, so the token is not sent: {url[:200]}")
        try:
            response = self._session.get(url, timeout=self._timeout, stream=True)
        except requests.RequestException as exc:
            raise CloudApiCallFailed(NotSent(f"download failed: {exc}"), operation="download media") from exc
        with response:
            if response.status_code >= 400:
                body = response.raw.read(64 * 1024, decode_content=True) or b""
                result = read_answer(response.status_code, body)
                failure = result if not isinstance(result, dict) else NotSent(f"HTTP {response.status_code}")
                raise CloudApiCallFailed(failure, operation="download media")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaNotDownloaded(
                    f"the file has {int(declared):,} bytes, over the {max_bytes:,} allowed"
                )
            written = 0
            try:
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    written += len(chunk)
                    if written > max_bytes:
                        raise MediaNotDownloaded(f"the file has more than the {max_bytes:,} bytes allowed")
                    destination.write(chunk)
            except requests.RequestException as exc:
                raise CloudApiCallFailed(
                    NotSent(f"download broke off after {written:,} bytes: {exc}"), operation="download media"
                ) from exc
        return written

    def upload_template_sample(self, content: bytes, *, mime_type: str, file_name: str) -> str:
        """Resumable upload of a media header's sample; returns the ``header_handle`` to create it with."""
        if mime_type not in SAMPLE_MIME_TYPES:
            raise ValueError(
                f"{mime_type} cannot be a template sample; use one of {sorted(SAMPLE_MIME_TYPES)}"
            )
        session = self._management_call(
            "start upload session",
            "POST",
            self._url(self.config.app_id, "uploads"),
            params={
                "file_name": file_name,
                "file_length": len(content),
                "file_type": mime_type,
                "access_token": self.config.access_token,
            },
        )
        result = self._management_call(
            "upload sample",
            "POST",
            self._url(str(session["id"])),
            data=content,
            headers={"Authorization": f"OAuth {self.config.access_token}", "file_offset": "0"},
        )
        return str(result["h"])
