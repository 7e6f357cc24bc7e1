from django.db import migrations

from core.db import truncate_guard_triggers


class Migration(migrations.Migration):
    """The status history refuses TRUNCATE on PostgreSQL (core.db)."""

    dependencies = [("messaging", "0004_manual_halt")]

    operations = [
        truncate_guard_triggers("messaging_messagestatusevent"),
    ]
