from django.db import migrations

from core.roles import AUDITOR, EDITOR, SUPPORT, grant_permissions


class Migration(migrations.Migration):
    """Support reads, answers, assigns and notes; Editors write canned replies; Auditors read it all.

    Nobody deletes: conversations and notes are the record of what was said to whom.
    """

    dependencies = [("inbox", "0001_initial")]

    operations = [
        grant_permissions(
            {
                SUPPORT: [
                    "inbox.view_conversation",
                    "inbox.reply_conversation",
                    "inbox.assign_conversation",
                    "inbox.view_conversationnote",
                    "inbox.add_conversationnote",
                    "inbox.view_cannedreply",
                ],
                EDITOR: ["inbox.view_cannedreply", "inbox.add_cannedreply", "inbox.change_cannedreply"],
                AUDITOR: ["inbox.view_conversation", "inbox.view_conversationnote", "inbox.view_cannedreply"],
            }
        )
    ]
