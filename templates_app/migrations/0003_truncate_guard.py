from django.db import migrations

from core.db import truncate_guard_triggers


class Migration(migrations.Migration):
    """The template timeline refuses TRUNCATE on PostgreSQL (core.db)."""

    dependencies = [("templates_app", "0002_roles_and_timeline_guard")]

    operations = [
        truncate_guard_triggers("templates_app_templateevent"),
    ]
