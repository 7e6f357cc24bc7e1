"""An agent's file: checked, uploaded to the sandbox ("Meta"), kept locally, logged."""

import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cloud_api.backends import get_backend
from cloud_api.sandbox.media_samples import jpeg, pdf
from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from messaging.media import upload_for_sending
from messaging.models import MessageMedia


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_an_upload_reaches_meta_and_a_copy_stays(app_sandbox, support):
    content = pdf("Your invoice")
    upload = SimpleUploadedFile("../../etc/Rechnung März.pdf", content, content_type="application/pdf")
    media = upload_for_sending(upload, actor=Actor.for_user(support))

    assert (media.kind, media.direction, media.mime_type) == ("document", "outbound", "application/pdf")
    assert media.filename == "Rechnung März.pdf"
    assert media.size == len(content)
    assert media.sha256 == hashlib.sha256(content).hexdigest()
    assert media.uploaded_by == support
    assert media.file.name.startswith("whatsapp-media/") and ".." not in media.file.name
    with media.file.open("rb") as stored:
        assert stored.read() == content
    info = get_backend().get_media(media.media_id)  # Meta has it under the id we keep
    assert info["file_size"] == len(content)
    assert info["sha256"] == media.sha256
    entry = ActivityLogEntry.objects.get(action="media.uploaded")
    assert entry.object_id == str(media.pk)
    assert entry.details["kind"] == "document"


@pytest.mark.django_db
def test_a_disguised_file_is_refused_before_anything_leaves(app_sandbox, support, media_root):
    upload = SimpleUploadedFile("cat.jpg", pdf(), content_type="image/jpeg")
    with pytest.raises(ApplicationError) as caught:
        upload_for_sending(upload, actor=Actor.for_user(support))
    assert (caught.value.code, caught.value.field) == ("media_content_mismatch", "file")
    assert not MessageMedia.objects.exists()
    assert not any(media_root.rglob("*.*"))


@pytest.mark.django_db
def test_metas_refusal_is_a_clear_error_and_leaves_nothing(app_sandbox, support, media_root, settings):
    settings.WHATSAPP_ACCESS_TOKEN = "wrong-token"
    upload = SimpleUploadedFile("cat.jpg", jpeg(), content_type="image/jpeg")
    with pytest.raises(ApplicationError) as caught:
        upload_for_sending(upload, actor=Actor.for_user(support))
    assert (caught.value.code, caught.value.field) == ("media_upload_failed", "file")
    assert "cat.jpg" in caught.value.message
    assert not MessageMedia.objects.exists()
    assert not any(media_root.rglob("*.*"))


@pytest.mark.django_db
def test_an_octet_stream_upload_is_sent_with_its_real_type(app_sandbox, support):
    upload = SimpleUploadedFile("photo.jpg", jpeg(), content_type="application/octet-stream")
    media = upload_for_sending(upload, actor=Actor.for_user(support))
    assert (media.kind, media.mime_type) == ("image", "image/jpeg")
    assert get_backend().get_media(media.media_id)["mime_type"] == "image/jpeg"
    assert io.BytesIO(media.file.read()).read(3) == b"\xff\xd8\xff"
