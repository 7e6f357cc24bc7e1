"""A campaign's header media: checked against Meta's types and sizes, uploaded, re-uploaded in time.

A template with an IMAGE, VIDEO or DOCUMENT header is sent with a file given by link (``https``)
or by the id of a file uploaded to ``POST /<PHONE_NUMBER_ID>/media``. Meta keeps an uploaded
file for 30 days; :func:`campaign_media_ensure` uploads again when the stored id is older than
``CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS`` (29: a day's margin for a campaign still sending).

The file's type is read from its bytes (a JPEG starts ``FF D8 FF``, an MP4 has ``ftyp`` at byte
4 …), never from its name or the browser's claim alone: Meta answers 131053 to a file whose
content is not what its type says. ``MEDIA_RULES`` is the one table of what each header kind
takes — the same table is in docs/campaign-content.md, from Meta's "Supported media types".

A carousel's cards are sent with a link per card (``bindings``: a ``link`` slot per card, checked
with :func:`link_problems` for the card's kind); uploading card files is not done here.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from cloud_api.backends import WhatsAppBackend, get_backend
from cloud_api.outcomes import CloudApiCallFailed
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, HeaderMediaSource
from messaging.campaigns.languages import LanguageContent, campaign_content
from templates_app.components import MEDIA_HEADER_FORMATS, HeaderFormat, header_format, header_of

MB = 1024 * 1024
LINK_MAX_LENGTH = 2000


@dataclass(frozen=True)
class MediaRule:
    label: str
    max_bytes: int
    types: dict[str, tuple[str, ...]]  # MIME type → the file name extensions it goes by


# Meta's supported media types and sizes for the header kinds a template has
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media).
MEDIA_RULES: dict[str, MediaRule] = {
    HeaderFormat.IMAGE: MediaRule("image", 5 * MB, {"image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",)}),
    HeaderFormat.VIDEO: MediaRule(
        "video", 16 * MB, {"video/mp4": (".mp4",), "video/3gpp": (".3gp", ".3gpp")}
    ),
    HeaderFormat.DOCUMENT: MediaRule(
        "document",
        100 * MB,
        {
            "application/pdf": (".pdf",),
            "application/msword": (".doc",),
            "application/vnd.ms-excel": (".xls",),
            "application/vnd.ms-powerpoint": (".ppt",),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
            "text/plain": (".txt",),
        },
    ),
}
TYPE_NAMES = {
    "image/jpeg": "a JPEG image",
    "image/png": "a PNG image",
    "video/mp4": "an MP4 video",
    "video/3gpp": "a 3GPP video",
    "application/pdf": "a PDF",
    "application/msword": "a Word document",
    "application/vnd.ms-excel": "an Excel workbook",
    "application/vnd.ms-powerpoint": "a PowerPoint presentation",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "an Excel workbook",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "a PowerPoint presentation",
    "text/plain": "a text file",
}
EXTENSION_TYPES = {
    ext: mime for rule in MEDIA_RULES.values() for mime, exts in rule.types.items() for ext in exts
}
# ISO media files: the "major brand" after "ftyp" says which kind (3GPP brands start with "3gp").
MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"mmp4"}
)
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .doc, .xls and .ppt
OOXML_PARTS = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
HEAD_BYTES = 8192


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _extension(name: str) -> str:
    return posixpath.splitext(name.lower())[1]


def sniff_media_type(file: IO[bytes], *, filename: str = "") -> str:
    """The MIME type the file's bytes show (one of ``MEDIA_RULES``'), or "" when none of them.

    Only the old Office formats share one container (OLE): there the name's extension tells a
    .doc from a .xls. A text file is one with a .txt name whose bytes are UTF-8 without NUL.
    """
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        return "video/mp4" if brand in MP4_BRANDS else ""
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_type(file)
    extension = _extension(filename)
    if head.startswith(OLE_SIGNATURE):
        mime = EXTENSION_TYPES.get(extension, "")
        return mime if extension in (".doc", ".xls", ".ppt") else ""
    if extension == ".txt" and b"\x00" not in head:
        try:
            file.read().decode("utf-8")
        except UnicodeDecodeError:
            return ""
        finally:
            file.seek(0)
        return "text/plain"
    return ""


def _ooxml_type(file: IO[bytes]) -> str:
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return ""
    finally:
        file.seek(0)
    if "[Content_Types].xml" not in names:
        return ""
    for prefix, mime in OOXML_PARTS.items():
        if any(name.startswith(prefix) for name in names):
            return mime
    return ""


def _accepted(rule: MediaRule) -> str:
    names = sorted({TYPE_NAMES[mime].split(" ", 1)[1] for mime in rule.types})
    return ", ".join(names)


def media_file_problems(
    *, header_kind: str, file: IO[bytes], filename: str, size: int
) -> tuple[str, list[str]]:
    """(the sniffed MIME type, every reason Meta would refuse this file for a ``header_kind`` header)."""
    rule = MEDIA_RULES[header_kind]
    if size <= 0:
        return "", ["The header file is empty."]
    if size > rule.max_bytes:
        return "", [
            f"The header file is {size:,} bytes ({size / MB:.1f} MB); WhatsApp takes {rule.label}s of at "
            f"most {rule.max_bytes // MB} MB ({rule.max_bytes:,} bytes)."
        ]
    mime = sniff_media_type(file, filename=filename)
    if mime not in rule.types:
        what = TYPE_NAMES.get(mime, "none of the kinds WhatsApp takes")
        return mime, [
            f"The template's header is {_a(rule.label)} {rule.label}, and the "
            f"file “{filename}” is {what} (judged by its content): upload one of: {_accepted(rule)}."
        ]
    named = EXTENSION_TYPES.get(_extension(filename))
    if named is not None and named != mime:
        return mime, [
            f"The file “{filename}” is named like {TYPE_NAMES[named]} but is {TYPE_NAMES[mime]}; "
            "rename it (recipients see the name) or upload the file you meant."
        ]
    return mime, []


def media_bytes_problems(*, header_kind: str, content: bytes, filename: str) -> tuple[str, list[str]]:
    """:func:`media_file_problems` for bytes in memory (a form's upload)."""
    return media_file_problems(
        header_kind=header_kind, file=io.BytesIO(content), filename=filename, size=len(content)
    )


def link_problems(*, header_kind: str, link: str, what: str = "The header's link") -> list[str]:
    """Every reason WhatsApp could not fetch ``link`` for a ``header_kind`` header (IMAGE, VIDEO,
    DOCUMENT); ``what`` names it in the messages (a carousel card's link, say)."""
    rule = MEDIA_RULES[header_kind]
    link = link or ""
    parts = urlsplit(link.strip())
    if parts.scheme != "https" or not parts.hostname:
        return [f"{what} must be a web address starting with https://."]
    problems = []
    if any(ch.isspace() for ch in link.strip()):
        problems.append(f"{what} contains a space; encode it as %20.")
    if len(link) > LINK_MAX_LENGTH:
        problems.append(f"{what} is longer than {LINK_MAX_LENGTH} characters.")
    named = EXTENSION_TYPES.get(_extension(parts.path))
    if named is not None and named not in rule.types:
        problems.append(
            f"The template's header is {_a(rule.label)} {rule.label}, but the "
            f"link names {TYPE_NAMES[named]}: link one of: {_accepted(rule)}."
        )
    return problems


# --- the campaign ---------------------------------------------------------------------------------


def header_kinds(campaign: Campaign) -> dict[str, list[str]]:
    """Media header kind → the campaign's languages whose template has it."""
    kinds: dict[str, list[str]] = {}
    for code, item in sorted(campaign_content(campaign).languages.items()):
        fmt = header_format(header_of(item.components))
        if fmt in MEDIA_HEADER_FORMATS:
            kinds.setdefault(fmt, []).append(code)
    return kinds


def campaign_media_check(campaign: Campaign) -> list[str]:
    """Every reason the campaign's header media does not fit its template or Meta's limits."""
    kinds = header_kinds(campaign)
    source = campaign.header_media_source
    if not kinds:
        if source:
            return ["The template has no image, video or document header: choose no header media."]
        return []
    if len(kinds) > 1:
        listed = "; ".join(f"{kind.lower()} in {', '.join(codes)}" for kind, codes in sorted(kinds.items()))
        return [
            f"The template's languages have different media headers ({listed}): one campaign sends one file."
        ]
    (kind,) = kinds
    if source == HeaderMediaSource.LINK:
        return link_problems(header_kind=kind, link=campaign.header_media_link)
    if source == HeaderMediaSource.UPLOAD:
        if not campaign.header_media_file:
            return ["Upload the header's file, or give a link to it."]
        return _stored_file_problems(campaign, kind)[1]
    return [f"The template has {_a(kind.lower())} {kind.lower()} header: give a link or upload the file."]


def header_media_problems(campaign: Campaign, *, kind: str) -> list[str]:
    """The given link's or file's problems for a ``kind`` header (IMAGE, VIDEO, DOCUMENT); nothing
    about whether one is given (the campaign's readiness checks that)."""
    if campaign.header_media_source == HeaderMediaSource.LINK and campaign.header_media_link:
        return link_problems(header_kind=kind, link=campaign.header_media_link)
    if campaign.header_media_source == HeaderMediaSource.UPLOAD and campaign.header_media_file:
        return _stored_file_problems(campaign, kind)[1]
    return []


def _stored_file_problems(campaign: Campaign, kind: str) -> tuple[str, list[str]]:
    stored = campaign.header_media_file
    try:
        size = stored.size
        with stored.open("rb") as file:
            return media_file_problems(
                header_kind=kind, file=file, filename=posixpath.basename(stored.name), size=size
            )
    except (FileNotFoundError, OSError):
        return "", ["The uploaded header file is gone from storage: upload it again."]


def header_media_parameter(
    campaign: Campaign, item: LanguageContent, *, required: bool
) -> dict[str, Any] | None:
    """The header's value for ``templates_app.parameters`` in one language: ``{"type": "image",
    "id": …}`` or ``{… "link": …}``; None for a language without a media header. Without a media
    id or link: refused when ``required``, else None (a preview draws a placeholder)."""
    fmt = header_format(header_of(item.components))
    if fmt not in MEDIA_HEADER_FORMATS:
        return None
    kind = fmt.lower()
    source = campaign.header_media_source
    if source == HeaderMediaSource.LINK and campaign.header_media_link:
        value = {"type": kind, "link": campaign.header_media_link}
        name = posixpath.basename(urlsplit(campaign.header_media_link).path)
        if kind == "document" and _extension(name) in EXTENSION_TYPES:
            value["filename"] = name
        return value
    if source == HeaderMediaSource.UPLOAD and campaign.header_media_id:
        value = {"type": kind, "id": campaign.header_media_id}
        if kind == "document" and campaign.header_media_file:
            value["filename"] = posixpath.basename(campaign.header_media_file.name)
        return value
    if not required:
        return None
    if source == HeaderMediaSource.UPLOAD:
        raise ApplicationError(
            "The campaign's header file is not uploaded to WhatsApp yet (campaign_media_ensure does it).",
            code="campaign_media_not_uploaded",
            field="header_media_file",
        )
    raise ApplicationError(
        f"The template has {_a(kind)} {kind} header: give a link or upload the file.",
        code="campaign_media_missing",
        field="header_media_file",
    )


def media_id_fresh(campaign: Campaign, now: datetime) -> bool:
    max_age = timedelta(days=settings.CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS)
    uploaded_at = campaign.header_media_uploaded_at
    return bool(campaign.header_media_id) and uploaded_at is not None and now - uploaded_at < max_age


def campaign_media_ensure(
    *, campaign: Campaign, backend: WhatsAppBackend | None = None, now: datetime | None = None
) -> str:
    """The media id to send the campaign's uploaded header file with, uploading it when there is
    none or it is older than ``CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS``; "" for a campaign whose header
    media is a link or that has none.

    The upload is stored with a conditional UPDATE on the id and file it replaces: two workers
    that both found the id stale both upload, one stores its id, and the other returns that one
    (its own upload is left to expire at Meta). ``campaign`` is updated in place.
    """
    now = now or timezone.now()
    current = Campaign.objects.get(pk=campaign.pk)
    if current.header_media_source != HeaderMediaSource.UPLOAD:
        return ""
    if media_id_fresh(current, now):
        _copy_media_fields(current, campaign)
        return current.header_media_id
    kinds = header_kinds(campaign)
    if len(kinds) != 1 or not current.header_media_file:
        problems = campaign_media_check(campaign) or ["The template has no media header."]
        raise ApplicationError(" ".join(problems), code="campaign_media_invalid", field="header_media_file")
    (kind,) = kinds
    mime, problems = _stored_file_problems(current, kind)
    if problems:
        raise ApplicationError(" ".join(problems), code="campaign_media_invalid", field="header_media_file")
    with current.header_media_file.open("rb") as file:
        content = file.read()
    backend = backend or get_backend()
    try:
        media_id = backend.upload_media(
            content, mime_type=mime, filename=posixpath.basename(current.header_media_file.name)
        )
    except CloudApiCallFailed as exc:
        raise ApplicationError(
            f"WhatsApp did not take the header file: {exc}",
            code="campaign_media_upload_failed",
            field="header_media_file",
        ) from exc
    stored = Campaign.objects.filter(
        pk=campaign.pk,
        header_media_file=current.header_media_file.name,
        header_media_id=current.header_media_id,
    ).update(header_media_id=media_id, header_media_uploaded_at=now, header_media_mime=mime)
    latest = Campaign.objects.get(pk=campaign.pk)
    same_file = latest.header_media_file.name == current.header_media_file.name
    if stored != 1 and not (same_file and media_id_fresh(latest, now)):
        raise ApplicationError(
            "The campaign's header file changed while it was being uploaded; try again.",
            code="campaign_media_changed",
            field="header_media_file",
        )
    _copy_media_fields(latest, campaign)
    return latest.header_media_id


def _copy_media_fields(source: Campaign, target: Campaign) -> None:
    for name in ("header_media_file", "header_media_id", "header_media_uploaded_at", "header_media_mime"):
        setattr(target, name, getattr(source, name))
