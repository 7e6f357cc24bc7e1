"""`manage.py seed_demo`: the demo's users (one per role) and data. Refused when DEBUG is off."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contacts.demo import seed_contacts
from contacts.models import Segment
from contacts.segments.services import segment_create
from core.actors import Actor
from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, SUPPORT
from inbox.demo import seed_canned_replies, seed_conversations
from messaging.admin_campaign_preview import preview_context
from messaging.campaign_models import Campaign
from messaging.campaigns.workflow import campaign_create, campaign_submit
from surveys.demo import seed_survey
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


# The campaign waiting for the demo Approver: written and submitted by the demo Editor.
DEMO_SEGMENT = "Newsletter subscribers"
DEMO_CAMPAIGN = "Spring promotion to newsletter subscribers"
DEMO_CAMPAIGN_BINDINGS = {
    "body": {
        "1": {"source": "field", "value": "first_name", "fallback": "there", "format": ""},
        "2": {"source": "literal", "value": "Sunday", "fallback": "", "format": ""},
    },
    "buttons": {"2": {"source": "literal", "value": "SPRING20", "fallback": "", "format": ""}},
}
DEMO_CAMPAIGN_IMAGE = "https://shop.example/images/spring.jpg"


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


def seed_campaign(*, editor, templates) -> Campaign:
    """The spring promotion to the newsletter's readers, submitted by the Editor: it waits for the
    demo Approver (who is not among its authors). Its preview shows who is left out and why (an
    opt-out, no marketing opt-in)."""
    campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN).first()
    if campaign is not None:
        return campaign
    actor = Actor.for_user(editor)
    segment = Segment.objects.filter(name=DEMO_SEGMENT).first() or segment_create(
        name=DEMO_SEGMENT,
        description="Contacts tagged Newsletter.",
        rules={"op": "all", "rules": [{"kind": "tag", "tag": "Newsletter"}]},
        actor=actor,
    )
    promotion = next(t for t in templates if t.name == "spring_promotion")
    campaign = campaign_create(
        actor=actor,
        name=DEMO_CAMPAIGN,
        template=promotion,
        segment=segment,
        bindings=DEMO_CAMPAIGN_BINDINGS,
        header_media_source="link",
        header_media_link=DEMO_CAMPAIGN_IMAGE,
    )
    campaign = campaign_submit(campaign=campaign, actor=actor)
    preview_context(campaign)  # its figures in the Approver's queue from the start
    return campaign


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
            campaign = seed_campaign(editor=User.objects.get(username="editor"), templates=templates)
            seed_conversations()
            seed_canned_replies()
            seed_survey()
        write_sandbox_seed(SANDBOX_SEED_FILE, templates)
        self.stdout.write(
            f"Demo data: {created} new contacts, {len(templates)} approved templates, the campaign "
            f"“{campaign}” ({campaign.get_status_display().lower()}: log in as approver to approve it).\n"
        )
        self.stdout.write(self.style.SUCCESS("Admin: http://127.0.0.1:8000/admin/ — demo logins:"))
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<14} {demo_password(username):<26} {role or 'superuser'}")
