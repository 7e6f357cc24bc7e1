from django.db import migrations

from core.db import truncate_guard_triggers


class Migration(migrations.Migration):
    """The consent ledger, the wordings and the activity log refuse TRUNCATE on PostgreSQL (core.db)."""

    dependencies = [("contacts", "0006_identity_and_consent_order")]

    operations = [
        truncate_guard_triggers(
            "contacts_consentevent", "contacts_consentwording", "contacts_activitylogentry"
        ),
    ]
