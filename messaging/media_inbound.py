"""Media a person sent: recorded with the message, downloaded from Meta after the commit, retried.

Meta's webhook carries only a media id (valid 7 days), its MIME type and SHA-256. The bytes are
fetched in two steps: ``GET /<media-id>`` answers a URL valid for 5 minutes, and that URL is
downloaded with the bearer token. So the download runs in a task after the message is stored
(never inside the webhook's transaction), and the inbox shows our own copy.

A download is claimed by a conditional UPDATE that counts the attempt and moves
``next_attempt_at`` to when the next one is due — the lease and the retry time at once: two
workers cannot fetch the same file, and a worker that dies leaves the row due again later. A
failure keeps its ``error``; the per-minute schedule retries after 1, 5, 30 and 120 minutes, up to
``MAX_ATTEMPTS`` in all. A refusal that cannot change (an unknown or expired id, a file too large)
gives up at once. The bytes must match Meta's size and SHA-256, or they are not kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import posixpath
import re
import tempfile
import time
from datetime import datetime, timedelta

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cloud_api.backends import get_backend
from cloud_api.client import MEDIA_ID, MediaNotDownloaded
from cloud_api.errors import ErrorClass
from cloud_api.outcomes import CloudApiCallFailed, Refused
from messaging.media import EXTENSION_TYPES, clean_filename, normalise_type
from messaging.models import InboundMessage, MediaDirection, MediaKind, MessageMedia

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# Meta delivers a person's media up to 100 MB; larger arrives as error 131052 without a media id.
INBOUND_MAX_BYTES = 100 * MB
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DOWNLOADS_PER_RUN = 50
RUN_SECONDS = 40.0  # well below django-q2's task timeout (60 s); the rest waits for the next run
# Refusals that a retry cannot change: the id is unknown or expired, or the request is wrong.
FINAL_CLASSES = frozenset({ErrorClass.REQUEST_PERMANENT, ErrorClass.RECIPIENT_PERMANENT})
MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
TYPE_EXTENSIONS = {mime: ext for ext, mime in EXTENSION_TYPES.items()}


class DownloadFailed(Exception):
    def __init__(self, message: str, *, final: bool = False):
        super().__init__(message)
        self.final = final


def safe_mime_type(value: object) -> str:
    """Meta's MIME type without parameters, or ``application/octet-stream`` when it is not one:
    it becomes a response header, so nothing else may pass."""
    mime = normalise_type(value if isinstance(value, str) else "")
    return mime if MIME_TYPE.fullmatch(mime) else "application/octet-stream"


def digest_hex(value: object) -> str:
    """A SHA-256 as 64 hex digits, from hex or base64 (Meta's payloads have used both); "" if neither."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw.hex()
    return ""


def media_record_inbound(inbound: InboundMessage) -> MessageMedia | None:
    """The pending media row of a received image, video, audio, document or sticker; None for other
    messages, and for a media message without a usable id (the inbox shows it as not available).

    Runs inside the transaction that stores the message; a media id already recorded (a replay)
    is left alone under a savepoint, so the message is stored all the same.
    """
    if inbound.type not in MediaKind.values:
        return None
    content = inbound.payload.get(inbound.type) if isinstance(inbound.payload, dict) else None
    content = content if isinstance(content, dict) else {}
    media_id = content.get("id")
    if not isinstance(media_id, str) or not MEDIA_ID.fullmatch(media_id):
        logger.warning("%s message %s has no usable media id", inbound.type, inbound.wamid)
        return None
    filename = content.get("filename")
    media = MessageMedia(
        media_id=media_id,
        direction=MediaDirection.INBOUND,
        kind=inbound.type,
        inbound=inbound,
        mime_type=safe_mime_type(content.get("mime_type")),
        sha256=digest_hex(content.get("sha256")),
        filename=clean_filename(filename) if isinstance(filename, str) and filename.strip() else "",
        next_attempt_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            media.save()
    except IntegrityError:
        return None
    return media


def media_download(media_pk: int, *, now: datetime | None = None) -> bool:
    """Claim one pending download and try it; True when the file is now stored.

    Returns False quietly when the row is not due, done, purged, or taken by another worker.
    """
    now = now or timezone.now()
    media = MessageMedia.objects.filter(pk=media_pk, direction=MediaDirection.INBOUND).first()
    if media is None or not _claim(media, now=now):
        return False
    attempt = media.attempts + 1
    try:
        stored, size, sha256, mime = _fetch_and_store(media)
    except DownloadFailed as exc:
        final = exc.final or attempt >= MAX_ATTEMPTS
        logger.warning(
            "media %s download attempt %d failed%s: %s",
            media.media_id,
            attempt,
            " for good" if final else "",
            exc,
        )
        failed = {"error": f"Attempt {attempt}: {exc}"[:2000]}
        if final:
            failed["next_attempt_at"] = None
        MessageMedia.objects.filter(pk=media.pk, attempts=attempt, downloaded_at__isnull=True).update(
            **failed
        )
        return False
    kept = MessageMedia.objects.filter(
        pk=media.pk, attempts=attempt, downloaded_at__isnull=True, purged_at__isnull=True
    ).update(
        file=stored,
        size=size,
        sha256=sha256,
        mime_type=mime,
        downloaded_at=timezone.now(),
        next_attempt_at=None,
        error="",
    )
    if kept != 1:
        default_storage.delete(stored)  # purged or finished elsewhere meanwhile: no orphan copy
        return False
    return True


def _claim(media: MessageMedia, *, now: datetime) -> bool:
    if media.attempts >= MAX_ATTEMPTS:
        return False
    delay = RETRY_DELAYS[min(media.attempts, len(RETRY_DELAYS) - 1)]
    return (
        MessageMedia.objects.filter(
            pk=media.pk,
            attempts=media.attempts,
            downloaded_at__isnull=True,
            purged_at__isnull=True,
            next_attempt_at__lte=now,
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + delay)
        == 1
    )


def _fetch_and_store(media: MessageMedia) -> tuple[str, int, str, str]:
    """Ask Meta for the URL, download, check size and SHA-256, store; (name, size, sha256, mime)."""
    backend = get_backend()
    try:
        info = backend.get_media(media.media_id)
    except CloudApiCallFailed as exc:
        final = isinstance(exc.outcome, Refused) and exc.outcome.error_class in FINAL_CLASSES
        raise DownloadFailed(f"WhatsApp did not give the media URL: {exc}", final=final) from exc
    url = info.get("url")
    if not isinstance(url, str) or not url:
        raise DownloadFailed("WhatsApp's answer has no media URL.")
    declared_size = info.get("file_size")
    declared_size = int(declared_size) if str(declared_size or "").isdigit() else None
    if declared_size is not None and declared_size > INBOUND_MAX_BYTES:
        raise DownloadFailed(
            f"The file has {declared_size:,} bytes, over the {INBOUND_MAX_BYTES:,} kept.", final=True
        )
    # The webhook's digest is the one the person's phone reported; the answer's only when it had none.
    expected = media.sha256 or digest_hex(info.get("sha256"))
    with tempfile.SpooledTemporaryFile(max_size=4 * MB) as buffer:
        try:
            size = backend.download_media(url, destination=buffer, max_bytes=INBOUND_MAX_BYTES)
        except MediaNotDownloaded as exc:
            raise DownloadFailed(f"Not downloaded: {exc}.", final=True) from exc
        except CloudApiCallFailed as exc:
            raise DownloadFailed(f"The download failed: {exc}") from exc
        if declared_size is not None and size != declared_size:
            raise DownloadFailed(f"Downloaded {size:,} bytes, WhatsApp announced {declared_size:,}.")
        buffer.seek(0)
        sha256 = hashlib.file_digest(buffer, "sha256").hexdigest()
        if expected and sha256 != expected:
            raise DownloadFailed(
                f"The downloaded bytes do not match WhatsApp's SHA-256 ({sha256} instead of {expected}); "
                "not kept."
            )
        if not expected:
            raise DownloadFailed("WhatsApp gave no SHA-256 to check the download against; not kept.")
        buffer.seek(0)
        mime = (
            media.mime_type
            if media.mime_type != "application/octet-stream"
            else safe_mime_type(info.get("mime_type"))
        )
        extension = posixpath.splitext(media.filename.lower())[1] or TYPE_EXTENSIONS.get(mime, "")
        name = media.file.field.generate_filename(media, f"media{extension}")
        stored = default_storage.save(name, File(buffer, name=name))
    return stored, size, sha256, mime


def media_downloads_due(*, now: datetime, limit: int = DOWNLOADS_PER_RUN) -> list[int]:
    """Ids of received media whose (next) download is due at ``now``, oldest due first."""
    return list(
        MessageMedia.objects.filter(
            next_attempt_at__lte=now,
            attempts__lt=MAX_ATTEMPTS,
            direction=MediaDirection.INBOUND,
            downloaded_at__isnull=True,
            purged_at__isnull=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def media_download_many(media_pks: list[int], *, seconds: float = RUN_SECONDS) -> int:
    """Try each download in turn until time is up; how many files were stored. The ones left over
    stay due for the next run."""
    started = time.monotonic()
    stored = 0
    for pk in media_pks:
        if time.monotonic() - started > seconds:
            break
        stored += media_download(pk)
    return stored
