from django.db import migrations

from core.db import append_only_triggers
from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, SUPPORT, grant_permissions

MESSAGES_READ = [
    "messaging.view_outboundmessage",
    "messaging.view_sendattempt",
    "messaging.view_messagestatusevent",
    "messaging.view_inboundmessage",
]


class Migration(migrations.Migration):
    """Who reads and sends messages; the status history is append-only."""

    dependencies = [
        ("messaging", "0001_initial"),
        ("templates_app", "0002_roles_and_timeline_guard"),
    ]

    operations = [
        append_only_triggers("messaging_messagestatusevent"),
        grant_permissions(
            {
                EDITOR: [*MESSAGES_READ, "messaging.send_template_message", "messaging.view_sendinghalt"],
                APPROVER: [*MESSAGES_READ, "messaging.view_sendinghalt"],
                SUPPORT: [*MESSAGES_READ, "messaging.send_template_message", "messaging.view_sendinghalt"],
                AUDITOR: [
                    *MESSAGES_READ,
                    "messaging.view_webhookevent",
                    "messaging.view_sendinghalt",
                    "messaging.view_messagingtier",
                ],
                ADMINISTRATOR: [
                    *MESSAGES_READ,
                    "messaging.view_webhookevent",
                    "messaging.view_sendinghalt",
                    "messaging.clear_sendinghalt",
                    "messaging.review_unknown_message",
                    "messaging.view_messagingtier",
                ],
            }
        ),
    ]
