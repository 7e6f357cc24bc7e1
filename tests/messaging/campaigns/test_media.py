"""Header media: types judged by content, Meta's size limits, https links, the upload and the
re-upload before Meta's 30-day expiry (with a frozen clock), in memory and against the sandbox."""

import io
import itertools
import zipfile
from datetime import timedelta

import pytest
import requests
from django.core.files.base import ContentFile
from django.utils import timezone

from cloud_api.errors import ErrorClass, MetaError
from cloud_api.outcomes import CloudApiCallFailed, Refused
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.media import (
    MB,
    MEDIA_RULES,
    campaign_media_check,
    campaign_media_ensure,
    header_media_problems,
    link_problems,
    media_bytes_problems,
    sniff_media_type,
)
from tests.messaging.campaigns.content_world import PROMO, approved, campaign, image_header
from tests.sandbox import TOKEN, VERSION

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + b"\x00" * 200
GPP = b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x02\x00" + b"\x00" * 200
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"\x00" * 200
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200
GIF = b"GIF89a" + b"\x00" * 200


def office(part: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<x/>")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize(
    ("content", "name", "mime"),
    [
        (JPEG, "a.jpg", "image/jpeg"),
        (PNG, "a.png", "image/png"),
        (MP4, "a.mp4", "video/mp4"),
        (GPP, "a.3gp", "video/3gpp"),
        (MOV, "a.mp4", ""),
        (PDF, "a.pdf", "application/pdf"),
        (
            office("word/document.xml"),
            "a.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            office("xl/workbook.xml"),
            "a.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (b"PK\x03\x04not really a zip", "a.docx", ""),
        (OLE, "a.xls", "application/vnd.ms-excel"),
        (OLE, "a.bin", ""),
        ("Grüße\n".encode(), "a.txt", "text/plain"),
        (b"\x00\x01\x02", "a.txt", ""),
        (b"\xff\xfe\x00", "a.txt", ""),
        (GIF, "a.gif", ""),
        (JPEG, "invoice.pdf", "image/jpeg"),  # the content decides, not the name
    ],
)
def test_the_type_is_read_from_the_bytes(content, name, mime):
    assert sniff_media_type(io.BytesIO(content), filename=name) == mime


def test_every_kind_of_header_has_its_limit_from_meta():
    assert {kind: rule.max_bytes // MB for kind, rule in MEDIA_RULES.items()} == {
        "IMAGE": 5,
        "VIDEO": 16,
        "DOCUMENT": 100,
    }
    assert set(MEDIA_RULES["IMAGE"].types) == {"image/jpeg", "image/png"}
    assert set(MEDIA_RULES["VIDEO"].types) == {"video/mp4", "video/3gpp"}


@pytest.mark.parametrize(
    ("kind", "content", "name", "expected"),
    [
        ("IMAGE", JPEG, "spring.jpg", None),
        ("IMAGE", PNG, "spring.png", None),
        ("IMAGE", GIF, "spring.gif", "is none of the kinds WhatsApp takes"),
        ("IMAGE", PDF, "spring.jpg", "is a PDF (judged by its content)"),
        ("IMAGE", PNG, "spring.jpg", "is named like a JPEG image but is a PNG image"),
        ("VIDEO", PNG, "clip.mp4", "upload one of: 3GPP video, MP4 video"),
        ("VIDEO", MOV, "clip.mov", "none of the kinds"),
        ("DOCUMENT", PDF, "invoice.pdf", None),
        ("DOCUMENT", JPEG, "invoice.pdf", "is a JPEG image (judged by its content)"),
        ("DOCUMENT", PDF, "invoice.docx", "named like a Word document but is a PDF"),
        ("IMAGE", b"", "empty.jpg", "is empty"),
        ("IMAGE", JPEG + b"\x00" * (5 * MB), "huge.jpg", "WhatsApp takes images of at most 5 MB"),
    ],
)
def test_a_file_of_the_wrong_type_or_size_is_refused(kind, content, name, expected):
    _, problems = media_bytes_problems(header_kind=kind, content=content, filename=name)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


def test_the_size_limits_are_inclusive():
    at_limit = JPEG + b"\x00" * (5 * MB - len(JPEG))
    assert media_bytes_problems(header_kind="IMAGE", content=at_limit, filename="a.jpg")[1] == []
    video = MP4 + b"\x00" * (16 * MB + 1 - len(MP4))
    assert "16 MB" in media_bytes_problems(header_kind="VIDEO", content=video, filename="a.mp4")[1][0]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://cdn.example/spring.jpg", None),
        ("https://cdn.example/image?id=7", None),
        ("http://cdn.example/spring.jpg", "starting with https://"),
        ("https:///spring.jpg", "starting with https://"),
        ("ftp://cdn.example/spring.jpg", "starting with https://"),
        ("cdn.example/spring.jpg", "starting with https://"),
        ("https://cdn.example/my spring.jpg", "contains a space"),
        ("https://cdn.example/spring.pdf", "the link names a PDF"),
        ("https://cdn.example/" + "x" * 2000 + ".jpg", "longer than 2000"),
    ],
)
def test_a_link_must_be_https_and_name_a_fitting_file(link, expected):
    problems = link_problems(header_kind="IMAGE", link=link)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in text for text in problems), problems


_names = itertools.count()


def image_campaign(**fields) -> Campaign:
    return campaign(approved(f"promo_{next(_names)}", components=image_header(PROMO)), **fields)


def upload_campaign(content=JPEG, name="spring.jpg") -> Campaign:
    return image_campaign(header_media_source="upload", header_media_file=ContentFile(content, name=name))


def test_the_campaigns_media_against_its_template():
    assert campaign_media_check(upload_campaign()) == []
    assert (
        campaign_media_check(
            image_campaign(header_media_source="link", header_media_link="https://c.example/a.png")
        )
        == []
    )
    assert campaign_media_check(image_campaign()) == [
        "The template has an image header: give a link or upload the file."
    ]
    assert campaign_media_check(image_campaign(header_media_source="upload")) == [
        "Upload the header's file, or give a link to it."
    ]
    assert (
        "WhatsApp takes images of at most 5 MB"
        in campaign_media_check(upload_campaign(JPEG + b"\x00" * 6 * MB))[0]
    )
    text_only = campaign(
        approved("plain"), header_media_source="link", header_media_link="https://c.example/a.png"
    )
    assert campaign_media_check(text_only) == [
        "The template has no image, video or document header: choose no header media."
    ]


def test_languages_with_different_media_headers_are_refused():
    en = approved("promo", "en", components=image_header(PROMO))
    video = [{**image_header(PROMO)[0], "format": "VIDEO"}, *image_header(PROMO)[1:]]
    approved("promo", "de", components=video)
    problems = campaign_media_check(
        campaign(en, header_media_source="link", header_media_link="https://c.example/a.jpg")
    )
    assert problems == [
        "The template's languages have different media headers (image in en; video in de): "
        "one campaign sends one file."
    ]


def test_the_readiness_hook_checks_only_the_given_file():
    assert header_media_problems(upload_campaign(PDF, "a.jpg"), kind="IMAGE")[0].startswith(
        "The template's header is an image, and the file “a.jpg” is a PDF"
    )
    assert header_media_problems(image_campaign(), kind="IMAGE") == []


# --- upload and re-upload -----------------------------------------------------------------------


def test_the_file_is_uploaded_once_and_again_when_its_id_nears_metas_expiry(memory_backend):
    target = upload_campaign()
    start = timezone.now()
    first = campaign_media_ensure(campaign=target, now=start)
    assert memory_backend.media[first] == JPEG
    stored = Campaign.objects.get(pk=target.pk)
    assert (stored.header_media_id, stored.header_media_uploaded_at, stored.header_media_mime) == (
        first,
        start,
        "image/jpeg",
    )
    assert target.header_media_id == first  # the caller's object too

    almost = start + timedelta(days=29) - timedelta(seconds=1)
    assert campaign_media_ensure(campaign=target, now=almost) == first
    assert len(memory_backend.media) == 1

    second = campaign_media_ensure(campaign=target, now=start + timedelta(days=29))
    assert second != first and len(memory_backend.media) == 2
    assert Campaign.objects.get(pk=target.pk).header_media_uploaded_at == start + timedelta(days=29)


def test_the_expiry_margin_is_a_setting(memory_backend, settings):
    settings.CAMPAIGN_MEDIA_ID_MAX_AGE_DAYS = 10
    target = upload_campaign()
    start = timezone.now()
    first = campaign_media_ensure(campaign=target, now=start)
    assert campaign_media_ensure(campaign=target, now=start + timedelta(days=10)) != first


def test_a_link_or_no_media_uploads_nothing(memory_backend):
    linked = image_campaign(header_media_source="link", header_media_link="https://c.example/a.jpg")
    assert campaign_media_ensure(campaign=linked) == ""
    assert memory_backend.media == {}


def test_a_refused_file_is_not_uploaded(memory_backend):
    with pytest.raises(ApplicationError) as refused:
        campaign_media_ensure(campaign=upload_campaign(GIF, "a.gif"))
    assert refused.value.code == "campaign_media_invalid"
    assert memory_backend.media == {}


class RefusingBackend:
    def upload_media(self, content, *, mime_type, filename="file"):
        error = MetaError(code=131053, error_class=ErrorClass.REQUEST_PERMANENT, message="Media upload error")
        raise CloudApiCallFailed(Refused(error), operation="upload media")


def test_whatsapps_refusal_is_said_and_nothing_stored():
    target = upload_campaign()
    with pytest.raises(ApplicationError) as refused:
        campaign_media_ensure(campaign=target, backend=RefusingBackend())
    assert refused.value.code == "campaign_media_upload_failed" and "131053" in refused.value.message
    assert Campaign.objects.get(pk=target.pk).header_media_id == ""


class RacingBackend:
    """Another worker stores its upload while this one's is in flight."""

    def __init__(self, *, change_file=False):
        self.change_file = change_file

    def upload_media(self, content, *, mime_type, filename="file"):
        row = Campaign.objects.filter(pk=self.pk)
        if self.change_file:
            row.update(
                header_media_file="campaign-media/other.jpg",
                header_media_id="",
                header_media_uploaded_at=None,
            )
        else:
            row.update(header_media_id="their-id", header_media_uploaded_at=timezone.now())
        return "our-id"


def test_two_uploads_at_once_keep_one_id(memory_backend):
    target = upload_campaign()
    backend = RacingBackend()
    backend.pk = target.pk
    assert campaign_media_ensure(campaign=target, backend=backend) == "their-id"
    assert Campaign.objects.get(pk=target.pk).header_media_id == "their-id"


def test_a_file_replaced_during_the_upload_is_said(memory_backend):
    target = upload_campaign()
    backend = RacingBackend(change_file=True)
    backend.pk = target.pk
    with pytest.raises(ApplicationError) as refused:
        campaign_media_ensure(campaign=target, backend=backend)
    assert refused.value.code == "campaign_media_changed"


def test_the_upload_reaches_the_sandbox(app_sandbox):
    target = upload_campaign(PNG, "spring.png")
    media_id = campaign_media_ensure(campaign=target)
    answer = requests.get(
        f"{app_sandbox.url}/{VERSION}/{media_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert answer.status_code == 200
    assert (answer.json()["mime_type"], answer.json()["file_size"]) == ("image/png", len(PNG))
