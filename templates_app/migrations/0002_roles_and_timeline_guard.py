from django.db import migrations

from core.db import append_only_triggers
from core.roles import APPROVER, AUDITOR, EDITOR, SUPPORT, grant_permissions

TEMPLATE_READ = [
    "templates_app.view_messagetemplate",
    "templates_app.view_templatebutton",
    "templates_app.view_templateversion",
    "templates_app.view_templateevent",
]


class Migration(migrations.Migration):
    """Editors author and submit templates; everyone else reads them. The timeline is append-only."""

    dependencies = [
        ("templates_app", "0001_initial"),
        ("contacts", "0003_roles"),
    ]

    operations = [
        append_only_triggers("templates_app_templateevent"),
        grant_permissions(
            {
                EDITOR: [
                    *TEMPLATE_READ,
                    "templates_app.add_messagetemplate",
                    "templates_app.change_messagetemplate",
                    "templates_app.delete_messagetemplate",
                    "templates_app.add_templatebutton",
                    "templates_app.change_templatebutton",
                    "templates_app.delete_templatebutton",
                    "templates_app.submit_messagetemplate",
                    "templates_app.sync_messagetemplate",
                ],
                APPROVER: TEMPLATE_READ,
                SUPPORT: TEMPLATE_READ,
                AUDITOR: TEMPLATE_READ,
            }
        ),
    ]
