"""Media the inbox sends: checked against Meta's types and sizes by its bytes, uploaded, kept locally.

``MEDIA_LIMITS`` is the one table of what each media message kind takes (Meta's "Supported media
types", docs/media.md). Image, video and document share the campaign header's table
(``messaging.campaigns.media.MEDIA_RULES``); audio and sticker are added here. A file's type is
read from its first bytes, never from its name or the browser's claim alone: Meta answers 131053
to a file whose content is not what its type says, and a ``.jpg`` that is really a PDF must not
reach a customer as a photo.

Received media (the webhook's side) lives in ``messaging.media_inbound``; the retention purge in
``messaging.media_retention``.
"""

from __future__ import annotations

import hashlib
import posixpath
import unicodedata
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from cloud_api.backends import get_backend
from cloud_api.outcomes import CloudApiCallFailed
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaigns.media import (
    HEAD_BYTES,
    MB,
    MEDIA_RULES,
    TYPE_NAMES,
    MediaRule,
    sniff_media_type,
)
from messaging.models import MediaDirection, MediaKind, MessageMedia
from templates_app.components import HeaderFormat

KB = 1024
STATIC_STICKER_MAX_BYTES = 100 * KB
# Meta's limits per kind (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media).
# A sticker's limit is for an animated one; a static sticker may have at most 100 KB.
MEDIA_LIMITS: dict[str, MediaRule] = {
    MediaKind.IMAGE: MEDIA_RULES[HeaderFormat.IMAGE],
    MediaKind.VIDEO: MEDIA_RULES[HeaderFormat.VIDEO],
    MediaKind.AUDIO: MediaRule(
        "audio file",
        16 * MB,
        {
            "audio/aac": (".aac",),
            "audio/amr": (".amr",),
            "audio/mpeg": (".mp3",),
            "audio/mp4": (".m4a",),
            "audio/ogg": (".ogg", ".opus"),
        },
    ),
    MediaKind.DOCUMENT: MEDIA_RULES[HeaderFormat.DOCUMENT],
    MediaKind.STICKER: MediaRule("sticker", 500 * KB, {"image/webp": (".webp",)}),
}
KIND_OF_TYPE = {mime: kind for kind, rule in MEDIA_LIMITS.items() for mime in rule.types}
EXTENSION_TYPES = {
    ext: mime for rule in MEDIA_LIMITS.values() for mime, exts in rule.types.items() for ext in exts
}
MEDIA_TYPE_NAMES = {
    **TYPE_NAMES,
    "audio/aac": "an AAC audio file",
    "audio/amr": "an AMR audio file",
    "audio/mpeg": "an MP3 audio file",
    "audio/mp4": "an M4A audio file",
    "audio/ogg": "an OGG (Opus) audio file",
    "image/webp": "a WebP sticker",
}
# What browsers and operating systems call some of these types.
TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aac": "audio/aac",
    "audio/aacp": "audio/aac",
    "audio/opus": "audio/ogg",
    "audio/3gpp": "audio/amr",
    "video/3gp": "video/3gpp",
    "application/x-pdf": "application/pdf",
}
# Types a browser sends when it does not know: the name and the bytes decide then.
UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# An M4A is an ISO media file like an MP4; not every encoder writes the M4A brand.
SAME_CONTAINER = {"audio/mp4": ("video/mp4",)}
M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
FILENAME_MAX_LENGTH = 240


def normalise_type(mime_type: str) -> str:
    """``"Audio/OGG; codecs=opus"`` → ``"audio/ogg"``; browsers' other names → Meta's."""
    base = (mime_type or "").split(";", 1)[0].strip().lower()
    return TYPE_ALIASES.get(base, base)


def sniff_upload_type(file: IO[bytes], *, filename: str = "") -> str:
    """The MIME type the file's bytes show, for every kind in ``MEDIA_LIMITS``; "" when none.

    Audio and WebP are recognised here; the rest by the campaign header's sniffer. An ISO media
    file whose brand is M4A is audio; another brand is an MP4 (which ``check_upload`` also takes
    as ``audio/mp4``: the container is the same).
    """
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"OggS"):
        return "audio/ogg" if b"OpusHead" in head[:200] else ""
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "audio/amr"
    if head[4:8] == b"ftyp" and head[8:12] in M4A_BRANDS:
        return "audio/mp4"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and not head.startswith(b"\xff\xd8"):
        if head[1] & 0xF6 == 0xF0:  # ADTS sync word, layer 0
            return "audio/aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # MPEG audio frame sync, layer I–III
            return "audio/mpeg"
    return sniff_media_type(file, filename=filename)


def animated_webp(file: IO[bytes]) -> bool:
    """An extended WebP (``VP8X``) with its animation flag set."""
    file.seek(0)
    head = file.read(32)
    file.seek(0)
    return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)


def _refuse(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, field="file")


def _size_text(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / KB:.0f} KB"


def _accepted_types() -> str:
    return "; ".join(
        f"{rule.label}s: {', '.join(sorted({ext for exts in rule.types.values() for ext in exts}))}"
        for rule in MEDIA_LIMITS.values()
    )


def check_upload(*, filename: str, mime_type: str, size: int, file: IO[bytes] | None = None) -> str:
    """The media kind (``image``, ``video``, ``audio``, ``document``, ``sticker``) this file is sent as.

    Refused with an ``ApplicationError`` on ``field="file"`` naming the type or size and Meta's
    limit: an unsupported type, an empty or too large file, a name that says another type than the
    one declared, and — with ``file`` — content that is not what the type says. A browser's
    "application/octet-stream" is judged by the name's extension and the bytes.
    """
    declared = normalise_type(mime_type)
    extension = posixpath.splitext((filename or "").lower())[1]
    named = EXTENSION_TYPES.get(extension)
    if declared in UNKNOWN_TYPES and named:
        declared = named
    kind = KIND_OF_TYPE.get(declared)
    if kind is None:
        what = f"“{declared}”" if declared not in UNKNOWN_TYPES else "of an unknown type"
        raise _refuse(
            f"The file “{filename}” is {what}, which WhatsApp does not take. It takes {_accepted_types()}.",
            "media_type_not_supported",
        )
    rule = MEDIA_LIMITS[kind]
    if size <= 0:
        raise _refuse(f"The file “{filename}” is empty.", "media_empty")
    if size > rule.max_bytes:
        raise _refuse(
            f"The file “{filename}” is {_size_text(size)} ({size:,} bytes); WhatsApp takes "
            f"{rule.label}s of at most {_size_text(rule.max_bytes)} ({rule.max_bytes:,} bytes).",
            "media_too_large",
        )
    if named is not None and named != declared and KIND_OF_TYPE.get(named) != kind:
        raise _refuse(
            f"The file “{filename}” is named like {MEDIA_TYPE_NAMES[named]} but declared as "
            f"{MEDIA_TYPE_NAMES[declared]}; rename it or upload the file you meant.",
            "media_name_mismatch",
        )
    if file is None:
        return kind
    sniffed = sniff_upload_type(file, filename=filename)
    if sniffed != declared and sniffed not in SAME_CONTAINER.get(declared, ()):
        what = MEDIA_TYPE_NAMES.get(sniffed, "none of the kinds WhatsApp takes")
        raise _refuse(
            f"The file “{filename}” is {what} by its content, not {MEDIA_TYPE_NAMES[declared]}: "
            f"upload a real {rule.label} ({', '.join(sorted(MEDIA_TYPE_NAMES[m] for m in rule.types))}).",
            "media_content_mismatch",
        )
    if kind == MediaKind.STICKER and size > STATIC_STICKER_MAX_BYTES and not animated_webp(file):
        raise _refuse(
            f"The sticker “{filename}” is {_size_text(size)}; WhatsApp takes static stickers of at most "
            f"{_size_text(STATIC_STICKER_MAX_BYTES)} (animated ones up to {_size_text(rule.max_bytes)}).",
            "media_too_large",
        )
    return kind


def clean_filename(name: str) -> str:
    """The name a recipient sees: the last path part, without control characters, not too long."""
    base = posixpath.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(base) > FILENAME_MAX_LENGTH:
        stem, extension = posixpath.splitext(base)
        base = stem[: FILENAME_MAX_LENGTH - len(extension)] + extension
    return base or "file"


def upload_for_sending(uploaded_file: UploadedFile, *, actor: Actor) -> MessageMedia:
    """Check a staff upload, upload it to Meta, keep a local copy; the row's ``media_id`` is what
    ``messaging.sending.content.media(kind, media_id)`` sends.

    Who may send it is the caller's check (the composer's reply permission): this only moves the
    file. Meta is asked first, so a refusal leaves nothing behind; should storing the copy fail
    after Meta took the file, Meta's copy expires unused after 30 days.
    """
    filename = clean_filename(uploaded_file.name or "")
    size = uploaded_file.size or 0
    kind = check_upload(
        filename=filename, mime_type=uploaded_file.content_type or "", size=size, file=uploaded_file
    )
    mime = normalise_type(uploaded_file.content_type or "")
    if mime in UNKNOWN_TYPES:
        mime = EXTENSION_TYPES[posixpath.splitext(filename.lower())[1]]
    uploaded_file.seek(0)
    content = uploaded_file.read()
    try:
        media_id = get_backend().upload_media(content, mime_type=mime, filename=filename)
    except CloudApiCallFailed as exc:
        raise _refuse(f"WhatsApp did not take the file “{filename}”: {exc}", "media_upload_failed") from exc
    media = MessageMedia(
        media_id=media_id,
        direction=MediaDirection.OUTBOUND,
        kind=kind,
        mime_type=mime,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        filename=filename,
        uploaded_by=actor.user if actor.is_staff_user else None,
    )
    media.file.save(filename, ContentFile(content), save=False)
    try:
        with transaction.atomic():
            media.full_clean()
            media.save()
            log_activity(
                actor=actor,
                action="media.uploaded",
                obj=media,
                details={"kind": kind, "mime_type": mime, "size": len(content), "filename": filename},
            )
    except Exception:
        media.file.delete(save=False)  # no copy without its row
        raise
    return media
