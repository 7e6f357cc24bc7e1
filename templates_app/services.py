"""Writes for templates: submission to Meta, the one status service, and the sync.

``template_apply_status`` is the only place a template's status, quality or category changes,
whoever reports it: a submission's answer, the scheduled sync, "Sync now", and (messaging core)
the ``message_template_status_update`` webhook.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cloud_api.backends import get_backend
from cloud_api.client import SAMPLE_MIME_TYPES
from cloud_api.errors import ErrorClass
from cloud_api.outcomes import CloudApiCallFailed, Refused
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from templates_app.drafts import Draft, draft_cards_from_components, draft_fields_from_components
from templates_app.models import (
    MessageTemplate,
    TemplateButton,
    TemplateCard,
    TemplateEvent,
    TemplateStatus,
    TemplateVersion,
    VersionReview,
)
from templates_app.signals import TemplateChange, announce_template_change

logger = logging.getLogger(__name__)

# Meta's limits on editing an APPROVED template (docs/meta-facts.md 5.1).
EDITS_PER_30_DAYS = 10
EDIT_INTERVAL = timedelta(hours=24)
# Meta lets these statuses be edited; a template under review cannot be changed.
EDITABLE_STATUSES = {TemplateStatus.APPROVED, TemplateStatus.REJECTED, TemplateStatus.PAUSED}

SYNC_BACKOFF_KEY = "templates:sync:backoff"
SYNC_BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class EditAllowance:
    left_in_30_days: int
    next_edit_at: datetime | None

    @property
    def allowed_now(self) -> bool:
        return self.left_in_30_days > 0 and self.next_edit_at is None


def edit_allowance(template: MessageTemplate, *, now: datetime | None = None) -> EditAllowance:
    """How many edits of the approved template Meta still allows, as far as this app knows."""
    now = now or timezone.now()
    edits = list(
        template.versions.filter(is_edit=True, submitted_at__gte=now - timedelta(days=30))
        .order_by("-submitted_at")
        .values_list("submitted_at", flat=True)
    )
    left = max(EDITS_PER_30_DAYS - len(edits), 0)
    next_at = None
    if edits and edits[0] + EDIT_INTERVAL > now:
        next_at = edits[0] + EDIT_INTERVAL
    elif left == 0:
        next_at = edits[-1] + timedelta(days=30)
    return EditAllowance(left_in_30_days=left, next_edit_at=next_at)


def template_submit(*, template: MessageTemplate, actor: Actor) -> TemplateVersion:
    """Create the template at Meta, or edit it there if Meta already has it; Meta then reviews it.

    Meta's refusal is kept on the template (``last_error``) and in the activity log, then raised.
    """
    try:
        return _submit(template, actor)
    except CloudApiCallFailed as exc:
        message = _meta_message(exc)
        MessageTemplate.objects.filter(pk=template.pk).update(last_error=message)
        log_activity(
            actor=actor, action="template.submission_refused", obj=template, details={"error": message}
        )
        raise ApplicationError(message, code="meta_refused") from exc


def _submit(template: MessageTemplate, actor: Actor) -> TemplateVersion:
    with transaction.atomic():
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        editing = template.meta_template_id is not None
        _check_submittable(template, editing=editing)
        draft = Draft.from_template(template)
        violations = draft.violations()
        if violations:
            raise ApplicationError(
                "Fix the template before submitting it: " + " ".join(v.message for v in violations),
                code="template_invalid",
                details={"violations": [v.field for v in violations]},
            )
        backend = get_backend()
        handle = _upload_media_sample(template, backend)
        cards = _upload_card_samples(template, backend)
        components = Draft.from_template(template, header_handle=handle, cards=cards).components()
        if editing:
            answer = backend.edit_template(template.meta_template_id, components=components)
        else:
            answer = backend.create_template(
                name=template.name,
                language=template.language,
                category=template.category,
                components=components,
                parameter_format=template.parameter_format,
            )

        was_approved = template.status == TemplateStatus.APPROVED
        version = TemplateVersion.objects.create(
            template=template,
            number=(template.versions.aggregate(n=Max("number"))["n"] or 0) + 1,
            category=template.category,
            parameter_format=template.parameter_format,
            components=components,
            opt_out_button_index=draft.opt_out_button.index if draft.opt_out_button else None,
            opt_out_purpose=draft.opt_out_button.purpose if draft.opt_out_button else "",
            is_edit=editing and was_approved,
            submitted_by=actor.user if actor.is_staff_user else None,
        )
        # Older versions still under review will never be approved as such: this one replaces them.
        template.versions.filter(review=VersionReview.PENDING).exclude(pk=version.pk).update(
            review=VersionReview.WITHDRAWN
        )
        if not editing:
            template.meta_template_id = str(answer.get("id") or "") or None
        template.last_error = ""
        template.save(update_fields=["meta_template_id", "last_error", "updated_at"])
        _event(template, actor, "edited" if editing else "submitted", source="admin", version=version)
        log_activity(
            actor=actor,
            action="template.edited" if editing else "template.submitted",
            obj=template,
            details={"version": version.number, "meta_template_id": template.meta_template_id},
        )
        # Meta re-reviews an edit; a new template starts as PENDING unless Meta answered otherwise.
        template_apply_status(
            template=template,
            status=str(answer.get("status") or TemplateStatus.PENDING),
            source="admin",
            actor=actor,
        )
    return version


def _check_submittable(template: MessageTemplate, *, editing: bool) -> None:
    if not editing:
        return
    if template.status not in EDITABLE_STATUSES:
        raise ApplicationError(
            f"WhatsApp is reviewing this template ({template.status_label.lower()}); it can be changed "
            "again once the review is over.",
            code="template_under_review",
        )
    if template.status == TemplateStatus.APPROVED:
        approved = template.approved_version
        if approved is not None and approved.category != template.category:
            raise ApplicationError(
                "WhatsApp does not allow changing the category of an approved template; create a new "
                "template instead.",
                code="template_category_locked",
                field="category",
            )
        allowance = edit_allowance(template)
        if not allowance.allowed_now:
            when = timezone.localtime(allowance.next_edit_at).strftime("%Y-%m-%d %H:%M")
            raise ApplicationError(
                f"WhatsApp allows {EDITS_PER_30_DAYS} edits of an approved template in 30 days and one "
                f"per 24 hours; the next edit is possible from {when}.",
                code="template_edit_limit",
            )


def _upload_media_sample(template: MessageTemplate, backend) -> str:
    """Meta wants a header_handle from the resumable upload; upload each new sample file once."""
    if template.header_kind in ("", "TEXT", "LOCATION") or not template.header_media:
        return template.header_handle
    if template.header_handle and template.header_handle_for == template.header_media.name:
        return template.header_handle
    handle = _upload_sample(
        template.header_media,
        backend,
        message="The header sample must be a JPEG or PNG image, an MP4 video or a PDF document.",
        field="header_media",
    )
    MessageTemplate.objects.filter(pk=template.pk).update(
        header_handle=handle, header_handle_for=template.header_media.name
    )
    template.header_handle, template.header_handle_for = handle, template.header_media.name
    return handle


def _upload_card_samples(template: MessageTemplate, backend) -> list[TemplateCard]:
    """Each carousel card's sample goes through the same resumable upload, once per file.

    A card imported from WhatsApp has Meta's handle and no file: it is kept as it is.
    """
    cards = list(template.cards.all()) if template.kind == "CAROUSEL" else []
    for number, card in enumerate(cards, start=1):
        if not card.header_media:
            continue
        if card.header_handle and card.header_handle_for == card.header_media.name:
            continue
        handle = _upload_sample(
            card.header_media,
            backend,
            message=f"Card {number}'s sample must be a JPEG or PNG image or an MP4 video.",
            field=f"cards[{number - 1}].header_media",
        )
        TemplateCard.objects.filter(pk=card.pk).update(
            header_handle=handle, header_handle_for=card.header_media.name
        )
        card.header_handle, card.header_handle_for = handle, card.header_media.name
    return cards


def _upload_sample(file, backend, *, message: str, field: str) -> str:
    # The types Meta takes for a sample are the client's to know; the file's name says which it is.
    mime = mimetypes.guess_type(file.name)[0]
    if mime not in SAMPLE_MIME_TYPES:
        raise ApplicationError(message, code="sample_type", field=field)
    file.open("rb")
    try:
        content = file.read()
    finally:
        file.close()
    return backend.upload_template_sample(content, mime_type=mime, file_name=file.name.rsplit("/", 1)[-1])


def _meta_message(exc: CloudApiCallFailed) -> str:
    outcome = exc.outcome
    if isinstance(outcome, Refused):
        error = outcome.error
        text = error.user_message or error.details or error.message or "WhatsApp refused the request."
        return f"WhatsApp refused it: {text} (code {error.code})" if error.code is not None else text
    return f"WhatsApp could not be reached; nothing was changed there. Try again. ({exc})"


def template_apply_status(
    *,
    template: MessageTemplate,
    source: str,
    actor: Actor | None = None,
    status: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
    recommendation: str | None = None,
    quality: str | None = None,
    category: str | None = None,
    occurred_at: datetime | None = None,
) -> list[TemplateEvent]:
    """Apply what Meta reports about a template; repeating a report changes nothing."""
    actor = actor or Actor.system(f"WhatsApp ({source})")
    occurred_at = occurred_at or timezone.now()
    events: list[TemplateEvent] = []
    with transaction.atomic():
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        status_before, category_before = template.status, template.category
        version_before = template.approved_version_id
        changed: set[str] = set()
        if status and status != template.status:
            version = _apply_review(template, status, occurred_at)
            events.append(
                _event(
                    template, actor, "status", source, template.status, status, occurred_at, version=version
                )
            )
            template.status = status
            template.status_changed_at = occurred_at
            changed |= {"status", "status_changed_at", "approved_version"}
            if status == TemplateStatus.REJECTED:
                template.rejection_reason = reason or ""
                template.rejection_detail = detail or ""
                template.rejection_recommendation = recommendation or ""
                changed |= {"rejection_reason", "rejection_detail", "rejection_recommendation"}
            elif status == TemplateStatus.APPROVED:
                template.rejection_reason = template.rejection_detail = template.rejection_recommendation = ""
                changed |= {"rejection_reason", "rejection_detail", "rejection_recommendation"}
        elif (
            status == TemplateStatus.REJECTED
            and (recommendation or detail)
            and not template.rejection_recommendation
        ):
            # The webhook carries Meta's recommendation that the sync cannot see.
            template.rejection_detail = detail or template.rejection_detail
            template.rejection_recommendation = recommendation or ""
            changed |= {"rejection_detail", "rejection_recommendation"}
        if quality and quality != template.quality_rating:
            events.append(
                _event(template, actor, "quality", source, template.quality_rating, quality, occurred_at)
            )
            template.quality_rating = quality
            changed.add("quality_rating")
        if category and category != template.category:
            events.append(
                _event(template, actor, "category", source, template.category, category, occurred_at)
            )
            template.category = category
            changed.add("category")
        if changed:
            template.save(update_fields=[*changed, "updated_at"])
        for event in events:
            log_activity(
                actor=actor,
                action=f"template.{event.kind}_changed",
                obj=template,
                details={"from": event.from_value, "to": event.to_value, "source": source},
            )
        # Inside the transaction: campaigns react with the change or not at all (templates_app.signals).
        announce_template_change(
            template,
            TemplateChange(
                status_from=status_before,
                status_to=template.status,
                category_from=category_before,
                category_to=template.category,
                approved_version_from=version_before,
                approved_version_to=template.approved_version_id,
                source=source,
                actor=actor,
            ),
        )
    return events


def _apply_review(template: MessageTemplate, status: str, occurred_at: datetime) -> TemplateVersion | None:
    pending = template.versions.filter(review=VersionReview.PENDING).order_by("-number").first()
    if status == TemplateStatus.APPROVED:
        if pending is not None:
            pending.review = VersionReview.APPROVED
            pending.approved_at = occurred_at
            pending.save(update_fields=["review", "approved_at"])
            template.approved_version = pending
        return pending
    if status == TemplateStatus.REJECTED and pending is not None:
        pending.review = VersionReview.REJECTED
        pending.save(update_fields=["review"])
        return pending
    return None


def _event(
    template, actor, kind, source, from_value="", to_value="", occurred_at=None, version=None
) -> TemplateEvent:
    event = TemplateEvent(
        template=template,
        version=version,
        kind=kind,
        source=source,
        from_value=from_value or "",
        to_value=to_value or "",
        occurred_at=occurred_at or timezone.now(),
    )
    event.set_actor(actor)
    event.save()
    return event


# --- Sync ----------------------------------------------------------------------------------


@dataclass
class SyncResult:
    imported: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # Templates WhatsApp listed that the sync left alone: (which one, why). The rest still synced.
    not_imported: list[tuple[str, str]] = field(default_factory=list)
    skipped_until: datetime | None = None

    def summary(self) -> str:
        if self.skipped_until:
            return (
                f"Sync postponed until {timezone.localtime(self.skipped_until):%H:%M}: WhatsApp's call limit."
            )
        text = f"Synced: {len(self.imported)} imported, {len(self.updated)} updated."
        if self.not_imported:
            reasons = "; ".join(f"{which}: {why}" for which, why in self.not_imported)
            text += f" {len(self.not_imported)} not imported — {reasons}"
        return text


SYNC_FIELDS = (
    "id",
    "name",
    "language",
    "status",
    "category",
    "parameter_format",
    "components",
    "quality_score",
    "rejected_reason",
)


def templates_sync(*, actor: Actor | None = None) -> SyncResult:
    """Bring every template in line with Meta, importing the ones created in WhatsApp Manager.

    Graph API call limits (4, 80007) postpone the next sync with exponential backoff, kept in the
    shared cache so every worker honours it.
    """
    actor = actor or Actor.system("template sync")
    now = timezone.now()
    backoff = cache.get(SYNC_BACKOFF_KEY)
    if backoff and backoff["until"] > now:
        return SyncResult(skipped_until=backoff["until"])
    result = SyncResult()
    try:
        remote = list(get_backend().list_templates(fields=SYNC_FIELDS))
    except CloudApiCallFailed as exc:
        outcome = exc.outcome
        if isinstance(outcome, Refused) and outcome.error_class == ErrorClass.API_CALL_LIMIT:
            delay = min(timedelta(minutes=2 ** (backoff["attempt"] if backoff else 0)), SYNC_BACKOFF_MAX)
            until = now + delay
            cache.set(
                SYNC_BACKOFF_KEY,
                {"until": until, "attempt": (backoff["attempt"] + 1 if backoff else 1)},
                None,
            )
            logger.warning("Template sync postponed until %s: %s", until, exc)
            return SyncResult(skipped_until=until)
        raise ApplicationError(_meta_message(exc), code="sync_failed") from exc
    cache.delete(SYNC_BACKOFF_KEY)
    for item in remote:
        _sync_one_guarded(item, actor, result)
    return result


def _sync_one_guarded(item, actor: Actor, result: SyncResult) -> None:
    """One listed template, in its own savepoint: a malformed one is skipped, counted and logged, and
    every template listed after it still syncs."""
    which = _listed_as(item)
    try:
        if not isinstance(item, dict):
            raise ApplicationError("WhatsApp listed something that is not a template.", code="sync_malformed")
        with transaction.atomic():
            _sync_one(item, actor, result)
    except ApplicationError as exc:
        logger.warning("Template sync skipped %s: %s", which, exc.message)
        result.not_imported.append((which, exc.message))
    except Exception:  # one hostile template must not stop the sync of the others
        logger.exception("Template sync skipped %s: its content could not be read", which)
        result.not_imported.append((which, "WhatsApp's answer for it could not be read (logged)."))


def _listed_as(item) -> str:
    if not isinstance(item, dict):
        return "an unnamed entry"
    name, language = str(item.get("name") or "?")[:80], str(item.get("language") or "?")[:16]
    return f"{name} ({language})"


def _sync_one(item: dict, actor: Actor, result: SyncResult) -> None:
    meta_id = str(item.get("id") or "")
    name, language = item.get("name"), item.get("language")
    if not (meta_id and name and language):
        return
    template = (
        MessageTemplate.objects.filter(meta_template_id=meta_id).first()
        or MessageTemplate.objects.filter(name=name, language=language).first()
    )
    status = str(item.get("status") or "")
    quality = (
        ((item.get("quality_score") or {}).get("score"))
        if isinstance(item.get("quality_score"), dict)
        else None
    )
    if template is None:
        _import_template(item, actor)
        result.imported.append(f"{name} ({language})")
        return
    if template.meta_template_id != meta_id:
        MessageTemplate.objects.filter(pk=template.pk).update(meta_template_id=meta_id)
    if status == TemplateStatus.APPROVED:
        _adopt_remote_content(template, item, actor)
    events = template_apply_status(
        template=template,
        status=status or None,
        reason=item.get("rejected_reason") if status == TemplateStatus.REJECTED else None,
        quality=quality,
        category=item.get("category"),
        source="sync",
        actor=actor,
    )
    if events:
        result.updated.append(str(template))


def _adopt_remote_content(template: MessageTemplate, item: dict, actor: Actor) -> None:
    """Meta sends its current approved content; if that is not ours (edited in WhatsApp Manager), keep it
    as a new version so messages record exactly what went out."""
    components = item.get("components")
    if not isinstance(components, list):
        return
    approved = template.approved_version
    pending = template.versions.filter(review=VersionReview.PENDING).order_by("-number").first()
    known = pending or approved
    if known is not None and _same_content(known.components, components):
        return
    TemplateVersion.objects.create(
        template=template,
        number=(template.versions.aggregate(n=Max("number"))["n"] or 0) + 1,
        category=item.get("category") or template.category,
        parameter_format=item.get("parameter_format") or template.parameter_format,
        components=components,
        review=VersionReview.PENDING,
        imported=True,
    )
    if template.status == TemplateStatus.APPROVED:
        # Same status, new content: approve the imported version directly; campaigns that froze the
        # old content react in the same transaction (templates_app.signals).
        with transaction.atomic():
            version = template.versions.order_by("-number").first()
            version.review, version.approved_at = VersionReview.APPROVED, timezone.now()
            version.save(update_fields=["review", "approved_at"])
            previous = template.approved_version_id
            MessageTemplate.objects.filter(pk=template.pk).update(approved_version=version)
            template.approved_version = version
            _event(template, actor, "content", "sync", "", f"v{version.number}", version=version)
            log_activity(
                actor=actor,
                action="template.content_changed",
                obj=template,
                details={"version": version.number},
            )
            announce_template_change(
                template,
                TemplateChange(
                    status_from=template.status,
                    status_to=template.status,
                    category_from=template.category,
                    category_to=template.category,
                    approved_version_from=previous,
                    approved_version_to=version.pk,
                    source="sync",
                    actor=actor,
                ),
            )


def _same_content(ours, theirs) -> bool:
    """Meta answers with its own sample handles (media URLs): samples, top-level or in a carousel's
    cards, are not content."""

    def without_examples(component: dict) -> dict:
        kept = {k: v for k, v in component.items() if k != "example"}
        if isinstance(kept.get("cards"), list):
            kept["cards"] = [
                {**card, "components": normalise(card.get("components"))} if isinstance(card, dict) else card
                for card in kept["cards"]
            ]
        return kept

    def normalise(components):
        if not isinstance(components, list):
            return []  # malformed (an int, a dict…): compared as no components, as _cards_in reads it
        return sorted(
            (without_examples(c) for c in components if isinstance(c, dict)),
            key=lambda c: str(c.get("type", "")).upper(),
        )

    return normalise(ours) == normalise(theirs)


def _import_template(item: dict, actor: Actor) -> MessageTemplate:
    components = item.get("components") if isinstance(item.get("components"), list) else []
    fields, buttons = draft_fields_from_components(components)
    with transaction.atomic():
        template = MessageTemplate.objects.create(
            name=item["name"],
            language=item["language"],
            category=item.get("category") or "",
            parameter_format=item.get("parameter_format") or "POSITIONAL",
            meta_template_id=str(item["id"]),
            **fields,
        )
        TemplateButton.objects.bulk_create(
            TemplateButton(template=template, position=i, **b) for i, b in enumerate(buttons)
        )
        TemplateCard.objects.bulk_create(
            TemplateCard(template=template, position=i, **card)
            for i, card in enumerate(draft_cards_from_components(components))
        )
        TemplateVersion.objects.create(
            template=template,
            number=1,
            category=template.category,
            parameter_format=template.parameter_format,
            components=components,
            imported=True,
        )
        _event(template, actor, "imported", "sync", "", str(item.get("status") or ""))
        log_activity(
            actor=actor, action="template.imported", obj=template, details={"meta_template_id": item["id"]}
        )
        template_apply_status(
            template=template, status=str(item.get("status") or ""), source="sync", actor=actor
        )
    return template
