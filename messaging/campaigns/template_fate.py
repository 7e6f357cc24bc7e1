"""What WhatsApp does to a template decides the fate of the campaigns that froze it.

The table (docs/campaigns.md, "The template's fate"):

- PAUSED or FLAGGED for quality → an approved or sending campaign pauses, with the reason; it
  resumes by itself when every template it froze is APPROVED again with the frozen content and
  category. Only campaigns the template paused resume so; one an Approver paused stays paused.
- a new approved content (an edit, or a change made in WhatsApp Manager), a category change, or any
  other status (DISABLED, REJECTED, PENDING for an edit under review, IN_APPEAL, ARCHIVED, DELETED…)
  → back to ``pending_approval`` with the reason (a sending campaign pauses first); it sends again
  only after a new approval.

The verdict is read from the templates' state now (``freezing.frozen_template_drift``), not from
the change that woke us: repeating a report, or reports arriving out of order, end the same way.
It runs inside the transaction that changed the template (``templates_app.signals``).
"""

from __future__ import annotations

from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignStatus, CampaignTransition
from messaging.campaigns.freezing import CHANGED, HOLD, frozen_template_drift
from messaging.campaigns.notices import campaign_self_pause_notify
from messaging.campaigns.workflow import campaign_pause, campaign_resume, campaign_return_to_approval
from templates_app.models import MessageTemplate
from templates_app.signals import TemplateChange

S = CampaignStatus
# Campaigns that froze a template and have not finished with it.
LIVE = (S.APPROVED, S.SENDING, S.PAUSED)
CAUSE = "template"

RETURNED, PAUSED, RESUMED = "returned_to_approval", "paused", "resumed"
# Judged again after losing a race; each loss means someone else moved the campaign meanwhile.
ATTEMPTS = 3


def on_template_changed(sender, *, template: MessageTemplate, change: TemplateChange, **kwargs) -> None:
    """``templates_app.signals.template_changed`` receiver."""
    campaigns_template_fate(template=template, source=change.source)


def campaigns_template_fate(*, template: MessageTemplate, source: str = "") -> dict[int, str]:
    """Apply the table to every live campaign that froze ``template``; {campaign id: what happened}."""
    outcomes = {}
    candidates = Campaign.objects.filter(status__in=LIVE, template__name=template.name).order_by("pk")
    for campaign in candidates:
        frozen = (campaign.frozen or {}).get("languages") or {}
        if any(item.get("template_id") == template.pk for item in frozen.values()):
            outcome = campaign_template_fate(campaign=campaign, source=source)
            if outcome:
                outcomes[campaign.pk] = outcome
    return outcomes


def campaign_template_fate(*, campaign: Campaign, source: str = "") -> str:
    """Pause, resume or send back to approval as the campaign's templates now stand ('' = nothing).

    A campaign someone moved between our read and our UPDATE (the dispatcher started it, an
    Approver paused it) is read again and judged again: the verdict depends on its status.
    """
    actor = Actor.system(f"WhatsApp template verdict ({source})" if source else "WhatsApp template verdict")
    for _ in range(ATTEMPTS):
        try:
            return _apply(campaign, actor)
        except ApplicationError as exc:
            if exc.code != "campaign_wrong_status":
                raise
            campaign.refresh_from_db()
    return ""


def _apply(campaign: Campaign, actor: Actor) -> str:
    if campaign.status not in LIVE:
        return ""
    drift = frozen_template_drift(campaign)
    changed = [d for d in drift if d.kind == CHANGED]
    held = [d for d in drift if d.kind == HOLD]
    if changed:
        reason = " ".join(d.message for d in changed) + " It needs approving again."
        returned = campaign_return_to_approval(campaign=campaign, reason=reason, actor=actor)
        # Its authors and approver are told (the approval it had is cleared: named here).
        campaign_self_pause_notify(campaign=returned, cause=RETURNED, approver_id=campaign.approved_by_id)
        return RETURNED
    if held:
        if campaign.status == S.PAUSED:
            return ""
        reason = " ".join(d.message for d in held) + " It resumes when WhatsApp approves the template again."
        details = {"cause": CAUSE, "templates": {d.language: d.template_id for d in held}}
        paused = campaign_pause(campaign=campaign, actor=actor, reason=reason, details=details)
        campaign_self_pause_notify(campaign=paused, cause=CAUSE)  # its authors and approver are told
        return PAUSED
    if campaign.status == S.PAUSED and paused_by_template(campaign):
        campaign_resume(campaign=campaign, actor=actor, details={"cause": CAUSE})
        return RESUMED
    return ""


def paused_by_template(campaign: Campaign) -> bool:
    """Whether the campaign's latest pause was WhatsApp's verdict on a template (not a person's)."""
    last = (
        CampaignTransition.objects.filter(campaign_id=campaign.pk, to_status=S.PAUSED)
        .order_by("-occurred_at", "-id")
        .values_list("details", flat=True)
        .first()
    )
    return bool(last) and last.get("cause") == CAUSE
