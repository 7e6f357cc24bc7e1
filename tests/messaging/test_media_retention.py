"""Retention: local media copies older than INBOX_MEDIA_RETENTION_DAYS are deleted; rows stay."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from messaging.media_retention import media_purge_expired
from messaging.media_tasks import purge_media
from messaging.models import MessageMedia


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def kept(media_id: str, *, age_days: float) -> MessageMedia:
    media = MessageMedia(media_id=media_id, direction="outbound", kind="image", mime_type="image/jpeg")
    media.created_at = timezone.now() - timedelta(days=age_days)
    media.file.save("x.jpg", ContentFile(b"\xff\xd8\xff"), save=True)
    return media


@pytest.mark.django_db
def test_old_files_go_and_their_rows_stay(settings, media_root):
    settings.INBOX_MEDIA_RETENTION_DAYS = 30
    old, fresh = kept("1", age_days=31), kept("2", age_days=29)
    old_path = media_root / old.file.name
    assert old_path.exists()

    assert media_purge_expired() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert not old_path.exists()
    assert old.purged_at is not None and not old.file and not old.available
    assert fresh.purged_at is None and (media_root / fresh.file.name).exists()
    assert media_purge_expired() == 0  # repeatable


@pytest.mark.django_db
def test_the_default_is_ninety_days_and_a_pending_download_is_given_up(settings):
    del settings.INBOX_MEDIA_RETENTION_DAYS
    kept("1", age_days=89)
    pending = MessageMedia.objects.create(
        media_id="3",
        direction="outbound",
        kind="audio",
        mime_type="audio/ogg",
        next_attempt_at=timezone.now(),
    )
    MessageMedia.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert purge_media() == "1 media files deleted"
    pending.refresh_from_db()
    assert pending.purged_at is not None and pending.next_attempt_at is None
