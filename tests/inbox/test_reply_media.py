"""The composer's media tab end to end against the sandbox ("Meta"): the agent's file is checked by
its bytes, uploaded, kept, and queued as a reply quoting the person's message, which the sandbox
accepts with the media id it holds. A file WhatsApp would refuse is refused on the page, naming the
file and Meta's limit, and nothing is uploaded, kept or queued; a reply refused after the upload
(someone answered meanwhile) leaves no copy behind either."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from cloud_api.sandbox.media_samples import jpeg, pdf
from contacts.models import ActivityLogEntry
from core.actors import Actor
from inbox.conversations import record_inbound
from inbox.models import Conversation
from messaging.media import MEDIA_LIMITS
from messaging.models import InboundMessage, MessageMedia, MessageStatus, OutboundMessage
from messaging.sending import content
from messaging.sending.dispatch import send_queued
from messaging.sending.service import send_message
from tests.factories import ContactFactory
from tests.sandbox import control

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def written(app_sandbox, settings) -> InboundMessage:
    """The person writes through the sandbox (their window opens there); stored as the webhook does."""
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    person = ContactFactory(phone="+4915112345678", first_name="Pablo")
    text = "Do you have a photo of the menu?"
    wamid = control(app_sandbox, "inbound", {"from": person.phone, "kind": "text", "body": text})["wamid"]
    now = timezone.now()
    person.last_inbound_at = now
    person.save(update_fields=["last_inbound_at"])
    with transaction.atomic():  # as the webhook stores it (a transactional test has none open)
        message = InboundMessage.objects.create(
            wamid=wamid, contact=person, type="text", text=text, payload={"type": "text"}, sent_at=now
        )
        record_inbound(message)
    return message


def post_file(client, user, upload, *, caption="", seen=""):
    client.force_login(user)
    conversation = Conversation.objects.get()
    url = reverse("admin:inbox_conversation_reply", args=[conversation.pk])
    return client.post(url, {"tab": "media", "file": upload, "caption": caption, "seen_outbound_id": seen})


def nothing_left(media_root):
    assert not OutboundMessage.objects.exists()
    assert not MessageMedia.objects.exists()
    assert not ActivityLogEntry.objects.filter(action__in=["media.uploaded", "conversation.replied"]).exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_a_photo_is_uploaded_queued_as_a_reply_and_accepted_by_the_sandbox(
    client, support, written, app_sandbox
):
    photo = jpeg()
    response = post_file(
        client, support, SimpleUploadedFile("menu.jpg", photo, "image/jpeg"), caption="Our *menu*"
    )
    assert response.status_code == 302

    stored = MessageMedia.objects.get()
    assert (stored.kind, stored.mime_type, stored.size, stored.uploaded_by) == (
        "image",
        "image/jpeg",
        len(photo),
        support,
    )
    reply = OutboundMessage.objects.get()
    assert reply.content == content.media("image", stored.media_id, caption="Our *menu*")
    assert (reply.is_reply, reply.reply_to, reply.actor_user) == (True, written, support)
    assert reply.status == MessageStatus.QUEUED

    assert send_queued(reply.pk).startswith("accepted as ")
    [request] = control(app_sandbox, "messages")["data"]
    payload = request["payload"]
    assert payload["type"] == "image"
    assert payload["image"] == {"id": stored.media_id, "caption": "Our *menu*"}
    assert payload["context"] == {"message_id": written.wamid}

    # The thread draws it from our copy, through the staff-only file view.
    page = client.get(reverse("admin:inbox_conversation_change", args=[written.contact.conversation.pk]))
    assert f'id="out-{reply.pk}"' in page.content.decode()


def bad_files():
    image = MEDIA_LIMITS["image"]
    oversized = jpeg() + b"\0" * (image.max_bytes + 1 - len(jpeg()))
    return [
        pytest.param(
            SimpleUploadedFile("setup.exe", b"MZ\x90\x00", "application/x-msdownload"),
            "The file “setup.exe” is “application/x-msdownload”, which WhatsApp does not take.",
            id="wrong-type",
        ),
        pytest.param(
            SimpleUploadedFile("menu.jpg", oversized, "image/jpeg"),
            f"The file “menu.jpg” is 5.0 MB ({image.max_bytes + 1:,} bytes); WhatsApp takes images of at "
            f"most 5.0 MB ({image.max_bytes:,} bytes).",
            id="too-large",
        ),
        pytest.param(
            SimpleUploadedFile("menu.jpg", pdf(), "image/jpeg"),
            "The file “menu.jpg” is a PDF by its content, not a JPEG image",
            id="disguised",
        ),
    ]


@pytest.mark.parametrize(("upload", "message"), bad_files())
def test_a_file_whatsapp_would_refuse_is_named_on_the_page_and_nothing_is_queued(
    client, support, written, app_sandbox, media_root, upload, message
):
    response = post_file(client, support, upload, caption="The menu")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="inbox-error"' in page and message in page
    assert 'data-pane="media" id="composer-media"' in page  # the media tab stays open, not hidden
    assert "The menu" in page  # the caption is kept
    nothing_left(media_root)
    assert control(app_sandbox, "messages")["data"] == []


def test_no_file_or_a_caption_too_long_is_named(client, support, written, media_root):
    response = post_file(client, support, "")
    assert response.status_code == 400
    assert "Choose a file to send." in response.content.decode()
    long_caption = "x" * 1025
    response = post_file(
        client, support, SimpleUploadedFile("menu.jpg", jpeg(), "image/jpeg"), caption=long_caption
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Correct the caption below." in page
    assert "Ensure this value has at most 1024 characters (it has 1025)." in page
    nothing_left(media_root)


def test_a_photo_refused_after_its_upload_leaves_no_copy(client, support, written, media_root):
    # A colleague answered after the agent's page loaded (it showed no message of ours).
    other = send_message(
        contact=written.contact,
        actor=Actor.system("colleague"),
        content=content.text("On it!"),
        reply_to=written,
    )
    response = post_file(client, support, SimpleUploadedFile("menu.jpg", jpeg(), "image/jpeg"), seen="0")
    assert response.status_code == 409
    assert "colleague sent a message since you loaded this conversation" in response.content.decode()
    assert list(OutboundMessage.objects.all()) == [other]
    assert not MessageMedia.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))
    # Meta took the file before the reply was refused: the log says it was uploaded, then discarded.
    uploaded, discarded = ActivityLogEntry.objects.filter(action__startswith="media.").order_by("pk")
    assert (uploaded.action, discarded.action) == ("media.uploaded", "media.discarded")
    assert discarded.object_id == uploaded.object_id
    assert discarded.details["reason"] == "someone_replied"
    assert not ActivityLogEntry.objects.filter(action="conversation.replied").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_transaction_is_open_while_meta_takes_the_file(client, support, written, monkeypatch):
    """On SQLite an open write transaction holds the database's one write lock: every webhook, a
    STOP included, would wait for the upload (up to 100 MB) to finish."""
    import messaging.media

    backend = messaging.media.get_backend()
    in_transaction = []

    class Watched:
        def upload_media(self, *args, **kwargs):
            in_transaction.append(connection.in_atomic_block)
            return backend.upload_media(*args, **kwargs)

    monkeypatch.setattr(messaging.media, "get_backend", Watched)
    response = post_file(client, support, SimpleUploadedFile("menu.jpg", jpeg(), "image/jpeg"))
    assert response.status_code == 302
    assert in_transaction == [False]
    assert OutboundMessage.objects.get().content["media_id"] == MessageMedia.objects.get().media_id
