"""The machinery every campaign transition shares: the table of edges, the conditional UPDATE with
its log row and activity entry, and who may move a campaign.

``move`` is the one writer of ``Campaign.status``. It applies a transition from the status the
campaign was read in, and only if the row still has it (``filter(pk=…, status=…).update(…) == 1``);
otherwise someone moved it first and the caller is told what it is now. Services in
``messaging.campaigns.workflow`` decide when; this module makes each step the same.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignAuthor, CampaignStatus, CampaignTransition

S = CampaignStatus
ADD, CHANGE, SUBMIT = "messaging.add_campaign", "messaging.change_campaign", "messaging.submit_campaign"
APPROVE, PAUSE, RESUME = "messaging.approve_campaign", "messaging.pause_campaign", "messaging.resume_campaign"

# DESIGN's table: every edge, and the services that take it.
TRANSITIONS = {
    (S.DRAFT, S.PENDING_APPROVAL): "campaign_submit",
    (S.PENDING_APPROVAL, S.DRAFT): "campaign_reject, campaign_withdraw",
    (S.PENDING_APPROVAL, S.APPROVED): "campaign_approve",
    (S.APPROVED, S.SENDING): "campaign_start",
    (S.SENDING, S.COMPLETED): "campaign_complete",
    (S.APPROVED, S.PAUSED): "campaign_pause",
    (S.SENDING, S.PAUSED): "campaign_pause",
    (S.PAUSED, S.APPROVED): "campaign_resume",
    (S.PAUSED, S.SENDING): "campaign_resume",
    (S.APPROVED, S.PENDING_APPROVAL): "campaign_return_to_approval",
    (S.PAUSED, S.PENDING_APPROVAL): "campaign_return_to_approval",
    **{
        (s, S.CANCELLED): "campaign_cancel"
        for s in (S.DRAFT, S.PENDING_APPROVAL, S.APPROVED, S.SENDING, S.PAUSED)
    },
}
FINISHED = frozenset({S.COMPLETED, S.CANCELLED})


def move(
    campaign: Campaign,
    *,
    actor: Actor,
    to: str,
    action: str,
    reason: str = "",
    details: dict | None = None,
    guard: dict | None = None,
    changed_meanwhile: str = "",
    **fields,
) -> None:
    """One transition from the status ``campaign`` was read in: conditional UPDATE, log row, activity."""
    from_status = campaign.status
    if (from_status, to) not in TRANSITIONS:
        raise ApplicationError(
            f"A campaign does not go from {S(from_status).label.lower()} to {S(to).label.lower()}.",
            code="campaign_wrong_status",
        )
    now = timezone.now()
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status=from_status, **(guard or {})).update(
            status=to, updated_at=now, **fields
        )
        if updated != 1:
            now_is = Campaign.objects.get(pk=campaign.pk)
            if now_is.status == from_status and changed_meanwhile:
                raise ApplicationError(
                    changed_meanwhile, code="campaign_changed", details={"status": now_is.status}
                )
            raise wrong_status(now_is, VERBS.get(action, action))
        row = CampaignTransition(
            campaign=campaign,
            from_status=from_status,
            to_status=to,
            reason=reason,
            details=details or {},
            occurred_at=now,
        )
        row.set_actor(actor)
        row.save()
        log_activity(
            actor=actor,
            action=f"campaign.{action}",
            obj=campaign,
            details={"from": from_status, "to": to, **({"reason": reason} if reason else {})},
        )
        _wake_for(to)


def _wake_for(status: str) -> None:
    """After the commit: an approved campaign may be due now (it starts without waiting for the
    minute's sweep), and a sending one's messages may be claimed (resumed)."""
    from messaging.sending.enqueue import dispatch_after_commit, start_campaigns_after_commit

    if status == S.APPROVED:
        start_campaigns_after_commit()
    elif status == S.SENDING:
        dispatch_after_commit()


VERBS = {"returned_to_approval": "sent back to approval"}


def expect_status(campaign: Campaign, allowed: set, verb: str) -> None:
    if campaign.status not in allowed:
        raise wrong_status(campaign, verb)


def wrong_status(campaign: Campaign, verb: str) -> ApplicationError:
    status = S(campaign.status)
    said = status.label.lower()
    if status == S.APPROVED and campaign.approved_by_id:
        said += f" (by {campaign.approved_by.get_username()})"
    return ApplicationError(
        f"“{campaign.name}” is {said} now, so it cannot be {verb}.",
        code="campaign_wrong_status",
        details={"status": campaign.status},
    )


def may(actor: Actor, perm: str | None) -> bool:
    if actor.kind == Actor.SYSTEM:
        return True
    user = actor.user if actor.is_staff_user else None
    return bool(user is not None and user.is_active and perm and user.has_perm(perm))


def require(actor: Actor, perm: str | None, what: str) -> None:
    """The system moves campaigns for WhatsApp and the dispatcher; a person needs the permission."""
    if not may(actor, perm):
        raise ApplicationError(f"You may not {what}.", code="permission_denied")


def require_staff(actor: Actor, perm: str, what: str):
    """A person, with the permission: authors and Approvers are people (four eyes)."""
    if not actor.is_staff_user or not may(actor, perm):
        raise ApplicationError(f"You may not {what}.", code="permission_denied")
    return actor.user


def require_approver(actor: Actor, campaign: Campaign, verb: str) -> None:
    user = require_staff(actor, APPROVE, f"{verb} campaigns")
    authored = campaign.created_by_id == user.pk
    if authored or CampaignAuthor.objects.filter(campaign_id=campaign.pk, user=user).exists():
        raise ApplicationError(
            f"You are one of the authors of “{campaign.name}”: another Approver must {verb} it (four eyes).",
            code="campaign_approver_is_author",
        )


def add_author(campaign: Campaign, user) -> None:
    CampaignAuthor.objects.bulk_create([CampaignAuthor(campaign=campaign, user=user)], ignore_conflicts=True)


def add_authors(campaign: Campaign, user_ids) -> None:
    """Make each of ``user_ids`` (None skipped) an author of ``campaign``."""
    rows = [CampaignAuthor(campaign=campaign, user_id=pk) for pk in dict.fromkeys(user_ids) if pk is not None]
    CampaignAuthor.objects.bulk_create(rows, ignore_conflicts=True)
