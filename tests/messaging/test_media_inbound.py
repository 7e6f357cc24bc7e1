"""Media a person sends: recorded with the message, downloaded through the sandbox, checked, retried."""

import base64
import functools
import hashlib
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

import messaging.media_receivers
import messaging.webhooks.tasks
from cloud_api.sandbox.media_samples import jpeg
from messaging.media_inbound import MAX_ATTEMPTS, digest_hex, media_download, media_downloads_due
from messaging.media_receivers import ensure_media_schedules
from messaging.media_tasks import PURGE_SCHEDULE_NAME, RETRY_SCHEDULE_NAME, retry_media_downloads
from messaging.models import InboundMessage, MessageMedia
from messaging.signals import inbound_message_received
from tests.factories import ContactFactory
from tests.sandbox import APP_SECRET, control, wait_until

PERSON = "+4915198765432"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def soon(query):
    """Poll until truthy; SQLite's shared test database may refuse a read while the server writes."""

    def attempt():
        try:
            return query()
        except OperationalError:
            return None

    return wait_until(attempt, timeout=10)


@pytest.fixture
def live_sandbox(live_server, app_sandbox, make_sandbox, settings, monkeypatch):
    """The app talks to a sandbox whose webhooks go to the live server; tasks run inline."""
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    sync = functools.partial(async_task, sync=True)
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", sync)
    monkeypatch.setattr(messaging.media_receivers, "async_task", sync)
    control(app_sandbox, "config", {"webhook_url": live_server.url + "/webhooks/whatsapp/"})
    return app_sandbox


def received(sandbox, **request):
    wamid = control(sandbox, "inbound", {"from": PERSON, **request})["wamid"]
    return soon(
        lambda: (
            MessageMedia.objects.filter(inbound__wamid=wamid, downloaded_at__isnull=False).first()
            or MessageMedia.objects.filter(inbound__wamid=wamid).exclude(error="").first()
        )
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_photo_and_a_document_are_downloaded_and_kept(live_sandbox):
    photo = received(live_sandbox, kind="image", caption="Broken on arrival")
    assert photo.error == "" and photo.file
    with photo.file.open("rb") as stored:
        content = stored.read()
    assert content.startswith(b"\xff\xd8\xff")
    assert (photo.kind, photo.direction, photo.mime_type) == ("image", "inbound", "image/jpeg")
    assert photo.size == len(content)
    assert photo.sha256 == hashlib.sha256(content).hexdigest()
    assert photo.inbound.text == "Broken on arrival"
    assert photo.attempts == 1 and photo.next_attempt_at is None

    document = received(live_sandbox, kind="document", filename="../Lieferschein.pdf")
    assert document.filename == "Lieferschein.pdf"
    assert document.file.name.endswith(".pdf") and "Lieferschein" not in document.file.name
    with document.file.open("rb") as stored:
        assert stored.read().startswith(b"%PDF-")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_bytes_that_do_not_match_metas_sha256_are_refused_and_retried_later(live_sandbox, media_root):
    wrong = hashlib.sha256(b"something else").hexdigest()
    media = received(live_sandbox, kind="audio", sha256=wrong)
    assert not media.file and media.downloaded_at is None
    assert "do not match WhatsApp's SHA-256" in media.error
    assert media.attempts == 1
    assert media.next_attempt_at > timezone.now()  # the schedule tries again
    assert not any(path.is_file() for path in media_root.rglob("*"))  # nothing kept


@pytest.mark.django_db
def test_retries_follow_the_schedule_then_give_up(app_sandbox):
    """An id Meta does not know fails for good at once; a transient failure is retried up to the limit."""
    inbound = InboundMessage.objects.create(
        wamid="wamid.in.1",
        contact=ContactFactory(),
        type="image",
        payload={"type": "image", "image": {"id": "424242", "mime_type": "image/jpeg", "sha256": "ab" * 32}},
        sent_at=timezone.now(),
    )
    media = messaging.media_inbound.media_record_inbound(inbound)
    assert media_download(media.pk) is False
    media.refresh_from_db()
    assert "WhatsApp did not give the media URL" in media.error
    assert "request-permanent" in media.error
    assert media.next_attempt_at is None  # Meta said the id does not exist: no point in retrying
    assert media_downloads_due(now=timezone.now() + timedelta(days=1)) == []


@pytest.mark.django_db
def test_a_sandbox_outage_is_retried_until_the_limit(app_sandbox, settings):
    settings.WHATSAPP_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: not sent
    inbound = InboundMessage.objects.create(
        wamid="wamid.in.2",
        contact=ContactFactory(),
        type="video",
        payload={"type": "video", "video": {"id": "777", "mime_type": "video/mp4", "sha256": "cd" * 32}},
        sent_at=timezone.now(),
    )
    media = messaging.media_inbound.media_record_inbound(inbound)
    now = timezone.now()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert media_downloads_due(now=now) == [media.pk]
        assert media_download(media.pk, now=now) is False
        assert media_download(media.pk, now=now) is False  # claimed: not due again at once
        media.refresh_from_db()
        assert media.attempts == attempt and media.error.startswith(f"Attempt {attempt}:")
        if attempt < MAX_ATTEMPTS:
            assert media.next_attempt_at > now
            now = media.next_attempt_at
    assert media.next_attempt_at is None
    assert media_downloads_due(now=now + timedelta(days=1)) == []


@pytest.mark.django_db
def test_a_replayed_media_id_and_a_media_message_without_id_store_the_message_all_the_same():
    contact = ContactFactory()
    payload = {"type": "sticker", "sticker": {"id": "55", "mime_type": "image/webp", "sha256": "ef" * 32}}
    first = InboundMessage.objects.create(
        wamid="wamid.a", contact=contact, type="sticker", payload=payload, sent_at=timezone.now()
    )
    second = InboundMessage.objects.create(
        wamid="wamid.b", contact=contact, type="sticker", payload=payload, sent_at=timezone.now()
    )
    broken = InboundMessage.objects.create(
        wamid="wamid.c",
        contact=contact,
        type="image",
        payload={"image": {"id": "../x"}},
        sent_at=timezone.now(),
    )
    record = messaging.media_inbound.media_record_inbound
    assert record(first) is not None
    assert record(second) is None
    assert record(broken) is None
    assert MessageMedia.objects.count() == 1


@pytest.mark.django_db
def test_hostile_webhook_values_are_neutralised():
    contact = ContactFactory()
    inbound = InboundMessage.objects.create(
        wamid="wamid.h",
        contact=contact,
        type="document",
        payload={
            "document": {
                "id": "66",
                "mime_type": "text/html\r\nSet-Cookie: x=1",
                "sha256": 5,
                "filename": "a\x07b/../c.pdf",
            }
        },
        sent_at=timezone.now(),
    )
    media = messaging.media_inbound.media_record_inbound(inbound)
    assert media.mime_type == "application/octet-stream"
    assert media.sha256 == ""
    assert media.filename == "c.pdf"  # the last part of the path, control characters dropped


def test_metas_sha256_is_read_as_hex_or_base64():
    digest = hashlib.sha256(jpeg()).digest()
    assert digest_hex(digest.hex().upper()) == digest.hex()
    assert digest_hex(base64.b64encode(digest).decode()) == digest.hex()
    assert digest_hex(base64.urlsafe_b64encode(digest).decode().rstrip("=")) == digest.hex()
    assert digest_hex("not a digest") == ""


def test_the_receiver_and_schedules_are_wired_by_the_app():
    assert any(entry[0][0] == "messaging.media_inbound" for entry in inbound_message_received.receivers)


@pytest.mark.django_db
def test_schedules_are_created_once():
    ensure_media_schedules(sender=None)
    ensure_media_schedules(sender=None)
    retry = Schedule.objects.get(name=RETRY_SCHEDULE_NAME)
    assert (retry.func, retry.schedule_type, retry.minutes) == (
        "messaging.media_tasks.retry_media_downloads",
        Schedule.MINUTES,
        1,
    )
    assert Schedule.objects.get(name=PURGE_SCHEDULE_NAME).schedule_type == Schedule.HOURLY
    assert retry_media_downloads() == "no media downloads due"
