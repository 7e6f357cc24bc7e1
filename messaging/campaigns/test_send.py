"""A campaign's message sent to a staff test number, before (or while) it goes to its audience.

It is an ordinary message through ``send_message`` — the same template, parameters, consent
check and dispatch — marked ``is_test`` so it never counts in the campaign's funnel and never
takes the member's "once per campaign" place. The test number's contact needs its own opt-in for
the campaign's purpose, like anyone else's (an Administrator records it when adding the number).

Rendered with sample values, or for a chosen member of the campaign's segment: that shows a
customer's data on a staff phone, so it is logged on the member as well as on the campaign.
"""

from __future__ import annotations

from django.db import transaction

from contacts.models import Contact, TestNumber
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.bindings import binding_problems, build_parameters
from messaging.campaigns.eligibility import campaign_members
from messaging.campaigns.languages import campaign_content, campaign_template_check
from messaging.campaigns.media import campaign_media_ensure, header_media_parameter
from messaging.models import OutboundMessage
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate

PERMISSION = "messaging.test_send_campaign"


def campaign_test_send(
    *,
    campaign: Campaign,
    test_number: TestNumber,
    actor: Actor,
    member: Contact | None = None,
    language: str | None = None,
) -> OutboundMessage:
    """Queue the campaign's message to an active staff test number; the message, or refused.

    ``member``: render it with that member's values (they must be one of its members), in
    their language; without one, with sample values in the test number's own language. ``language``
    (one of the campaign's template languages) overrides either. Any campaign status, drafts
    included. Refused unless ``actor`` is a staff user with ``messaging.test_send_campaign``.
    """
    if not (actor.kind == Actor.USER and actor.user is not None and actor.user.has_perm(PERMISSION)):
        raise ApplicationError(
            "Only staff allowed to test-send campaigns (Editors) may send a test.",
            code="campaign_test_send_forbidden",
        )
    number = TestNumber.objects.select_related("contact").filter(pk=test_number.pk).first()
    if number is None or not number.active:
        raise ApplicationError(
            f"“{test_number.label}” is not an active staff test number: an Administrator removed it. "
            "Choose another test number.",
            code="test_number_inactive",
            field="test_number",
        )
    content = campaign_content(campaign)
    if not content.frozen:
        campaign_template_check(campaign.template)
    if member is not None:
        _check_member(campaign, member)
        problems = binding_problems(campaign)
        if problems:
            raise ApplicationError(
                "The campaign's bindings are not complete: " + " ".join(problems),
                code="campaign_bindings_invalid",
                field="bindings",
                details={"problems": problems},
            )
    if language is None:
        who = member if member is not None else number.contact
        language = content.language_for_contact(who.language)
    item = content.for_language(language)
    template = MessageTemplate.objects.select_related("approved_version").get(pk=item.template_id)
    if content.frozen and template.approved_version_id != item.version_id:
        raise ApplicationError(
            f"The {language} template's approved content changed since the campaign was approved; "
            "the campaign waits for approval again before anything is sent with it.",
            code="campaign_template_changed",
            field="template",
        )
    campaign_media_ensure(campaign=campaign)  # before the transaction: it may call WhatsApp
    parameters = build_parameters(
        content,
        item,
        contact=member,
        header_media=header_media_parameter(campaign, item, required=True),
    )
    with transaction.atomic():
        message = send_message(
            contact=number.contact,
            actor=actor,
            template=template,
            parameters=parameters,
            campaign=campaign,
            is_test=True,
        )
        details = {
            "test_number": number.pk,
            "test_number_label": number.label,
            "message": str(message.public_id),
            "language": language,
            "member": member.pk if member is not None else None,
        }
        log_activity(actor=actor, action="campaign.test_sent", obj=campaign, details=details)
        if member is not None:
            # A customer's data went to a staff phone: their own history says so.
            log_activity(
                actor=actor,
                action="contact.shown_in_test_send",
                obj=member,
                details={**details, "campaign": campaign.pk, "campaign_name": campaign.name},
            )
    return message


def _check_member(campaign: Campaign, member: Contact) -> None:
    """The member must be one the campaign sends to: its segment's live members while a draft or
    awaiting approval, the members of the rules approval froze once approved
    (``eligibility.campaign_members``) — not the segment version's, whose included segments are
    read as they are now."""
    if member.pk is None or not campaign_members(campaign).filter(pk=member.pk).exists():
        raise ApplicationError(
            f"{member} is not a member of the segment “{campaign.segment}”: a test send shows the "
            "values of one of the campaign's own recipients only.",
            code="campaign_test_member_not_in_segment",
            field="member",
        )
