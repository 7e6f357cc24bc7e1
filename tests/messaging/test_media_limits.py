"""The inbox's media uploads against Meta's types and sizes, judged by the file's bytes."""

import io

import pytest

from cloud_api.sandbox.media_samples import jpeg, mp4, ogg_opus, pdf, png, sample_media
from core.errors import ApplicationError
from messaging.media import MEDIA_LIMITS, check_upload

MB = 1024 * 1024
WEBP = sample_media("sticker", "image/webp")


def check(content: bytes, name: str, mime: str, size: int | None = None) -> str:
    return check_upload(
        filename=name, mime_type=mime, size=len(content) if size is None else size, file=io.BytesIO(content)
    )


def refusal(content: bytes, name: str, mime: str, size: int | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        check(content, name, mime, size)
    assert caught.value.field == "file"
    return caught.value


def test_meta_limits_per_kind():
    assert {kind: rule.max_bytes for kind, rule in MEDIA_LIMITS.items()} == {
        "image": 5 * MB,
        "video": 16 * MB,
        "audio": 16 * MB,
        "document": 100 * MB,
        "sticker": 500 * 1024,
    }
    assert set(MEDIA_LIMITS["audio"].types) == {
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
    }
    assert set(MEDIA_LIMITS["sticker"].types) == {"image/webp"}


@pytest.mark.parametrize(
    ("content", "name", "mime", "kind"),
    [
        (jpeg(), "photo.jpg", "image/jpeg", "image"),
        (jpeg(), "photo.jpeg", "image/jpg", "image"),  # a browser's name for it
        (png(), "box.png", "image/png", "image"),
        (mp4(), "clip.mp4", "video/mp4", "video"),
        (ogg_opus(), "voice.ogg", "audio/ogg; codecs=opus", "audio"),
        (b"ID3\x04\x00" + b"\x00" * 100, "song.mp3", "audio/mpeg", "audio"),
        (b"#!AMR\n" + b"\x00" * 20, "memo.amr", "audio/amr", "audio"),
        (pdf(), "invoice.pdf", "application/pdf", "document"),
        (pdf(), "invoice.pdf", "application/octet-stream", "document"),  # judged by name and bytes
        (b"plain words\n", "notes.txt", "text/plain", "document"),
        (WEBP, "smile.webp", "image/webp", "sticker"),
    ],
)
def test_each_kind_is_accepted(content, name, mime, kind):
    assert check(content, name, mime) == kind


def test_a_jpg_that_is_a_pdf_is_refused():
    error = refusal(pdf(), "holiday.jpg", "image/jpeg")
    assert error.code == "media_content_mismatch"
    assert "holiday.jpg" in error.message and "a PDF" in error.message


def test_an_ogg_without_opus_is_refused():
    vorbis = b"OggS" + b"\x00" * 24 + b"\x01vorbis" + b"\x00" * 50
    assert refusal(vorbis, "old.ogg", "audio/ogg").code == "media_content_mismatch"


@pytest.mark.parametrize(
    ("content", "name", "mime", "size", "code", "words"),
    [
        (b"<svg/>", "logo.svg", "image/svg+xml", None, "media_type_not_supported", "image/svg+xml"),
        (b"MZ", "setup.exe", "application/octet-stream", None, "media_type_not_supported", "unknown type"),
        (jpeg(), "big.jpg", "image/jpeg", 5 * MB + 1, "media_too_large", "at most 5.0 MB"),
        (mp4(), "long.mp4", "video/mp4", 16 * MB + 1, "media_too_large", "16.0 MB"),
        (pdf(), "huge.pdf", "application/pdf", 100 * MB + 1, "media_too_large", "100.0 MB"),
        (WEBP, "big.webp", "image/webp", 500 * 1024 + 1, "media_too_large", "500 KB"),
        (WEBP, "static.webp", "image/webp", 100 * 1024 + 1, "media_too_large", "static stickers"),
        (b"", "empty.pdf", "application/pdf", 0, "media_empty", "empty"),
        (pdf(), "report.pdf", "image/jpeg", None, "media_name_mismatch", "named like a PDF"),
    ],
)
def test_bad_files_are_refused_naming_what_is_wrong(content, name, mime, size, code, words):
    error = refusal(content, name, mime, size)
    assert error.code == code
    assert words in error.message


def test_the_limits_are_inclusive():
    assert check(jpeg(), "exact.jpg", "image/jpeg", size=5 * MB) == "image"
    assert check_upload(filename="exact.pdf", mime_type="application/pdf", size=100 * MB) == "document"
