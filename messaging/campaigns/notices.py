"""Telling the people responsible when a campaign pauses itself.

A campaign pauses itself when WhatsApp pauses its template (``template_fate``) or its circuit
breaker trips (``breaker``). Its authors (``CampaignAuthor``) and its approver are told twice:

- an **e-mail** through Django's mail settings (``DEFAULT_FROM_EMAIL``), one to each of them who
  has an address and an active account, sent after the pause commits; a mail server that fails is
  logged and never undoes or breaks the pause (the banner still tells them);
- a **banner** on every admin page, linking to the campaign, for as long as the campaign stays
  paused by itself and they have not dismissed it.

A campaign the template's fate sends back to approval (an edit, a new category, a disabled
template: a sending one pauses first) stopped by itself too: they get the e-mail, and the campaign
waits in the Approvers' queue rather than under a banner.

Nothing new is stored for the banner: "paused by itself" is the campaign's status ``paused`` with
its latest ``CampaignTransition`` written by the system with ``details["cause"]`` in
``SELF_PAUSE_CAUSES``; a dismissal is an activity-log entry (``campaign.notice_dismissed``) by the
user about the campaign, naming that transition in its details. A resume, a person's pause or a
return to approval writes a newer transition, so the banner goes; a campaign that pauses itself
again shows a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.urls import reverse

from contacts.models import ActivityLogEntry
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, CampaignAuthor, CampaignStatus, CampaignTransition

logger = logging.getLogger(__name__)

# The transitions' ``details["cause"]`` of a campaign pausing itself: WhatsApp's verdict on its
# template (``template_fate.CAUSE``), the circuit breaker (``breaker.CAUSE``).
SELF_PAUSE_CAUSES = ("template", "breaker")
RETURNED = "returned_to_approval"
DISMISSED = "campaign.notice_dismissed"
CAMPAIGN_TYPE = Campaign._meta.label_lower


@dataclass(frozen=True)
class Notice:
    campaign_id: int
    campaign_name: str
    transition_id: int
    reason: str

    @property
    def url(self) -> str:
        return reverse("admin:messaging_campaign_change", args=[self.campaign_id])


def campaign_responsible(campaign: Campaign, *, approver_id: int | None = None):
    """Its authors and its approver (``approver_id`` once a return to approval cleared it) with an
    active account: a queryset of users."""
    authors = CampaignAuthor.objects.filter(campaign_id=campaign.pk, user_id=OuterRef("pk"))
    approver = approver_id or campaign.approved_by_id
    return get_user_model().objects.filter(Q(Exists(authors)) | Q(pk=approver), is_active=True)


# What the e-mail says happens next, by what stopped the campaign.
NEXT_STEP = {
    "breaker": ("paused itself", "Nothing more of it goes until an Approver resumes it."),
    "template": (
        "paused itself",
        "Nothing more of it goes until WhatsApp approves its template again; then it resumes by itself.",
    ),
    RETURNED: ("went back to approval", "Nothing more of it goes until an Approver approves it again."),
}


def campaign_self_pause_notify(*, campaign: Campaign, cause: str, approver_id: int | None = None) -> None:
    """After the commit, an e-mail to each responsible person with an address: the campaign stopped
    by itself (``cause``: ``breaker``, ``template``, or ``RETURNED`` to approval by the template's
    fate), why (its ``status_reason``) and what happens next."""
    emails = campaign_responsible(campaign, approver_id=approver_id).values_list("email", flat=True)
    addresses = sorted({email for email in emails if email})
    if not addresses:
        return
    what, next_step = NEXT_STEP[cause]
    subject = f"Campaign “{campaign.name}” {what}"
    link = settings.SITE_URL.rstrip("/") + reverse("admin:messaging_campaign_change", args=[campaign.pk])
    body = (
        f"The campaign “{campaign.name}” {what}.\n\n"
        f"{campaign.status_reason}\n\n"
        f"{next_step} The campaign: {link}\n\n"
        "You receive this because you wrote or approved the campaign."
    )
    mails = [(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in addresses]
    transaction.on_commit(partial(_send, campaign.pk, mails))


def _send(campaign_id: int, mails: list[tuple]) -> None:
    try:
        send_mass_mail(mails, fail_silently=False)
    except Exception:  # any mail backend's failure: the pause stands, the banner still tells them
        logger.exception(
            "Could not e-mail the self-pause notice of campaign %s to %d people", campaign_id, len(mails)
        )


def campaign_notices(user) -> list[Notice]:
    """The campaigns paused by themselves that ``user`` wrote or approved and has not dismissed: one query."""
    if not getattr(user, "is_authenticated", False):
        return []
    latest = CampaignTransition.objects.filter(campaign_id=OuterRef("pk")).order_by("-occurred_at", "-id")
    # The transition's id compared as text, what a JSON key gives on both databases.
    dismissed = (
        ActivityLogEntry.objects.filter(
            action=DISMISSED,
            actor_user=user,
            object_type=CAMPAIGN_TYPE,
            object_id=Cast(OuterRef("pk"), CharField()),
        )
        .annotate(transition=KeyTextTransform("transition", "details"))
        .filter(transition=Cast(OuterRef("transition_id"), CharField()))
    )
    authored = CampaignAuthor.objects.filter(campaign_id=OuterRef("pk"), user=user)
    mine = Q(Exists(authored)) | Q(approved_by=user)
    rows = (
        Campaign.objects.filter(mine, status=CampaignStatus.PAUSED)
        .annotate(
            transition_id=Subquery(latest.values("pk")[:1]),
            actor_kind=Subquery(latest.values("actor_kind")[:1]),
            cause=Subquery(
                latest.annotate(cause=KeyTextTransform("cause", "details")).values("cause")[:1],
                output_field=CharField(),
            ),
        )
        .filter(actor_kind=Actor.SYSTEM, cause__in=SELF_PAUSE_CAUSES)
        .exclude(Exists(dismissed))
        .order_by("-updated_at", "-pk")
        .values_list("pk", "name", "transition_id", "status_reason")
    )
    return [Notice(*row) for row in rows]


def campaign_notice_dismiss(*, campaign: Campaign, transition_id: int, actor: Actor) -> None:
    """The banner about this pause goes for ``actor``: an activity-log entry (a repeat writes none)."""
    if not actor.is_staff_user:
        raise ApplicationError("Only a staff user dismisses a notice.", code="permission_denied")
    transition = CampaignTransition.objects.filter(pk=transition_id, campaign_id=campaign.pk).first()
    if transition is None:
        raise ApplicationError(
            f"“{campaign.name}” has no transition {transition_id} to dismiss.", code="campaign_notice_unknown"
        )
    done = ActivityLogEntry.objects.filter(
        action=DISMISSED, actor_user=actor.user, object_type=CAMPAIGN_TYPE, object_id=str(campaign.pk)
    ).filter(details__transition=transition.pk)
    if not done.exists():
        details = {"transition": transition.pk, "reason": transition.reason}
        log_activity(actor=actor, action=DISMISSED, obj=campaign, details=details)
