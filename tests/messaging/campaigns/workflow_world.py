"""The workflow tests' world: a complete campaign and the people who move it.

``appointment_reminder`` (demo, UTILITY, NAMED, a text header) to the German contacts, every
variable bound; Erin (Editor) writes it, Alex (Approver) approves it. Fixtures for the
``test_workflow*`` and ``test_template_fate`` modules, which load this module as a plugin
(``pytest_plugins``).
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from core.actors import Actor
from messaging.campaign_models import Campaign
from messaging.campaigns.workflow import (
    campaign_approve,
    campaign_create,
    campaign_start,
    campaign_submit,
)
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from templates_app.demo import seed_templates
from templates_app.models import MessageTemplate, TemplateVersion
from tests.factories import ContactFactory, UserFactory, make_segment

SYSTEM = Actor.system("tests")


def literal(text: str) -> dict:
    return {"source": "literal", "value": text, "fallback": "", "format": ""}


FIRST_NAME = {"source": "field", "value": "first_name", "fallback": "there", "format": ""}
REMINDER_BINDINGS = {
    "header": {"first_name": FIRST_NAME},
    "body": {
        "first_name": FIRST_NAME,
        "date": literal("12 May"),
        "time": literal("10:30"),
        "store": literal("Berlin"),
    },
}


def as_actor(user) -> Actor:
    return Actor.for_user(user)


@pytest.fixture
def templates(db):
    return {t.name: t for t in seed_templates(actor=SYSTEM)}


@pytest.fixture
def reminder(templates):
    return templates["appointment_reminder"]


@pytest.fixture
def germans(db):
    return [ContactFactory(country="DE") for _ in range(2)]


@pytest.fixture
def segment(germans):
    return make_segment(name="Germany")


@pytest.fixture
def second_approver(db):
    return UserFactory(username="blake_approver", role="Approver")


@pytest.fixture
def draft(editor, reminder, segment) -> Campaign:
    return campaign_create(
        actor=as_actor(editor),
        name="Spring reminders",
        template=reminder,
        segment=segment,
        bindings=REMINDER_BINDINGS,
    )


@pytest.fixture
def pending(draft, editor) -> Campaign:
    return campaign_submit(campaign=draft, actor=as_actor(editor))


@pytest.fixture
def approved(pending, approver) -> Campaign:
    return campaign_approve(campaign=pending, actor=as_actor(approver))


@pytest.fixture
def sending(approved) -> Campaign:
    return campaign_start(campaign=approved)


def transitions(campaign: Campaign) -> list[tuple[str, str]]:
    return list(campaign.transitions.values_list("from_status", "to_status"))


def status_of(campaign: Campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def campaign_message(campaign: Campaign, *, status=MessageStatus.QUEUED, is_test=False) -> OutboundMessage:
    message = OutboundMessage(
        contact=ContactFactory(),
        kind=MessageKind.TEMPLATE,
        purpose=campaign.purpose,
        campaign=campaign,
        is_test=is_test,
        status=status,
        created_at=timezone.now(),
    )
    message.set_actor(SYSTEM)
    message.save()
    return message


def translation(template, language, *, category=None):
    """Another language of ``template``, approved, with the same content (and its own category)."""
    version = template.approved_version
    row = MessageTemplate.objects.create(
        name=template.name,
        language=language,
        category=category or template.category,
        parameter_format=template.parameter_format,
        status="APPROVED",
        meta_template_id=f"{template.meta_template_id}{language}",
    )
    row.approved_version = TemplateVersion.objects.create(
        template=row,
        number=1,
        category=row.category,
        parameter_format=row.parameter_format,
        components=version.components,
        review="APPROVED",
    )
    row.save(update_fields=["approved_version"])
    return row
