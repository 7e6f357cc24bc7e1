"""Submission and sync against the sandbox over real HTTP: review, rejection, import, edits, limits."""

import pytest
import requests
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.actors import Actor
from core.errors import ApplicationError
from templates_app.models import MessageTemplate, TemplateStatus, TemplateVersion, VersionReview
from templates_app.services import SYNC_BACKOFF_KEY, template_submit, templates_sync
from tests.sandbox import ORDER_UPDATE, TOKEN, VERSION, control, seed_templates, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_backoff():
    cache.delete(SYNC_BACKOFF_KEY)


def sandbox_template(sandbox, name):
    return next(t for t in control(sandbox, "templates")["data"] if t["name"] == name)


def sync_until(predicate):
    def attempt():
        templates_sync()
        return predicate()

    return wait_until(attempt, timeout=5)


def test_submit_then_the_sync_sees_it_approved(app_sandbox, draft_template, editor):
    template_submit(template=draft_template, actor=Actor.for_user(editor))
    draft_template.refresh_from_db()
    assert draft_template.status == TemplateStatus.PENDING
    received = sandbox_template(app_sandbox, "spring_sale")
    assert received["components"][0]["text"].startswith("Hi {{1}}")
    sync_until(lambda: MessageTemplate.objects.get(pk=draft_template.pk).status == TemplateStatus.APPROVED)
    draft_template.refresh_from_db()
    assert draft_template.is_sendable
    assert draft_template.approved_version.review == VersionReview.APPROVED


def test_submit_then_rejected_with_the_reason(app_sandbox, draft_template, editor):
    draft_template.body = "Hi {{1}}, rejectme starts {{2}}. Reply STOP to opt out."
    draft_template.save()
    template_submit(template=draft_template, actor=Actor.for_user(editor))
    sync_until(lambda: MessageTemplate.objects.get(pk=draft_template.pk).status == TemplateStatus.REJECTED)
    draft_template.refresh_from_db()
    assert draft_template.rejection_reason == "ABUSIVE_CONTENT"
    assert TemplateVersion.objects.get(template=draft_template).review == VersionReview.REJECTED


def test_sync_imports_a_template_made_in_whatsapp_manager(app_sandbox):
    seed_templates(app_sandbox, ORDER_UPDATE)
    result = templates_sync()
    assert result.imported == ["order_update (en_US)"]
    template = MessageTemplate.objects.get(name="order_update")
    assert template.status == TemplateStatus.APPROVED and template.is_sendable
    assert template.body == "Hello {{1}}, your order {{2}} is on its way."
    assert template.header_kind == "IMAGE"
    assert list(template.buttons.values_list("kind", flat=True)) == ["QUICK_REPLY", "URL", "COPY_CODE"]
    assert template.approved_version.imported
    assert templates_sync().imported == []  # once


def test_edit_goes_under_review_and_is_approved_again_keeping_both_versions(
    app_sandbox, draft_template, editor
):
    actor = Actor.for_user(editor)
    first = template_submit(template=draft_template, actor=actor)
    sync_until(lambda: MessageTemplate.objects.get(pk=draft_template.pk).status == TemplateStatus.APPROVED)
    draft_template.refresh_from_db()
    draft_template.body = "Hello {{1}}, the spring sale starts {{2}}. Reply STOP to opt out."
    draft_template.save()
    second = template_submit(template=draft_template, actor=actor)
    draft_template.refresh_from_db()
    assert draft_template.status == TemplateStatus.PENDING and not draft_template.is_sendable
    sync_until(lambda: MessageTemplate.objects.get(pk=draft_template.pk).status == TemplateStatus.APPROVED)
    draft_template.refresh_from_db()
    assert draft_template.approved_version == second
    assert set(draft_template.versions.filter(review=VersionReview.APPROVED)) == {first, second}
    assert sandbox_template(app_sandbox, "spring_sale")["components"][0]["text"].startswith("Hello")


def test_meta_refuses_a_duplicate_name_and_language_on_the_template(
    app_sandbox, draft_template, editor, client_for
):
    seed_templates(app_sandbox, {**ORDER_UPDATE, "name": "spring_sale", "language": "en"})
    response = client_for(editor).post(
        reverse("admin:templates_app_messagetemplate_submit", args=[draft_template.pk]), follow=True
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("WhatsApp refused it" in m for m in messages), messages
    draft_template.refresh_from_db()
    assert "refused" in draft_template.last_error and draft_template.status == TemplateStatus.DRAFT
    assert not draft_template.versions.exists()


def test_meta_refuses_an_edit_made_too_soon_elsewhere(app_sandbox, draft_template, editor):
    """Edits made in WhatsApp Manager are invisible to our count: Meta's refusal is shown instead."""
    actor = Actor.for_user(editor)
    template_submit(template=draft_template, actor=actor)
    sync_until(lambda: MessageTemplate.objects.get(pk=draft_template.pk).status == TemplateStatus.APPROVED)
    remote = sandbox_template(app_sandbox, "spring_sale")
    requests.post(
        f"{app_sandbox.url}/{VERSION}/{remote['id']}",
        json={"components": remote["components"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).raise_for_status()
    control(app_sandbox, f"templates/{remote['id']}/status", {"status": "APPROVED"})
    templates_sync()
    draft_template.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        template_submit(template=draft_template, actor=actor)
    assert exc.value.code == "meta_refused" and "24 hours" in exc.value.message
    draft_template.refresh_from_db()
    assert "24 hours" in draft_template.last_error


def test_a_media_header_sample_is_uploaded_for_its_handle(app_sandbox, draft_template, editor):
    draft_template.header_kind = "IMAGE"
    draft_template.header_media = SimpleUploadedFile("promo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    draft_template.save()
    version = template_submit(template=draft_template, actor=Actor.for_user(editor))
    handle = version.components[0]["example"]["header_handle"][0]
    assert handle and handle != "pending-upload"
    draft_template.refresh_from_db()
    assert draft_template.header_handle == handle


def test_call_limits_postpone_the_sync_for_every_worker(app_sandbox):
    control(app_sandbox, "config", {"management_error_code": 80007})
    first = templates_sync()
    assert first.skipped_until is not None
    control(app_sandbox, "config", {"management_error_code": 0})
    assert templates_sync().skipped_until == first.skipped_until  # still backing off, no call made
    cache.delete(SYNC_BACKOFF_KEY)
    assert templates_sync().skipped_until is None


def test_sync_now_in_the_admin_reports_what_it_did(app_sandbox, editor, client_for):
    seed_templates(app_sandbox, ORDER_UPDATE)
    response = client_for(editor).post(reverse("admin:templates_app_messagetemplate_sync"), follow=True)
    assert any("1 imported" in str(m) for m in response.context["messages"])
