from django.db import migrations

from core.db import append_only_triggers


class Migration(migrations.Migration):
    """The consent ledger, the wordings and the activity log refuse UPDATE and DELETE on PostgreSQL."""

    dependencies = [("contacts", "0001_initial")]

    operations = [
        append_only_triggers("contacts_consentevent", "contacts_consentwording", "contacts_activitylogentry"),
    ]
