"""Proxies for the data-subject report, the proof of consent and the back-dated opt-out report: admin
pages only, no tables and no permissions (the compliance export permission of 0001 opens them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_consent_audit_export"),
        ("contacts", "0013_import_perf"),
        ("messaging", "0008_campaigns"),
    ]

    operations = [
        migrations.CreateModel(
            name="BackdatedOptOutReport",
            fields=[],
            options={
                "verbose_name": "message sent after a back-dated opt-out",
                "verbose_name_plural": "messages sent after a back-dated opt-out",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("messaging.outboundmessage",),
        ),
        migrations.CreateModel(
            name="ConsentProof",
            fields=[],
            options={
                "verbose_name": "proof of consent",
                "verbose_name_plural": "proof of consent",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("messaging.outboundmessage",),
        ),
        migrations.CreateModel(
            name="DataSubjectReport",
            fields=[],
            options={
                "verbose_name": "data-subject report",
                "verbose_name_plural": "data-subject reports",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.contact",),
        ),
    ]
