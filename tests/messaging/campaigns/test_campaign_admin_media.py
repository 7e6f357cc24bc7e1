"""The draft form's header media: shown for media templates, a link or an uploaded file, each
checked against the template's header (type judged by the bytes, size per WhatsApp's limits)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from messaging.campaign_models import Campaign

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:messaging_campaign_add")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PROMOTION_BINDINGS = {
    "body": {
        "1": {"source": "field", "value": "first_name", "fallback": "there", "format": ""},
        "2": {"source": "literal", "value": "Sunday", "fallback": "", "format": ""},
    },
    "buttons": {"2": {"source": "literal", "value": "SPRING20", "fallback": "", "format": ""}},
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def promotion_data(templates, segment, **overrides):
    data = {
        "name": "Spring",
        "template": str(templates["spring_promotion"].pk),
        "segment": str(segment.pk),
        "bindings": json.dumps(PROMOTION_BINDINGS),
        "header_media_source": "link",
        "header_media_link": "https://shop.example/spring.jpg",
        "rate_cap": "",
        "schedule_kind": "now",
        "latest_send_at_0": "",
        "latest_send_at_1": "",
    }
    data.update(overrides)
    return data


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code
    return {k: " ".join(v) for k, v in response.context["adminform"].form.errors.items()}


def test_a_link_for_an_image_header_is_kept(client_for, editor, templates, segment):
    response = client_for(editor).post(ADD_URL, promotion_data(templates, segment))
    assert response.status_code == 302, errors_of(response)
    campaign = Campaign.objects.get()
    assert (campaign.header_media_source, campaign.header_media_link) == (
        "link",
        "https://shop.example/spring.jpg",
    )
    assert not campaign.header_media_file


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ("http://shop.example/spring.jpg", "https://"),
        ("https://shop.example/terms.pdf", "image"),
        ("", "give the link"),
    ],
)
def test_a_bad_link_is_refused_on_its_field(client_for, editor, templates, segment, link, words):
    response = client_for(editor).post(ADD_URL, promotion_data(templates, segment, header_media_link=link))
    assert words in errors_of(response)["header_media_link"].lower()
    assert not Campaign.objects.exists()


def test_an_uploaded_image_is_stored(client_for, editor, templates, segment):
    data = promotion_data(
        templates,
        segment,
        header_media_source="upload",
        header_media_link="",
        header_media_file=SimpleUploadedFile("spring.png", PNG, content_type="image/png"),
    )
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, errors_of(response)
    campaign = Campaign.objects.get()
    assert campaign.header_media_source == "upload" and campaign.header_media_file.name.endswith(".png")
    assert campaign.header_media_link == ""


def test_a_file_that_is_not_an_image_is_refused(client_for, editor, templates, segment):
    data = promotion_data(
        templates,
        segment,
        header_media_source="upload",
        header_media_file=SimpleUploadedFile("spring.jpg", b"just some words, not a picture", "image/jpeg"),
    )
    errors = errors_of(client_for(editor).post(ADD_URL, data))
    assert "spring.jpg" in errors["header_media_file"]
    assert not Campaign.objects.exists()


def test_an_upload_without_a_file_is_refused(client_for, editor, templates, segment):
    data = promotion_data(templates, segment, header_media_source="upload", header_media_link="")
    errors = errors_of(client_for(editor).post(ADD_URL, data))
    assert "choose the file" in errors["header_media_file"].lower()
