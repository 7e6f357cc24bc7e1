"""`manage.py seed_demo`: the demo's users (one per role) and data. Refused when DEBUG is off."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contacts.demo import seed_contacts
from core.actors import Actor
from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, SUPPORT
from templates_app.demo import seed_templates, write_sandbox_seed

# The Procfile starts the sandbox with --seed-file pointing here.
SANDBOX_SEED_FILE = settings.BASE_DIR / ".demo" / "sandbox-templates.json"

DEMO_USERS = [
    ("admin", None),
    ("editor", EDITOR),
    ("approver", APPROVER),
    ("support", SUPPORT),
    ("auditor", AUDITOR),
    ("administrator", ADMINISTRATOR),
]


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


class Command(BaseCommand):
    help = "Create the demo users (one per role, logins printed) and demo data. Safe to run twice."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with known passwords: it only runs with DEBUG on.")
        User = get_user_model()
        with transaction.atomic():
            for username, role in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User(username=username, is_staff=True, is_superuser=role is None)
                    user.set_password(demo_password(username))
                    user.save()
                if role:
                    user.groups.add(Group.objects.get(name=role))
            actor = Actor.system("demo seed")
            created = seed_contacts(actor=actor)
            templates = seed_templates(actor=actor)
        write_sandbox_seed(SANDBOX_SEED_FILE, templates)
        self.stdout.write(f"Demo data: {created} new contacts, {len(templates)} approved templates.\n")
        self.stdout.write(self.style.SUCCESS("Admin: http://127.0.0.1:8000/admin/ — demo logins:"))
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<14} {demo_password(username):<26} {role or 'superuser'}")
