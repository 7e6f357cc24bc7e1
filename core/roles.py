"""The staff roles (Django groups) and the migrations that grant them permissions.

Each issue that adds models grants their permissions in a migration of its own app by calling
``grant_permissions``; the role matrix tests read the groups back.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR = "Editor"
APPROVER = "Approver"
SUPPORT = "Support"
AUDITOR = "Auditor"
ADMINISTRATOR = "Administrator"
ROLES = (EDITOR, APPROVER, SUPPORT, AUDITOR, ADMINISTRATOR)


def _ensure_permissions_exist(apps):
    # Permissions are normally created after all migrations (post_migrate); on a fresh database
    # they do not exist yet when this migration runs.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)


def grant_permissions(grants: dict[str, list[str]]) -> migrations.RunPython:
    """A migration operation giving each role the listed ``app_label.codename`` permissions."""

    def forwards(apps, schema_editor):
        _ensure_permissions_exist(apps)
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for role, perms in grants.items():
            group, _ = Group.objects.get_or_create(name=role)
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )

    def backwards(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for role, perms in grants.items():
            group = Group.objects.filter(name=role).first()
            if group is None:
                continue
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )

    return migrations.RunPython(forwards, backwards, elidable=False)
