"""Small real files for the media a sandbox person sends: what each kind's bytes look like.

Built in code (no binary files in the repository): a PNG drawn pixel by pixel, a one-page PDF, an
Ogg Opus stream's header pages, an MP4's ``ftyp`` box, a one-pixel WebP, and a grey 8×8 JPEG
whose one block needs no encoder (its only coefficients are a zero DC difference and end-of-block).
"""

from __future__ import annotations

import base64
import struct
import zlib

# A 1×1 lossless WebP (a static sticker).
_WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def jpeg() -> bytes:
    """A mid-grey 8×8 baseline JPEG: one block, DC difference 0 then end-of-block, each a 1-bit code."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">HH", marker, len(body) + 2) + body

    one_code = bytes([1] + [0] * 15) + b"\x00"  # one symbol (0) with a 1-bit code
    return (
        b"\xff\xd8"
        + segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xFFDB, b"\x00" + b"\x01" * 64)
        + segment(0xFFC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
        + segment(0xFFC4, b"\x00" + one_code)
        + segment(0xFFC4, b"\x10" + one_code)
        + segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # bits 0 (DC: no change) and 0 (AC: end of block), padded with ones
        + b"\xff\xd9"
    )


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    """A ``width``×``height`` PNG of one colour (8-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf(text: str = "Sandbox document") -> bytes:
    """A one-page PDF showing ``text`` (ASCII), with a correct cross-reference table."""
    safe = (
        "".join(ch for ch in text if 32 <= ord(ch) < 127).replace("\\", "").replace("(", "").replace(")", "")
    )
    stream = f"BT /F1 18 Tf 40 100 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, *, sequence: int, flags: int, granule: int = 0, serial: int = 0x5A5A) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + bytes(lacing) + packet)
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def ogg_opus() -> bytes:
    """An Ogg Opus stream's identification and comment headers and one silent 20 ms frame."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"sandbox" + struct.pack("<I", 0)
    silence = b"\xf8\xff\xfe"  # one SILK frame of silence, as encoders write it
    return (
        _ogg_page(head, sequence=0, flags=0x02)
        + _ogg_page(tags, sequence=1, flags=0x00)
        + _ogg_page(silence, sequence=2, flags=0x04, granule=960 + 312)
    )


def mp4() -> bytes:
    """An ISO media file's ``ftyp`` box and an empty ``free`` box: enough to be known as an MP4."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", 8) + b"free"


def sample_media(kind: str, mime_type: str) -> bytes:
    """Bytes for a ``kind`` message of ``mime_type``; a type without a sample gets its kind's sample."""
    by_type = {
        "image/jpeg": jpeg(),
        "image/png": png(),
        "image/webp": _WEBP,
        "application/pdf": pdf(),
        "audio/ogg": ogg_opus(),
        "video/mp4": mp4(),
        "text/plain": b"Sandbox text file\n",
    }
    by_kind = {"image": jpeg(), "video": mp4(), "audio": ogg_opus(), "document": pdf(), "sticker": _WEBP}
    return by_type.get(mime_type) or by_kind.get(kind, pdf())
