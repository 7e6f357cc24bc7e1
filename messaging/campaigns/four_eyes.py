"""Four eyes at approval: the Approver approves what they read, and none of what they wrote.

- **What was read.** The campaign's page renders ``campaign_fingerprint`` into the Approve and
  Reject forms; the verdict recomputes it from what approval would freeze and refuses
  (``campaign_changed``) when they differ: a withdrawal and new submission, a template WhatsApp
  changed, a segment edited, while the page was open.
- **What was submitted.** The segment's resolved rules are recorded (as a digest) at submission;
  approval refuses rules edited since (``campaign_segment_changed``): whoever edited them — the
  Approver too — is not one of the authors who submitted the campaign.
- **Who wrote it.** Beside the campaign's authors (``CampaignAuthor``, duplicates included), the
  submitter of a template version approval would freeze (``campaign_approver_is_author``).
"""

from __future__ import annotations

import hashlib
import json

from contacts.models import Segment, SegmentVersion
from contacts.segments.services import segment_rules_resolved
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus, CampaignTransition
from messaging.campaigns.freezing import approval_document, approval_settings
from messaging.campaigns.languages import content_snapshot
from templates_app.models import TemplateVersion

_CONTENT_KEYS = ("template_id", "version_id", "category", "parameter_format", "components")
_MEDIA_KEYS = ("source", "link", "file")  # the id and its upload time move with a re-upload
_SCHEDULE_KEYS = ("kind", "send_at", "local_date", "local_time", "latest_send_at")


def campaign_fingerprint(campaign: Campaign, *, frozen: dict | None = None) -> str:
    """A digest of what an Approver reads on the campaign's page: the submission (its time), each
    language's approved version and components, the bindings, the segment's resolved rules, the
    header media, the schedule and the rate cap.

    The page renders it into the Approve and Reject forms; ``campaign_approve`` / ``_reject``
    recompute it from what they freeze (``frozen``) and refuse when it differs, so a click
    approves what was read — not a resubmission, a template WhatsApp changed or a segment edited
    while the page was open. A segment that cannot be read is digested as its error.
    """
    if frozen is None:
        try:
            frozen, _version = approval_document(campaign)
        except ApplicationError as exc:
            frozen = {
                **content_snapshot(campaign),
                **approval_settings(campaign),
                "rules": {"unreadable": exc.code},
            }
    read = {
        "submitted_at": campaign.submitted_at.isoformat() if campaign.submitted_at else None,
        "default_language": frozen["default_language"],
        "languages": {
            code: {key: item.get(key) for key in _CONTENT_KEYS} for code, item in frozen["languages"].items()
        },
        "bindings": frozen["bindings"],
        "rules": frozen["rules"],
        "segment": campaign.segment_id,
        "header_media": {key: frozen["header_media"].get(key) for key in _MEDIA_KEYS},
        "rate_cap": frozen["rate_cap"],
        "schedule": {key: frozen["schedule"].get(key) for key in _SCHEDULE_KEYS},
    }
    return _digest(read)


def audience_digest(rules: dict) -> str:
    """The digest of a segment's resolved rules, recorded at submission (``submitted_audience``)."""
    return _digest(rules)


def submission_audience(campaign: Campaign) -> dict:
    """What ``campaign_submit`` records of the audience it submitted (the transition's details)."""
    segment = Segment.objects.get(pk=campaign.segment_id)
    version = SegmentVersion.objects.get(segment=segment, version=segment.version)
    return {"segment_version": version.version, "rules": audience_digest(segment_rules_resolved(version))}


def submitted_audience(campaign: Campaign) -> dict | None:
    """The audience of the campaign's latest submission (or return to approval), as recorded on
    its transition; None for a submission recorded before this was kept."""
    details = (
        CampaignTransition.objects.filter(campaign_id=campaign.pk, to_status=CampaignStatus.PENDING_APPROVAL)
        .order_by("-occurred_at", "-id")
        .values_list("details", flat=True)
        .first()
    )
    return (details or {}).get("audience")


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


CHANGED_SINCE_READ = "The campaign or its template changed since you opened it; read it again."


def refuse_unread(campaign: Campaign, expected: str | None, *, frozen: dict | None = None) -> None:
    """Refuse (``campaign_changed``) when ``expected`` is not the fingerprint of what the verdict
    is about; None: the caller is code that read nothing, nothing to compare."""
    if expected is None:
        return
    if (expected or "") != campaign_fingerprint(campaign, frozen=frozen):
        raise ApplicationError(
            f"“{campaign.name}”: {CHANGED_SINCE_READ[0].lower()}{CHANGED_SINCE_READ[1:]}",
            code="campaign_changed",
            details={"status": campaign.status},
        )


def refuse_audience_moved(campaign: Campaign, frozen: dict) -> None:
    """The segment's rules (with its included segments) must be those submitted: whoever edits
    them after submission, the Approver too, is no author of what the authors submitted."""
    submitted = submitted_audience(campaign)
    if submitted is None or submitted.get("rules") == audience_digest(frozen["rules"]):
        return
    raise ApplicationError(
        f"“{campaign.name}” cannot be approved: the segment “{campaign.segment}” (or a segment it "
        f"includes) was edited since the campaign was submitted (then version "
        f"{submitted.get('segment_version')}, now {frozen['segment']['version']}). The authors "
        "withdraw it and submit it again, so what is approved is what they submitted.",
        code="campaign_segment_changed",
        field="segment",
    )


def frozen_audience(frozen: dict) -> dict | None:
    """The audience an approval froze, as ``submission_audience`` records it (a campaign returned
    to approval expects the audience its authors submitted and was approved)."""
    if not (frozen or {}).get("rules"):
        return None
    return {
        "segment_version": (frozen.get("segment") or {}).get("version"),
        "rules": audience_digest(frozen["rules"]),
    }


def require_not_template_writer(actor: Actor, campaign: Campaign, frozen: dict) -> None:
    """Whoever submitted a template version the approval would freeze wrote the campaign's words:
    they are one of its authors for four eyes (a template edit WhatsApp approved sends a campaign
    back to approval; its writer must not approve it)."""
    versions = [item.get("version_id") for item in (frozen.get("languages") or {}).values()]
    wrote = TemplateVersion.objects.filter(pk__in=[v for v in versions if v], submitted_by=actor.user)
    if actor.user is not None and wrote.exists():
        raise ApplicationError(
            f"You wrote the content of “{campaign.template}” that “{campaign.name}” sends: another "
            "Approver must approve it (four eyes).",
            code="campaign_approver_is_author",
        )
