from django.db import migrations, models

from core.roles import ADMINISTRATOR, grant_permissions


class Migration(migrations.Migration):
    """Why a callback event's latest attempt failed or why its delivery stopped (a revoked key), and
    the right to retry one now: Administrators see the outbox and may retry; Auditors (0002) see it."""

    dependencies = [
        ("api", "0002_roles_and_rate_windows"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackevent",
            name="last_error",
            field=models.CharField(
                blank=True,
                help_text="Why the latest attempt failed, or why delivery stopped.",
                max_length=500,
            ),
        ),
        migrations.AlterModelOptions(
            name="callbackevent",
            options={"permissions": [("retry_callbackevent", "Can retry a callback event now")]},
        ),
        grant_permissions(
            {
                ADMINISTRATOR: [
                    "api.view_callbackevent",
                    "api.view_callbackdelivery",
                    "api.retry_callbackevent",
                ]
            }
        ),
    ]
