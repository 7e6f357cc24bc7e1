"""The campaign's state machine (docs/campaigns.md): one service per transition.

Each transition is a conditional UPDATE from the status it leaves (``filter(pk=…, status=…)
.update(…) == 1``), a ``CampaignTransition`` row (who, when, from, to, why) and an activity-log
entry, in one transaction. When the UPDATE matches nothing, someone else moved the campaign first
(another Approver, the dispatcher, WhatsApp's verdict on the template): the caller is told the
status it has now, and nothing is written.

Who may do what is checked here, not only in the admin: Editors create, edit, submit, withdraw
and pause a sending campaign; Approvers approve or reject campaigns they did not author, pause,
resume and cancel. The system (WhatsApp's verdicts, the dispatcher) pauses, resumes, returns to
approval, starts and completes.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts.models import Segment
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, ScheduleKind
from messaging.campaigns.four_eyes import (
    CHANGED_SINCE_READ,
    frozen_audience,
    refuse_audience_moved,
    refuse_unread,
    require_not_template_writer,
    submission_audience,
)
from messaging.campaigns.freezing import campaign_freeze, frozen_template_drift, lock_frozen_templates
from messaging.campaigns.languages import campaign_template_check
from messaging.campaigns.readiness import campaign_readiness, due_at
from messaging.campaigns.transitions import (
    ADD,
    CHANGE,
    FINISHED,
    PAUSE,
    RESUME,
    SUBMIT,
    S,
    add_author,
    add_authors,
    expect_status,
    may,
    move,
    require,
    require_approver,
    require_staff,
)
from messaging.models import HoldReason, MessageStatus, OutboundMessage
from templates_app.models import MessageTemplate

# Fields a draft's author may set (create and update); the rest are the workflow's.
EDITABLE = (
    "name",
    "template",
    "segment",
    "bindings",
    "schedule_kind",
    "send_at",
    "local_date",
    "local_time",
    "latest_send_at",
    "header_media_source",
    "header_media_link",
    "header_media_file",
    "rate_cap",
)
CANCELLED_REASON = "campaign_cancelled"


# --- authoring -------------------------------------------------------------------------------------


def campaign_create(
    *,
    actor: Actor,
    name: str,
    template: MessageTemplate,
    segment: Segment,
    bindings: dict | None = None,
    schedule_kind: str = ScheduleKind.NOW,
    send_at: datetime | None = None,
    local_date=None,
    local_time=None,
    latest_send_at: datetime | None = None,
    header_media_source: str = "",
    header_media_link: str = "",
    header_media_file=None,
    rate_cap: int | None = None,
) -> Campaign:
    """A new draft; its creator is its first author. The template must be approved (its category
    gives the campaign's purpose); everything else may stay incomplete until it is submitted."""
    user = require_staff(actor, ADD, "create campaigns")
    campaign = Campaign(
        name=(name or "").strip(),
        template=template,
        segment=segment,
        bindings=bindings or {},
        schedule_kind=schedule_kind,
        send_at=send_at,
        local_date=local_date,
        local_time=local_time,
        latest_send_at=latest_send_at,
        header_media_source=header_media_source,
        header_media_link=header_media_link,
        header_media_file=header_media_file or "",
        rate_cap=rate_cap,
        created_by=user,
    )
    campaign.purpose = campaign_template_check(template)
    _clean(campaign)
    with transaction.atomic():
        campaign.save()
        add_author(campaign, user)
        log_activity(actor=actor, action="campaign.created", obj=campaign, details={"name": campaign.name})
    return campaign


def campaign_update(*, campaign: Campaign, actor: Actor, **changes) -> Campaign:
    """Change a draft; the editor becomes an author. Only a draft changes: a campaign awaiting
    approval is withdrawn (or rejected) first, so an Approver never approves something that moved
    under their eyes; an approved one is cancelled and duplicated."""
    user = require_staff(actor, CHANGE, "edit campaigns")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ApplicationError(
            f"These cannot be changed on a campaign: {', '.join(unknown)}.",
            code="campaign_field_not_editable",
            field=unknown[0],
        )
    with transaction.atomic():
        # Locked while it changes: a submission at the same moment waits, then sees the edit.
        current = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if current.status != S.DRAFT:
            raise _not_editable(current)
        media_before = (current.header_media_source, current.header_media_file.name or "")
        for name, value in changes.items():
            setattr(current, name, value.strip() if name == "name" and isinstance(value, str) else value)
        if current.header_media_file is None:
            current.header_media_file = ""
        fields = set(changes)
        if (current.header_media_source, _file_name(current.header_media_file)) != media_before:
            # WhatsApp's media id belongs to the file it was uploaded from.
            current.header_media_id, current.header_media_mime, current.header_media_uploaded_at = (
                "",
                "",
                None,
            )
            fields |= {"header_media_id", "header_media_mime", "header_media_uploaded_at"}
        if "template" in changes:
            current.purpose = campaign_template_check(current.template)
            fields.add("purpose")
        _clean(current)
        current.save(update_fields=[*sorted(fields), "updated_at"])
        add_author(current, user)
        log_activity(
            actor=actor, action="campaign.changed", obj=current, details={"changed": sorted(changes)}
        )
    return current


def campaign_duplicate(*, campaign: Campaign, actor: Actor) -> Campaign:
    """A new draft “Copy of …” with the same settings, nothing frozen; the duplicator and the
    source's authors its authors.

    Any campaign may be duplicated, one whose template is no longer approved too (the copy is
    where another template is picked): its purpose is then the original's until the template
    changes, and submitting checks the template as always.
    """
    user = require_staff(actor, ADD, "create campaigns")
    source = Campaign.objects.get(pk=campaign.pk)
    copy = Campaign(created_by=user, **{name: getattr(source, name) for name in EDITABLE})
    copy.name = f"Copy of {source.name}"[: Campaign._meta.get_field("name").max_length]
    copy.header_media_mime = source.header_media_mime
    copy.header_media_id = source.header_media_id
    copy.header_media_uploaded_at = source.header_media_uploaded_at
    try:
        copy.purpose = campaign_template_check(copy.template)
    except ApplicationError:
        copy.purpose = source.purpose
    _clean(copy)
    with transaction.atomic():
        copy.save()
        # Whoever wrote the source wrote the copy: a colleague's Duplicate and Submit must not make
        # its words approvable by their writer (four eyes).
        add_authors(copy, [user.pk, source.created_by_id, *source.authors.values_list("user_id", flat=True)])
        log_activity(
            actor=actor,
            action="campaign.duplicated",
            obj=copy,
            details={"source": source.pk, "name": source.name},
        )
    return copy


# --- submission and approval -----------------------------------------------------------------------


def campaign_submit(*, campaign: Campaign, actor: Actor, now: datetime | None = None) -> Campaign:
    """draft → pending_approval, when nothing is missing (docs/campaigns.md); the submitter becomes
    an author. Refused with every problem named when it is incomplete."""
    user = require_staff(actor, SUBMIT, "submit campaigns")
    now = now or timezone.now()
    current = Campaign.objects.select_related("template", "segment").get(pk=campaign.pk)
    expect_status(current, {S.DRAFT}, "submitted")
    readiness = campaign_readiness(current, now=now)
    readiness.refuse(current, doing="submitted")
    with transaction.atomic():
        # Submit what was checked: an edit saved meanwhile (updated_at moved) is checked again first.
        move(
            current,
            actor=actor,
            to=S.PENDING_APPROVAL,
            action="submitted",
            # The audience as submitted: approval refuses rules edited after this (four eyes).
            details={"audience": submission_audience(current)},
            guard={"updated_at": current.updated_at},
            changed_meanwhile="It was edited while you submitted it: check it and submit it again.",
            submitted_at=now,
            purpose=readiness.purpose,
            status_reason="",
        )
        add_author(current, user)
    return _fresh(current)


def campaign_withdraw(*, campaign: Campaign, actor: Actor) -> Campaign:
    """pending_approval → draft, by an Editor, to change it (a pending campaign is not editable)."""
    require_staff(actor, SUBMIT, "withdraw campaigns")
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, {S.PENDING_APPROVAL}, "withdrawn")
    move(
        current,
        actor=actor,
        to=S.DRAFT,
        action="withdrawn",
        reason="Withdrawn to be edited.",
        status_reason="",
    )
    return _fresh(current)


def campaign_approve(
    *, campaign: Campaign, actor: Actor, now: datetime | None = None, expected: str | None = None
) -> Campaign:
    """pending_approval → approved by an Approver who is none of its authors; freezes it.

    Everything submitting checked is checked again (the template may have been paused, edited or
    re-categorised while the campaign waited). A campaign whose send time passed meanwhile starts
    at approval; one whose latest send time passed is refused. Two Approvers at once: the
    conditional UPDATE lets one through, the other is told who approved it.

    ``expected``: the ``campaign_fingerprint`` of the page the Approver read (the admin requires
    it); refused (``campaign_changed``) when what would be frozen differs. None (code calling the
    service) skips that comparison only. Refused too when the segment's rules are not those
    submitted, when the Approver wrote a template version it would freeze, and when WhatsApp
    changed a template between the freeze and the UPDATE (the rows are locked, then compared).
    """
    now = now or timezone.now()
    current = Campaign.objects.select_related("template", "segment").get(pk=campaign.pk)
    require_approver(actor, current, "approve")
    expect_status(current, {S.PENDING_APPROVAL}, "approved")
    readiness = campaign_readiness(current, now=now, approving=True)
    readiness.refuse(current, doing="approved")
    frozen, segment_version = campaign_freeze(current, now=now)
    frozen["purpose"] = readiness.purpose
    refuse_unread(current, expected, frozen=frozen)
    require_not_template_writer(actor, current, frozen)
    refuse_audience_moved(current, frozen)
    with transaction.atomic():
        lock_frozen_templates(frozen)
        # The same submission the checks read: a withdrawal, edit and new submission in between
        # would otherwise be approved unread.
        move(
            current,
            actor=actor,
            to=S.APPROVED,
            action="approved",
            guard={"submitted_at": current.submitted_at},
            details={"segment_version": segment_version.version, "languages": sorted(frozen["languages"])},
            frozen=frozen,
            segment_version=segment_version,
            purpose=readiness.purpose,
            approved_at=now,
            approved_by=actor.user,
            status_reason="",
        )
        # Under the templates' locks: a change WhatsApp made after the freeze is seen here (and
        # rolls the approval back), one made after the commit sees an approved campaign to judge.
        drift = frozen_template_drift(current, frozen=frozen)
        if drift:
            raise ApplicationError(
                f"“{current.name}” was not approved: "
                + " ".join(d.message for d in drift)
                + " The template changed while you approved it; read the campaign again.",
                code="campaign_template_changed",
                field="template",
            )
    return _fresh(current)


def campaign_reject(
    *, campaign: Campaign, actor: Actor, comment: str, expected: str | None = None
) -> Campaign:
    """pending_approval → draft with the Approver's comment (required) shown as its status reason.

    ``expected``: as for ``campaign_approve`` — the verdict is about the submission that was read."""
    current = Campaign.objects.get(pk=campaign.pk)
    require_approver(actor, current, "reject")
    comment = (comment or "").strip()
    if not comment:
        raise ApplicationError(
            "Say why it is rejected: the comment tells the authors what to change.",
            code="campaign_reject_comment_missing",
            field="comment",
        )
    expect_status(current, {S.PENDING_APPROVAL}, "rejected")
    refuse_unread(current, expected)
    move(
        current,
        actor=actor,
        to=S.DRAFT,
        action="rejected",
        reason=comment,
        guard={"submitted_at": current.submitted_at},
        changed_meanwhile=CHANGED_SINCE_READ,
        status_reason=comment,
    )
    return _fresh(current)


def campaign_return_to_approval(*, campaign: Campaign, reason: str, actor: Actor | None = None) -> Campaign:
    """approved | paused → pending_approval (a sending campaign pauses first: two transitions).

    For when what was approved no longer holds (WhatsApp edited, re-categorised, disabled or
    rejected the template). The frozen copy is kept in the transition's details and cleared on the
    campaign, which sends again only after a new approval.
    """
    actor = actor or Actor.system("campaign workflow")
    require(actor, RESUME, "send a campaign back to approval")
    reason = (reason or "").strip() or "Needs approving again."
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, {S.APPROVED, S.PAUSED, S.SENDING}, "sent back to approval")
    with transaction.atomic():
        if current.status == S.SENDING:
            move(
                current,
                actor=actor,
                to=S.PAUSED,
                action="paused",
                reason=reason,
                paused_from=S.SENDING,
                status_reason=reason,
            )
            current.status = S.PAUSED
        move(
            current,
            actor=actor,
            to=S.PENDING_APPROVAL,
            action="returned_to_approval",
            reason=reason,
            details={
                "frozen": current.frozen,
                "approved_by": current.approved_by_id,
                # What its authors submitted and was approved: the audience approving again expects.
                "audience": frozen_audience(current.frozen),
            },
            status_reason=reason,
            paused_from="",
            frozen={},
            segment_version=None,
            approved_at=None,
            approved_by=None,
            submitted_at=timezone.now(),
        )
    return _fresh(current)


# --- pausing, resuming, cancelling -----------------------------------------------------------------


def campaign_pause(
    *, campaign: Campaign, actor: Actor, reason: str = "", details: dict | None = None
) -> Campaign:
    """approved | sending → paused, remembering which. Editors may pause a sending campaign only
    (stopping what is going out is everyone's to do); Approvers and the system either."""
    current = Campaign.objects.get(pk=campaign.pk)
    require(actor, PAUSE, "pause campaigns")
    expect_status(current, {S.APPROVED, S.SENDING}, "paused")
    if current.status == S.APPROVED and not may(actor, RESUME):
        raise ApplicationError(
            "Only an Approver can pause a campaign that has not started sending.",
            code="permission_denied",
        )
    reason = (reason or "").strip() or f"Paused by {actor.label or 'the system'}."
    move(
        current,
        actor=actor,
        to=S.PAUSED,
        action="paused",
        reason=reason,
        details=details,
        paused_from=current.status,
        status_reason=reason,
    )
    return _fresh(current)


def campaign_resume(*, campaign: Campaign, actor: Actor, details: dict | None = None) -> Campaign:
    """paused → the status it was paused from. Refused while a template it sends is not approved."""
    require(actor, RESUME, "resume campaigns")
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, {S.PAUSED}, "resumed")
    blocked = [drift.message for drift in frozen_template_drift(current)]
    if blocked:
        raise ApplicationError(
            f"“{current.name}” cannot be resumed: " + " ".join(blocked) + " It resumes by itself when "
            "WhatsApp approves the template again.",
            code="campaign_template_not_sendable",
        )
    back_to = current.paused_from or S.APPROVED
    move(
        current,
        actor=actor,
        to=back_to,
        action="resumed",
        details=details,
        guard={"paused_from": current.paused_from},
        paused_from="",
        status_reason="",
    )
    return _fresh(current)


def campaign_cancel(*, campaign: Campaign, actor: Actor, reason: str = "") -> Campaign:
    """Anything not finished → cancelled. Its queued messages are cancelled with it, in one UPDATE."""
    require(actor, RESUME, "cancel campaigns")
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, set(S) - FINISHED, "cancelled")
    reason = (reason or "").strip() or f"Cancelled by {actor.label or 'the system'}."
    now = timezone.now()
    with transaction.atomic():
        move(
            current,
            actor=actor,
            to=S.CANCELLED,
            action="cancelled",
            reason=reason,
            status_reason=reason,
            finished_at=now,
        )
        cancelled = OutboundMessage.objects.filter(
            campaign_id=current.pk, is_test=False, status=MessageStatus.QUEUED
        ).update(
            status=MessageStatus.CANCELLED,
            hold_reason=HoldReason.NONE,
            next_attempt_at=None,
            error_class=CANCELLED_REASON,
            error_text=reason,
            finished_at=now,
            updated_at=now,
        )
        if cancelled:
            log_activity(
                actor=actor,
                action="campaign.messages_cancelled",
                obj=current,
                details={"messages": cancelled},
            )
    return _fresh(current)


# --- the dispatcher's seam -------------------------------------------------------------------------


def campaigns_due(now: datetime | None = None) -> list[Campaign]:
    """Approved campaigns whose start has come and whose latest send time has not passed.

    A start is the send time, the first clock to reach a local-time schedule, or the approval
    for "now" — whichever is later, so an overdue approval is due at once.
    """
    now = now or timezone.now()
    approved = (
        Campaign.objects.filter(status=S.APPROVED)
        .exclude(latest_send_at__lte=now)
        .order_by("approved_at", "pk")
    )
    return [c for c in approved if (start := due_at(c)) is not None and start <= now]


def campaigns_overdue(now: datetime | None = None) -> list[Campaign]:
    """Approved campaigns never started whose latest send time passed: nothing may go any more;
    the dispatcher starts them so every recipient is skipped with that reason, then completes them."""
    now = now or timezone.now()
    return list(Campaign.objects.filter(status=S.APPROVED, latest_send_at__lte=now).order_by("pk"))


def campaign_start(
    *, campaign: Campaign, actor: Actor | None = None, now: datetime | None = None
) -> Campaign:
    """approved → sending, once it is due (``campaigns_due``); the dispatcher calls this."""
    actor = actor or Actor.system("campaign dispatcher")
    require(actor, None, "start campaigns")
    now = now or timezone.now()
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, {S.APPROVED}, "started")
    start = due_at(current)
    if start is None or start > now:
        raise ApplicationError(
            f"“{current.name}” is not due yet: it starts at {timezone.localtime(start):%Y-%m-%d %H:%M}.",
            code="campaign_not_due",
        )
    move(current, actor=actor, to=S.SENDING, action="started", started_at=now)
    return _fresh(current)


def campaign_complete(*, campaign: Campaign, actor: Actor | None = None) -> Campaign:
    """sending → completed, when none of its messages is queued or sending."""
    actor = actor or Actor.system("campaign dispatcher")
    require(actor, None, "complete campaigns")
    current = Campaign.objects.get(pk=campaign.pk)
    expect_status(current, {S.SENDING}, "completed")
    busy = OutboundMessage.objects.filter(
        campaign_id=current.pk, is_test=False, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).count()
    if busy:
        raise ApplicationError(
            f"“{current.name}” still has {busy} message(s) queued or sending.", code="campaign_still_sending"
        )
    move(current, actor=actor, to=S.COMPLETED, action="completed", finished_at=timezone.now())
    return _fresh(current)


def _not_editable(campaign: Campaign) -> ApplicationError:
    hint = {
        S.PENDING_APPROVAL: "withdraw it (or have it rejected) to edit it.",
        S.APPROVED: "cancel it and edit a duplicate.",
        S.PAUSED: "cancel it and edit a duplicate.",
        S.SENDING: "pause or cancel it; edit a duplicate.",
    }.get(campaign.status, "duplicate it to send it again.")
    return ApplicationError(
        f"“{campaign.name}” is {S(campaign.status).label.lower()}: only a draft can be edited; {hint}",
        code="campaign_not_editable",
        details={"status": campaign.status},
    )


def _clean(campaign: Campaign) -> None:
    if not campaign.name:
        raise ApplicationError("Give the campaign a name.", code="campaign_name_missing", field="name")
    try:
        campaign.full_clean(exclude=["purpose", "created_by", "approved_by", "segment_version"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ApplicationError(" ".join(messages), code="campaign_invalid", field=field) from exc


def _file_name(value) -> str:
    """The stored name of a file field's value; a new upload's name never equals a stored one
    (stored names carry their upload folder)."""
    if not value:
        return ""
    if getattr(value, "_committed", True) is False:
        return f"new:{value.name}"
    return value.name or ""


def _fresh(campaign: Campaign) -> Campaign:
    campaign.refresh_from_db()
    return campaign
