from django.db import migrations

from core.roles import AUDITOR, grant_permissions


class Migration(migrations.Migration):
    """Auditors read everything, staff accounts and their roles included (who could do what)."""

    dependencies = [
        ("contacts", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [grant_permissions({AUDITOR: ["auth.view_user", "auth.view_group"]})]
