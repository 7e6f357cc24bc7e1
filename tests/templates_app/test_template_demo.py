"""The demo's templates obey Meta's rules and match what the sandbox is seeded with."""

import json

import pytest

from core.actors import Actor
from templates_app.demo import seed_templates, write_sandbox_seed
from templates_app.drafts import Draft
from templates_app.models import MessageTemplate, TemplateEvent, TemplateVersion
from templates_app.services import templates_sync
from tests.sandbox import control

pytestmark = pytest.mark.django_db


def test_demo_templates_are_valid_and_sendable():
    templates = seed_templates(actor=Actor.system("tests"))
    assert [t.name for t in templates] == [
        "order_update",
        "spring_promotion",
        "appointment_reminder",
        "spring_collection",
    ]
    for template in templates:
        assert Draft.from_template(template).violations() == []
        assert template.is_sendable
    assert templates[1].approved_version.opt_out_button_index == 1
    assert seed_templates(actor=Actor.system("tests")) == templates  # idempotent


def test_the_sandbox_seed_matches_the_database(app_sandbox, tmp_path):
    templates = seed_templates(actor=Actor.system("tests"))
    seed_file = tmp_path / "seed.json"
    write_sandbox_seed(seed_file, templates)
    control(app_sandbox, "templates", json.loads(seed_file.read_text()))
    result = templates_sync()
    assert result.imported == []
    # Meta reports a quality rating for each; nothing else differs: no new version, still approved.
    kinds = set(TemplateEvent.objects.filter(source="sync").values_list("kind", flat=True))
    assert kinds <= {"quality"}
    assert TemplateVersion.objects.count() == len(templates)
    assert all(t.is_sendable for t in MessageTemplate.objects.all())
