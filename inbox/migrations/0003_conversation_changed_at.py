import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """When a conversation's row last changed, for the list's poll (docs/inbox-list.md).

    Rows that exist get the migration's time: a moment at or after every change they have had.
    """

    dependencies = [("inbox", "0002_roles")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="changed_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["changed_at", "id"], name="conversation_changed_idx"),
        ),
    ]
