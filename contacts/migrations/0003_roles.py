from django.db import migrations

from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, SUPPORT, grant_permissions

CONTACT_READ = [
    "contacts.view_contact",
    "contacts.view_tag",
    "contacts.view_consentevent",
    "contacts.view_consentwording",
    "contacts.view_currentconsent",
]


class Migration(migrations.Migration):
    """The staff roles and their rights on contacts, consent and the activity log."""

    dependencies = [
        ("contacts", "0002_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        grant_permissions(
            {
                EDITOR: [
                    *CONTACT_READ,
                    "contacts.add_contact",
                    "contacts.change_contact",
                    "contacts.delete_contact",
                    "contacts.add_tag",
                    "contacts.change_tag",
                    "contacts.delete_tag",
                    "contacts.add_consentwording",
                    "contacts.record_opt_in",
                    "contacts.record_opt_out",
                ],
                APPROVER: [*CONTACT_READ],
                SUPPORT: [*CONTACT_READ, "contacts.record_opt_out"],
                AUDITOR: [*CONTACT_READ, "contacts.view_activitylogentry"],
                ADMINISTRATOR: [
                    "auth.view_user",
                    "auth.add_user",
                    "auth.change_user",
                    "auth.view_group",
                    "contacts.view_activitylogentry",
                ],
            }
        ),
    ]
