"""The staff-only file view: headers that keep a hostile file harmless, and who may see it."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from cloud_api.sandbox.media_samples import jpeg, pdf
from messaging.models import MessageMedia


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def stored(media_id: str, content: bytes, *, kind: str, mime: str, filename: str) -> MessageMedia:
    media = MessageMedia(
        media_id=media_id, direction="outbound", kind=kind, mime_type=mime, filename=filename
    )
    media.file.save(filename, ContentFile(content), save=True)
    return media


def url(media: MessageMedia) -> str:
    return reverse("admin:messaging_messagemedia_file", args=[media.pk])


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["support", "auditor"])
def test_support_and_auditors_see_an_image_inline(client, request, role):
    photo = stored("1", jpeg(), kind="image", mime="image/jpeg", filename="Foto März.jpg")
    client.force_login(request.getfixturevalue(role))
    response = client.get(url(photo))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == jpeg()
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Cache-Control"] == "private"
    assert response["Content-Disposition"].startswith("inline;")
    assert "filename*=utf-8''Foto%20M%C3%A4rz.jpg" in response["Content-Disposition"]


@pytest.mark.django_db
def test_a_document_or_a_hostile_type_is_an_attachment(client, support):
    client.force_login(support)
    document = stored("2", pdf(), kind="document", mime="application/pdf", filename="invoice.pdf")
    response = client.get(url(document))
    assert response["Content-Disposition"] == 'attachment; filename="invoice.pdf"'
    html = stored("3", b"<script>alert(1)</script>", kind="image", mime="text/html", filename="x.html")
    response = client.get(url(html))
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == "sandbox"


@pytest.mark.django_db
def test_an_editor_may_not_and_anonymous_is_sent_to_log_in(client, editor):
    photo = stored("4", jpeg(), kind="image", mime="image/jpeg", filename="a.jpg")
    response = client.get(url(photo))
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(editor)
    assert client.get(url(photo)).status_code == 403


@pytest.mark.django_db
def test_purged_failed_and_unknown_files_get_a_clear_404(client, support):
    client.force_login(support)
    purged = stored("5", jpeg(), kind="image", mime="image/jpeg", filename="old.jpg")
    MessageMedia.objects.filter(pk=purged.pk).update(purged_at=timezone.now(), file="")
    failed = MessageMedia.objects.create(
        media_id="6", direction="outbound", kind="video", mime_type="video/mp4", error="HTTP 500"
    )
    for target, words in (
        (url(purged), "deleted on"),
        (url(failed), "could not be downloaded from WhatsApp. HTTP 500"),
        (reverse("admin:messaging_messagemedia_file", args=[999999]), "no such media file"),
        (reverse("admin:messaging_messagemedia_file", args=["x1"]), "no such media file"),
    ):
        response = client.get(target)
        assert response.status_code == 404
        assert words in response.content.decode()
        assert "This media file is not available" in response.content.decode()


@pytest.mark.django_db
def test_files_are_not_under_a_public_media_url(client, support, settings):
    photo = stored("7", jpeg(), kind="image", mime="image/jpeg", filename="a.jpg")
    assert client.get("/" + settings.MEDIA_URL + photo.file.name).status_code == 404


@pytest.mark.django_db
def test_an_id_of_unicode_digits_is_no_such_file(client, support):
    client.force_login(support)
    for value in ("²", "①", "1" * 40):
        response = client.get(reverse("admin:messaging_messagemedia_file", args=[value]))
        assert response.status_code == 404
        assert "no such media file" in response.content.decode()
