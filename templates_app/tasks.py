"""django-q2 tasks for templates: thin, repeatable, called by dotted path."""

from templates_app.services import templates_sync

SYNC_SCHEDULE_NAME = "templates: sync with WhatsApp"
SYNC_EVERY_MINUTES = 5


def sync_templates() -> str:
    """Scheduled: bring statuses, quality and categories in line with Meta; import new templates."""
    return templates_sync().summary()
