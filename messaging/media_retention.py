"""Retention: local copies of media are deleted ``INBOX_MEDIA_RETENTION_DAYS`` after they arrived.

A person's photos and documents are personal data kept only as long as the support team needs
them (docs/erasure.md). The row stays, with ``purged_at``, as the record that a file was there;
only the bytes go. The file is deleted before the row says so: a run that dies in between leaves
a row still naming a missing file, which the view treats as gone and the next run finishes. A
download still pending for so old a row is given up too (Meta's media id lasted only 7 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from messaging.models import MessageMedia

DEFAULT_RETENTION_DAYS = 90
PURGE_CHUNK = 500


def retention_days() -> int:
    return int(getattr(settings, "INBOX_MEDIA_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def media_purge_expired(*, now: datetime | None = None) -> int:
    """Delete every local copy created before the retention cut-off; how many rows were purged."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=retention_days())
    purged = 0
    while True:
        chunk = list(
            MessageMedia.objects.filter(purged_at__isnull=True, created_at__lt=cutoff)
            .order_by("created_at", "pk")
            .values_list("pk", "file")[:PURGE_CHUNK]
        )
        if not chunk:
            return purged
        for pk, name in chunk:
            if name:
                default_storage.delete(name)
            purged += MessageMedia.objects.filter(pk=pk, purged_at__isnull=True).update(
                purged_at=now, file="", next_attempt_at=None
            )
