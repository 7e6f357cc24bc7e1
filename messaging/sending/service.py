"""send_message: the consent, window, template and parameter rules, then a queued message."""

from __future__ import annotations

from contextlib import nullcontext

from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import ConsentStatus, Contact, CurrentConsent, Purpose
from contacts.selectors import current_consent
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageKind, OutboundMessage
from messaging.sending import content as contents
from messaging.sending.enqueue import dispatch_after_commit
from messaging.sending.reach import WINDOW
from messaging.sending.rules import (
    SkipReason,
    Verdict,
    recipient_address,
    recipient_now,
    template_purpose,
    us_marketing_blocked,
    window_open,
)
from messaging.signals import reply_queued
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.rendering import render_message
from templates_app.sending import require_sendable

_LINKS = ["contact", "reply_to", "template_version", "authorising_event", "campaign"]


def send_message(
    *,
    contact: Contact,
    actor: Actor,
    template: MessageTemplate | None = None,
    parameters: dict | None = None,
    text: str | None = None,
    content: dict | None = None,
    reply_to: InboundMessage | None = None,
    idempotency_key: str | None = None,
    campaign=None,
    is_test: bool = False,
    purpose: str | None = None,
) -> OutboundMessage:
    """Queue one message, or refuse with an ``ApplicationError`` whose ``code`` says why.

    Exactly one of ``template`` (with ``parameters``), free-form ``content`` (text, media, reply
    buttons, a list: ``messaging.sending.content``, checked here so a bad one is refused before
    anything is stored) or ``text`` (short for ``content=content.text(text)``). A message with
    ``reply_to`` is a reply (support inbox, STOP confirmation): it answers that inbound message,
    which must be this contact's and sent inside the 24-hour window, and it needs no opt-in because
    the person started the conversation — so it may never be a MARKETING template (a promotion
    "answering" a STOP would reach someone who opted out). There is no flag to make anything else a
    reply. Everything else is business-initiated and needs a current opt-in for its purpose
    (MARKETING → marketing; UTILITY, AUTHENTICATION → service), read with its proof (the consent
    event itself, ``rules.consent_verdict``); free-form content is service. Free-form only inside
    the 24-hour window.
    Never to a merged-away or deleted contact (read from the database with the consent, in one
    query: ``rules.recipient_now``; the merge's error names the survivor), never a MARKETING
    template to a US number while Meta does not deliver those. The dispatcher is woken with
    ``transaction.on_commit``.

    These checks say whether the message may be queued; the send-time rules
    (``messaging.sending.rules``) are asked again when it is claimed, so an opt-out in between wins.

    With an ``idempotency_key``, a second call with the same key (a retry, a double click, a
    concurrent request) returns the message the first one queued and queues nothing: the key is
    unique in the database.

    ``campaign`` names the campaign the message belongs to; ``is_test`` marks a campaign's test
    send to a staff test number (``messaging.campaigns.test_send``), which passes every check
    above like any other message — its number needs its own opt-in.

    ``purpose`` names the purpose of business-initiated free-form content (a marketing survey's
    first question needs the marketing opt-in, and is then never a reply); free-form content is
    service otherwise, and a template's purpose always comes from its category.
    """
    if idempotency_key:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = timezone.now()
    is_reply = reply_to is not None
    if is_reply:
        _check_reply_to(reply_to, contact=contact, now=now)
    if sum(given is not None for given in (template, text, content)) != 1:
        raise ApplicationError(
            "Give one of an approved template, a free-form text or free-form content, not several or none.",
            code="message_content_invalid",
        )
    if text is not None:
        content = _text_content(text)
    elif content is not None:
        contents.check(content)
    if contact.pk is None:
        raise ApplicationError("Save the contact before sending to it.", code="contact_unsaved")
    # The contact's row as it is now and, for a business-initiated message, its consent for the
    # message's purpose: one query, its verdicts raised below in their turn.
    purpose = _purpose_of(template, free_form=purpose)
    if is_reply and template is None and purpose == Purpose.MARKETING:
        raise ApplicationError(
            "A marketing message is never a reply: the person's message does not stand for their "
            "marketing opt-in. Send it without reply_to, as a business-initiated message.",
            code="marketing_not_a_reply",
            field="purpose",
        )
    recipient = recipient_now(contact_id=contact.pk, purpose="" if is_reply else purpose)
    if recipient is None:
        raise ApplicationError(f"{contact} no longer exists (deleted).", code="contact_not_found")
    if recipient.merged_into_id is not None:
        _refuse_merged(contact, recipient.merged_into_id)
    if contact.not_on_whatsapp_since is not None:
        raise ApplicationError(
            f"{contact} is not on WhatsApp (reported on {contact.not_on_whatsapp_since:%Y-%m-%d}).",
            code="not_on_whatsapp",
        )
    if not recipient_address(contact):
        raise ApplicationError(
            f"{contact} has no phone number or WhatsApp id to send to.",
            code="no_whatsapp_address",
            field="phone",
        )

    message = OutboundMessage(
        contact=contact,
        is_reply=is_reply,
        reply_to=reply_to,
        next_attempt_at=now,
        idempotency_key=idempotency_key or None,
        campaign=campaign,
        is_test=is_test,
    )
    message.set_actor(actor)
    if template is not None:
        version = require_sendable(template, parameters)
        message.kind = MessageKind.TEMPLATE
        message.template_version = version
        message.parameters = parameters or {}
        message.purpose = purpose
        message.rendered_text = render_message(components=version.components, parameters=parameters).as_text()
        if is_reply and message.purpose == Purpose.MARKETING:
            raise ApplicationError(
                f"{template} is a MARKETING template, and a marketing message is never a reply: the "
                "person's message does not stand for their marketing opt-in. Send it without "
                "reply_to, as a business-initiated message that needs their marketing opt-in.",
                code="marketing_not_a_reply",
                field="template",
            )
        if message.purpose == Purpose.MARKETING and us_marketing_blocked(contact):
            raise ApplicationError(
                f"WhatsApp does not deliver MARKETING templates to US numbers such as "
                f"{recipient_address(contact)}; send a utility template, or lift "
                "WHATSAPP_US_MARKETING_BLOCKED once Meta delivers them again.",
                code="us_marketing_blocked",
            )
    else:
        message.kind = contents.MESSAGE_KINDS[content["type"]]
        message.content = content
        message.purpose = purpose
        message.rendered_text = contents.describe(content)

    if (is_reply or message.kind != MessageKind.TEMPLATE) and not window_open(contact, now):
        what = "A reply" if is_reply else "A free-form message"
        raise ApplicationError(
            f"{what} can only be sent while {contact}'s 24-hour window is open (they wrote to us in "
            "the last 24 hours). Send an approved template instead.",
            code="window_closed",
        )
    if not is_reply:
        _check_consent(contact, purpose, recipient.consent)

    # The fields' own rules (lengths, choices). Not the unique keys, the check constraints or the
    # links' existence: the database checks each of them on the INSERT, the rules above already
    # refused what the constraints refuse with a clear message, and asking again first would cost
    # a query each (half of this function's time).
    message.full_clean(validate_unique=False, validate_constraints=False, exclude=_LINKS)
    # A transaction only where two writes must be one (the message and its activity-log row), a
    # savepoint only where an INSERT may fail and the call go on (a twin's idempotency key):
    # otherwise the INSERT is a statement of its own, and each BEGIN, SAVEPOINT, RELEASE and
    # COMMIT left out is a round trip to the database saved (most of this function's time).
    with transaction.atomic() if actor.kind == Actor.USER else nullcontext():
        try:
            with transaction.atomic() if idempotency_key else nullcontext():
                message.save()
        except IntegrityError:
            if not idempotency_key:
                raise
            return OutboundMessage.objects.get(idempotency_key=idempotency_key)  # a concurrent twin won
        if actor.kind == Actor.USER:
            log_activity(
                actor=actor,
                action="message.queued",
                obj=message,
                details={"public_id": str(message.public_id), "kind": message.kind, "is_reply": is_reply},
            )
        if is_reply:
            reply_queued.send(sender=OutboundMessage, message=message)
        dispatch_after_commit()
    return message


def _text_content(text: str) -> dict:
    """``text=``'s content; its refusals name ``text``, the argument (and the API's field) it came from."""
    content = contents.text(text) if isinstance(text, str) else {"type": "text", "body": text}
    try:
        contents.check(content)
    except ApplicationError as error:
        error.field = "text"
        raise
    return content


def _purpose_of(template: MessageTemplate | None, *, free_form: str | None) -> str:
    """The message's purpose, known before the checks that read consent for it: free-form content
    is service unless the caller names its purpose (a marketing survey); a template's comes from
    its approved version's category *and* its own, as Meta may have re-categorised the template
    since that version was approved. "" for a template that cannot be sent, which
    ``require_sendable`` refuses before consent is asked."""
    if free_form is not None:
        if template is not None:
            raise ApplicationError(
                "A template's purpose comes from its category; give a purpose only with free-form content.",
                code="message_content_invalid",
                field="purpose",
            )
        if free_form not in Purpose.values:
            raise ApplicationError(
                f"Unknown purpose {str(free_form)[:40]!r}; expected one of {', '.join(Purpose.values)}.",
                code="message_content_invalid",
                field="purpose",
            )
        return free_form
    if template is None:
        return Purpose.SERVICE
    if template.status != TemplateStatus.APPROVED or template.approved_version_id is None:
        return ""
    return template_purpose(template.approved_version.category, template.category)


def _check_reply_to(reply_to: InboundMessage, *, contact: Contact, now) -> None:
    """A reply answers a stored inbound message of this contact, sent inside the window.

    Read from the database: a merge may have moved the message to the surviving contact since the
    caller loaded it, and a message the caller never stored answers nothing.
    """
    stored = None
    if isinstance(reply_to, InboundMessage) and reply_to.pk is not None:
        stored = InboundMessage.objects.filter(pk=reply_to.pk).values("contact_id", "sent_at").first()
    if stored is None:
        what = (
            "an inbound message that is not stored (never saved, or deleted)"
            if isinstance(reply_to, InboundMessage)
            else f"a {type(reply_to).__name__}"
        )
        raise ApplicationError(
            f"reply_to must be a stored inbound message of the contact, not {what}.",
            code="reply_to_invalid",
            field="reply_to",
        )
    if stored["contact_id"] != contact.pk:
        raise ApplicationError(
            "The message being answered came from someone else.",
            code="reply_to_other_contact",
            field="reply_to",
        )
    if now - stored["sent_at"] >= WINDOW:
        raise ApplicationError(
            f"The message being answered was sent on {stored['sent_at']:%Y-%m-%d %H:%M}, more than "
            "24 hours ago: a reply answers a message inside the window. Answer their latest message, "
            "or send an approved template.",
            code="reply_to_outside_window",
            field="reply_to",
        )


def _refuse_merged(contact: Contact, survivor_id: int) -> None:
    """Merged-away rows are never recipients. ``survivor_id`` is read from the database, as a merge
    may be newer than the caller's object."""
    survivor = Contact.objects.get(pk=survivor_id)
    raise ApplicationError(
        f"{contact} was merged into {survivor} (#{survivor.pk}), who stands for this person now; "
        "send to that contact instead.",
        code="contact_merged",
    )


def _check_consent(contact: Contact, purpose: str, verdict: Verdict) -> None:
    """Raise the refusal ``verdict`` (``rules.consent_verdict``'s) stands for; the queries that
    tell an opt-out from a missing or other-purpose opt-in run only for a refusal."""
    if verdict.go:
        return
    if verdict.reason == SkipReason.CONSENT_PROOF_MISMATCH:
        raise ApplicationError(f"{contact}: {verdict.detail}", code="consent_proof_mismatch")
    consent = current_consent(contact=contact, purpose=purpose)
    if consent is not None:
        raise ApplicationError(
            f"{contact} opted out of {purpose} messages on {consent.since:%Y-%m-%d}; "
            "nothing but a reply to their own message may be sent for this purpose.",
            code="opted_out",
        )
    others = CurrentConsent.objects.filter(contact=contact, status=ConsentStatus.OPTED_IN).exclude(
        purpose=purpose
    )
    other = others.values_list("purpose", flat=True).first()
    if other:
        raise ApplicationError(
            f"{contact} opted in to {other} messages only; this template needs a {purpose} opt-in.",
            code="consent_wrong_purpose",
        )
    raise ApplicationError(
        f"{contact} has not opted in to {purpose} messages on WhatsApp; record their opt-in first.",
        code="no_consent",
    )
