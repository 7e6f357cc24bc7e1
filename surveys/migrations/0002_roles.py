from django.db import migrations

from core.roles import AUDITOR, EDITOR, SUPPORT, grant_permissions

VIEW = [
    "surveys.view_survey",
    "surveys.view_question",
    "surveys.view_option",
    "surveys.view_surveyrun",
    "surveys.view_answer",
    "surveys.view_buttontag",
]
MANAGE = [
    f"surveys.{action}_{model}"
    for model in ("survey", "question", "option", "buttontag")
    for action in ("add", "change", "delete")
]


class Migration(migrations.Migration):
    """Editors manage surveys (and the button tags of the appointment example); Support reads them and
    starts one in a conversation; Auditors read everything and export the answers. Runs and answers
    are written by the system alone: no role may add, change or delete them."""

    dependencies = [("surveys", "0001_initial")]

    operations = [
        grant_permissions(
            {
                EDITOR: [*VIEW, *MANAGE, "surveys.export_answers"],
                SUPPORT: [*VIEW, "surveys.start_survey"],
                AUDITOR: [*VIEW, "surveys.export_answers"],
            }
        )
    ]
