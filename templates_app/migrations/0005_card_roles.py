from django.db import migrations

from core.roles import APPROVER, AUDITOR, EDITOR, SUPPORT, grant_permissions


class Migration(migrations.Migration):
    """Editors author a carousel's cards as they author its buttons; everyone else reads them."""

    dependencies = [
        ("templates_app", "0004_carousel_offer_location"),
    ]

    operations = [
        grant_permissions(
            {
                EDITOR: [
                    "templates_app.view_templatecard",
                    "templates_app.add_templatecard",
                    "templates_app.change_templatecard",
                    "templates_app.delete_templatecard",
                ],
                APPROVER: ["templates_app.view_templatecard"],
                SUPPORT: ["templates_app.view_templatecard"],
                AUDITOR: ["templates_app.view_templatecard"],
            }
        ),
    ]
