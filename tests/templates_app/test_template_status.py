"""Submission, the one status service, edits of approved templates and their limits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from templates_app.models import TemplateEvent, TemplateStatus, TemplateVersion, VersionReview
from templates_app.sending import require_sendable, sendability
from templates_app.services import (
    EDITS_PER_30_DAYS,
    edit_allowance,
    template_apply_status,
    template_submit,
)

pytestmark = pytest.mark.django_db


def submit(template, editor):
    return template_submit(template=template, actor=Actor.for_user(editor))


def test_submit_creates_the_template_at_meta_as_a_pending_version(memory_backend, draft_template, editor):
    version = submit(draft_template, editor)
    draft_template.refresh_from_db()
    assert draft_template.status == TemplateStatus.PENDING
    assert draft_template.meta_template_id in memory_backend.templates
    sent = memory_backend.templates[draft_template.meta_template_id]
    assert sent["components"] == version.components
    assert sent["components"][0]["example"] == {"body_text": [["Pablo", "tomorrow"]]}
    assert (version.number, version.review, version.opt_out_button_index) == (1, VersionReview.PENDING, 1)
    assert ActivityLogEntry.objects.filter(action="template.submitted", actor_user=editor).exists()
    assert not sendability(draft_template).ok


def test_approval_makes_the_submitted_version_sendable(memory_backend, draft_template, editor):
    version = submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    draft_template.refresh_from_db()
    assert draft_template.is_sendable and draft_template.approved_version == version
    version.refresh_from_db()
    assert version.review == VersionReview.APPROVED and version.approved_at
    assert require_sendable(draft_template, {"body": ["Ana", "Monday"]}) == version


def test_the_same_report_twice_changes_nothing(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    first = template_apply_status(template=draft_template, status="APPROVED", quality="GREEN", source="sync")
    again = template_apply_status(
        template=draft_template, status="APPROVED", quality="GREEN", source="webhook"
    )
    assert len(first) == 2 and again == []


def test_rejection_keeps_reason_and_recommendation(memory_backend, draft_template, editor):
    version = submit(draft_template, editor)
    template_apply_status(
        template=draft_template,
        status="REJECTED",
        reason="INVALID_FORMAT",
        detail="Adjacent parameters",
        recommendation="Separate parameters with text.",
        source="webhook",
    )
    draft_template.refresh_from_db()
    version.refresh_from_db()
    assert draft_template.rejection_reason == "INVALID_FORMAT"
    assert draft_template.rejection_recommendation == "Separate parameters with text."
    assert version.review == VersionReview.REJECTED
    with pytest.raises(ApplicationError) as exc:
        require_sendable(draft_template)
    assert exc.value.code == "template_not_sendable" and "rejected" in exc.value.message


@pytest.mark.parametrize("status", ["PAUSED", "DISABLED", "PENDING", "IN_APPEAL", "SOMETHING_NEW"])
def test_only_approved_is_sendable(memory_backend, draft_template, editor, status):
    submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    template_apply_status(template=draft_template, status=status, source="webhook")
    draft_template.refresh_from_db()
    assert draft_template.status == status  # stored verbatim, even one we do not know
    assert not sendability(draft_template).ok


def test_quality_and_category_changes_are_on_the_timeline(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    template_apply_status(template=draft_template, quality="YELLOW", category="UTILITY", source="webhook")
    kinds = set(TemplateEvent.objects.filter(template=draft_template).values_list("kind", flat=True))
    assert {"quality", "category", "submitted"} <= kinds
    draft_template.refresh_from_db()
    assert (draft_template.quality_rating, draft_template.category) == ("YELLOW", "UTILITY")


def test_editing_an_approved_template_goes_back_to_review_and_keeps_both_versions(
    memory_backend, draft_template, editor
):
    first = submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    draft_template.refresh_from_db()
    draft_template.body = "Hello {{1}}, the spring sale starts {{2}}. Reply STOP to opt out."
    draft_template.save()
    second = submit(draft_template, editor)
    draft_template.refresh_from_db()
    assert draft_template.status == TemplateStatus.PENDING and not draft_template.is_sendable
    assert second.is_edit and memory_backend.templates[draft_template.meta_template_id]["components"][0][
        "text"
    ].startswith("Hello")
    assert edit_allowance(draft_template).left_in_30_days == EDITS_PER_30_DAYS - 1
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    draft_template.refresh_from_db()
    assert draft_template.approved_version == second
    assert set(TemplateVersion.objects.filter(review=VersionReview.APPROVED)) == {first, second}


def test_a_second_edit_within_24_hours_is_refused(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    with pytest.raises(ApplicationError) as exc:
        submit(draft_template, editor)
    assert exc.value.code == "template_edit_limit" and "24 hours" in exc.value.message


def test_ten_edits_in_30_days_exhaust_the_allowance(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    now = timezone.now()
    for day in range(EDITS_PER_30_DAYS):
        TemplateVersion.objects.create(
            template=draft_template,
            number=10 + day,
            category="MARKETING",
            parameter_format="POSITIONAL",
            components=[],
            is_edit=True,
            review=VersionReview.APPROVED,
            submitted_at=now - timedelta(days=day + 2),
        )
    allowance = edit_allowance(draft_template)
    assert allowance.left_in_30_days == 0 and not allowance.allowed_now


def test_a_template_under_review_cannot_be_resubmitted(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    with pytest.raises(ApplicationError) as exc:
        submit(draft_template, editor)
    assert exc.value.code == "template_under_review"


def test_an_invalid_draft_is_not_submitted(memory_backend, draft_template, editor):
    draft_template.body = "{{1}} starts the sale"
    draft_template.save()
    with pytest.raises(ApplicationError) as exc:
        submit(draft_template, editor)
    assert exc.value.code == "template_invalid"
    assert memory_backend.templates == {}


def test_category_of_an_approved_template_cannot_change(memory_backend, draft_template, editor):
    submit(draft_template, editor)
    template_apply_status(template=draft_template, status="APPROVED", source="sync")
    draft_template.refresh_from_db()
    draft_template.category = "UTILITY"
    draft_template.save()
    with pytest.raises(ApplicationError) as exc:
        submit(draft_template, editor)
    assert exc.value.code == "template_category_locked"


def test_a_media_sample_of_a_type_meta_refuses_is_named_before_anything_is_uploaded(
    memory_backend, draft_template, editor
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    draft_template.header_kind = "IMAGE"
    draft_template.header_media = SimpleUploadedFile("promo.gif", b"GIF89a")
    draft_template.save()
    with pytest.raises(ApplicationError) as exc:
        submit(draft_template, editor)
    assert (exc.value.code, exc.value.field) == ("sample_type", "header_media")
    assert memory_backend.media == {} and memory_backend.templates == {}
