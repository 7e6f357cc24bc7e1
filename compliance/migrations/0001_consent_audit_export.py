"""The consent audit export's permissions, granted to the Auditor role.

Auditors are the compliance team (docs/compliance.md): they export the reports and see personal
data in them. Editors and Approvers get either permission only when an Administrator grants it
to one of them; Support never needs them.
"""

from django.db import migrations

from core.roles import AUDITOR, grant_permissions


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contacts", "0013_import_perf"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsentAuditExport",
            fields=[],
            options={
                "verbose_name": "consent audit export",
                "verbose_name_plural": "consent audit export",
                "permissions": [
                    ("export_consent_audit", "Can export the consent audit reports"),
                    (
                        "view_personal_data",
                        "Can see phone numbers, IP addresses and user agents in compliance exports",
                    ),
                ],
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.consentevent",),
        ),
        grant_permissions({AUDITOR: ["compliance.export_consent_audit", "compliance.view_personal_data"]}),
    ]
