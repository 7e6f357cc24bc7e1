from django.db import migrations

from core.db import append_only_triggers, truncate_guard_triggers
from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, grant_permissions

AUDIENCE_READ = [
    "contacts.view_contactimport",
    "contacts.view_importrow",
    "contacts.view_attributedefinition",
    "contacts.view_contactlist",
    "contacts.view_contactlistmember",
    "contacts.view_segment",
    "contacts.view_segmentversion",
]


class Migration(migrations.Migration):
    """Segment versions are append-only (a campaign freezes one); the roles' rights on audiences.

    Editors import, declare custom fields, make lists and segments and export; Auditors read all
    of it and export; Approvers read segments and lists, to see who a campaign is for.
    """

    dependencies = [("contacts", "0010_audiences")]

    operations = [
        append_only_triggers("contacts_segmentversion"),
        truncate_guard_triggers("contacts_segmentversion"),
        grant_permissions(
            {
                EDITOR: [
                    *AUDIENCE_READ,
                    "contacts.export_contact",
                    "contacts.add_contactimport",
                    "contacts.change_contactimport",
                    "contacts.add_attributedefinition",
                    "contacts.change_attributedefinition",
                    "contacts.delete_attributedefinition",
                    "contacts.add_contactlist",
                    "contacts.add_segment",
                    "contacts.change_segment",
                ],
                APPROVER: [
                    "contacts.view_attributedefinition",
                    "contacts.view_contactlist",
                    "contacts.view_segment",
                    "contacts.view_segmentversion",
                ],
                AUDITOR: [*AUDIENCE_READ, "contacts.export_contact"],
                ADMINISTRATOR: [],
            }
        ),
    ]
