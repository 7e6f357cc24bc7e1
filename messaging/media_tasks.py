"""django-q2 tasks for media: downloads woken after a message's commit, retries and the purge by schedule.

Tasks take ids and claim their rows first (``messaging.media_inbound``), so a task run twice, or
two workers on the same ids, fetch each file once.
"""

from django.utils import timezone

from messaging.media_inbound import media_download_many, media_downloads_due
from messaging.media_retention import media_purge_expired

DOWNLOAD_TASK = "messaging.media_tasks.download_media"
RETRY_SCHEDULE_NAME = "media: retry failed downloads"
PURGE_SCHEDULE_NAME = "media: delete files past retention"


def download_media(media_pks: list[int]) -> str:
    """Download these received media files (those still due; the others are left alone)."""
    stored = media_download_many(list(media_pks))
    return f"{stored} of {len(media_pks)} media files stored"


def retry_media_downloads() -> str:
    """Scheduled every minute: downloads that failed and are due again, or were never woken."""
    due = media_downloads_due(now=timezone.now())
    if not due:
        return "no media downloads due"
    return download_media(due)


def purge_media() -> str:
    """Scheduled hourly: delete the local copies older than INBOX_MEDIA_RETENTION_DAYS."""
    return f"{media_purge_expired()} media files deleted"
