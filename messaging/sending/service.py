"""send_message: the consent, window, template and parameter rules, then a queued message."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import ConsentStatus, Contact, CurrentConsent, Purpose
from contacts.selectors import current_consent
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from messaging.models import InboundMessage, MessageKind, OutboundMessage
from messaging.sending.enqueue import enqueue_messages
from messaging.sending.rules import (
    SkipReason,
    consent_verdict,
    recipient_address,
    template_purpose,
    us_marketing_blocked,
    window_open,
)
from templates_app.models import MessageTemplate
from templates_app.rendering import render_message
from templates_app.sending import require_sendable

TEXT_LIMIT = 4096


def send_message(
    *,
    contact: Contact,
    actor: Actor,
    template: MessageTemplate | None = None,
    parameters: dict | None = None,
    text: str | None = None,
    reply_to: InboundMessage | None = None,
    is_reply: bool = False,
    idempotency_key: str | None = None,
) -> OutboundMessage:
    """Queue one message, or refuse with an ``ApplicationError`` whose ``code`` says why.

    Exactly one of ``template`` (with ``parameters``) or ``text`` (free-form). ``is_reply`` marks a
    message answering the person inside their open window (support inbox, STOP confirmation):
    it needs no opt-in. Everything else is business-initiated and needs a current opt-in for its
    purpose (MARKETING → marketing; UTILITY, AUTHENTICATION → service), read with its proof (the
    consent event itself, ``rules.consent_verdict``). Free-form only inside the 24-hour window.
    Never to a merged-away contact (the error names the survivor), never a MARKETING template to
    a US number while Meta does not deliver those. Enqueued with ``transaction.on_commit``.

    These checks say whether the message may be queued; the send-time rules
    (``messaging.sending.rules``) are asked again when it is claimed, so an opt-out in between wins.

    With an ``idempotency_key``, a second call with the same key (a retry, a double click, a
    concurrent request) returns the message the first one queued and queues nothing: the key is
    unique in the database.
    """
    if idempotency_key:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = timezone.now()
    if reply_to is not None:
        is_reply = True
        if reply_to.contact_id != contact.pk:
            raise ApplicationError(
                "The message being answered came from someone else.", code="reply_to_other_contact"
            )
    if (template is None) == (text is None):
        raise ApplicationError(
            "Give either an approved template or a free-form text, not both or neither.",
            code="message_content_invalid",
        )
    if contact.pk is None:
        raise ApplicationError("Save the contact before sending to it.", code="contact_unsaved")
    _check_not_merged(contact)
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
    )
    message.set_actor(actor)
    if template is not None:
        version = require_sendable(template, parameters)
        message.kind = MessageKind.TEMPLATE
        message.template_version = version
        message.parameters = parameters or {}
        # Meta may have re-categorised the template since this version was approved.
        message.purpose = template_purpose(version.category, template.category)
        message.rendered_text = render_message(components=version.components, parameters=parameters).as_text()
        if message.purpose == Purpose.MARKETING and us_marketing_blocked(contact):
            raise ApplicationError(
                f"WhatsApp does not deliver MARKETING templates to US numbers such as "
                f"{recipient_address(contact)}; send a utility template, or lift "
                "WHATSAPP_US_MARKETING_BLOCKED once Meta delivers them again.",
                code="us_marketing_blocked",
            )
    else:
        body = (text or "").strip()
        if not body:
            raise ApplicationError("The message text is empty.", code="message_content_invalid", field="text")
        if len(body) > TEXT_LIMIT:
            raise ApplicationError(
                f"The text has {len(body)} characters; WhatsApp allows at most {TEXT_LIMIT}.",
                code="message_content_invalid",
                field="text",
            )
        message.kind = MessageKind.TEXT
        message.content = {"body": body}
        message.purpose = Purpose.SERVICE
        message.rendered_text = body

    if (is_reply or message.kind != MessageKind.TEMPLATE) and not window_open(contact, now):
        what = "A reply" if is_reply else "A free-form message"
        raise ApplicationError(
            f"{what} can only be sent while {contact}'s 24-hour window is open (they wrote to us in "
            "the last 24 hours). Send an approved template instead.",
            code="window_closed",
        )
    if not is_reply:
        _check_consent(contact, message.purpose)

    message.full_clean(validate_unique=False)  # the database checks the unique keys
    with transaction.atomic():
        try:
            with transaction.atomic():
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
        enqueue_messages([message.pk])
    return message


def _check_not_merged(contact: Contact) -> None:
    """Merged-away rows are never recipients; read from the database, as a merge may be newer
    than the caller's object."""
    survivor_id = Contact.objects.filter(pk=contact.pk).values_list("merged_into_id", flat=True).first()
    if survivor_id is None:
        return
    survivor = Contact.objects.get(pk=survivor_id)
    raise ApplicationError(
        f"{contact} was merged into {survivor} (#{survivor.pk}), who stands for this person now; "
        "send to that contact instead.",
        code="contact_merged",
    )


def _check_consent(contact: Contact, purpose: str) -> None:
    verdict = consent_verdict(contact_id=contact.pk, purpose=purpose)
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
