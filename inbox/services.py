"""What agents do in a conversation: reply, open (read), type, assign, note, resolve, reopen.

Every action is one service: it checks the user's permission itself (views call these, but so may
anything else), refuses with an ``ApplicationError`` naming what is wrong, and writes the activity
log. Nothing is sent to WhatsApp from the request: messages go through ``send_message`` (the
dispatcher sends them), read marks and the typing indicator through a django-q2 task queued after
commit (``inbox.tasks``). Each write of the conversation's row stamps ``changed_at``, which the
list's poll follows (``inbox.selectors.conversations_since``).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from contacts.models import ConsentStatus, Contact, CurrentConsent, Purpose
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from inbox.conversations import record_answer
from inbox.models import CannedReply, Conversation, ConversationNote, ConversationState
from messaging.models import InboundMessage, OutboundMessage
from messaging.sending.reach import WINDOW
from messaging.sending.rules import window_open
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate

REPLY = "inbox.reply_conversation"
ASSIGN = "inbox.assign_conversation"
ADD_NOTE = "inbox.add_conversationnote"
NOTE_LIMIT = 4000
# Meta shows "typing…" for up to 25 seconds or until we answer: asking again sooner changes nothing.
TYPING_EVERY_SECONDS = 20
MARK_READ_TASK = "inbox.tasks.mark_read"


def _require(user, perm: str, doing: str) -> None:
    if not (user.is_active and user.is_staff and user.has_perm(perm)):
        raise ApplicationError(f"{user} may not {doing}.", code="permission_denied")


def latest_inbound(contact: Contact) -> InboundMessage | None:
    return InboundMessage.objects.filter(contact=contact).order_by("-sent_at", "-id").first()


def window_state(contact: Contact, now=None) -> str:
    """ "is open until …" or "closed at …" (or "has never opened"), in the current time zone."""
    if contact.last_inbound_at is None:
        return "has never opened (the person never wrote to us)"
    ends = timezone.localtime(contact.last_inbound_at + WINDOW)
    if window_open(contact, now):
        return f"is open until {ends:%Y-%m-%d %H:%M %Z}"
    return f"closed at {ends:%Y-%m-%d %H:%M %Z}"


# --- Replying ---------------------------------------------------------------------------------


def reply(
    conversation: Conversation,
    *,
    user,
    content: dict | None = None,
    template: MessageTemplate | None = None,
    parameters: dict | None = None,
    seen_outbound_id: int | None,
) -> OutboundMessage:
    """Answer the person: free-form content inside the 24-hour window, an approved template outside.

    Inside the window the message is a reply to the person's latest message (it quotes it and needs
    no opt-in); outside it only a template goes, business-initiated, so the consent rule applies
    (``send_message`` refuses with its code). Someone who opted out of every purpose gets only a
    reply to a message they wrote after that opt-out — never an answer to the STOP itself, which
    the system already confirmed.

    Two agents at once: ``seen_outbound_id`` is the newest outbound message the agent's page showed.
    The conversation's row is locked while we look for newer ones, so of two agents answering at
    the same moment the second sees the first's message and is refused (``someone_replied``) with
    who sent what; the page shows it and the agent decides again.
    """
    _require(user, REPLY, "reply to conversations")
    if (content is None) == (template is None):
        raise ApplicationError(
            "Write a message or choose a template (one of them).",
            code="message_content_invalid",
            field="content",
        )
    actor = Actor.for_user(user)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().select_related("contact").get(pk=conversation.pk)
        )
        contact = conversation.contact
        _refuse_if_someone_replied(contact, user=user, seen_outbound_id=seen_outbound_id)
        now = timezone.now()
        latest = latest_inbound(contact)
        if window_open(contact, now) and latest is not None:
            _refuse_after_opt_out_of_everything(contact, latest)
            if content is not None:
                message = send_message(contact=contact, actor=actor, content=content, reply_to=latest)
            else:
                message = send_message(
                    contact=contact, actor=actor, template=template, parameters=parameters, reply_to=latest
                )
        elif content is not None:
            raise ApplicationError(
                f"The 24-hour window {window_state(contact)}: only an approved template can be sent now.",
                code="window_closed",
                field="content",
            )
        else:
            message = send_message(contact=contact, actor=actor, template=template, parameters=parameters)
        if not message.is_reply:  # a reply told the conversation itself (messaging.signals.reply_queued)
            record_answer(message)
        log_activity(
            actor=actor,
            action="conversation.replied",
            obj=conversation,
            details={
                "message": message.pk,
                "kind": message.kind,
                "is_reply": message.is_reply,
                "reply_to": message.reply_to_id,
            },
        )
    return message


def _refuse_if_someone_replied(contact: Contact, *, user, seen_outbound_id: int | None) -> None:
    newer = (
        OutboundMessage.objects.filter(contact=contact, pk__gt=seen_outbound_id or 0)
        .exclude(actor_user=user)
        .order_by("-pk")
        .values("pk", "actor_label", "rendered_text", "created_at")
        .first()
    )
    if newer is None:
        return
    who = newer["actor_label"] or "the system"
    raise ApplicationError(
        f"{who} sent a message since you loaded this conversation: “{newer['rendered_text'][:120]}”. "
        "Read it, then send yours again if it is still needed.",
        code="someone_replied",
        details={
            "by": who,
            "message": newer["pk"],
            "text": newer["rendered_text"],
            "at": newer["created_at"].isoformat(),
        },
    )


def _refuse_after_opt_out_of_everything(contact: Contact, latest: InboundMessage) -> None:
    """After an opt-out of every purpose only a message the person wrote after it may be answered."""
    consents = list(CurrentConsent.objects.filter(contact=contact).select_related("event"))
    opted_out = [c for c in consents if c.status == ConsentStatus.OPTED_OUT]
    if not consents or len(opted_out) < len(Purpose.values) or len(consents) < len(Purpose.values):
        return
    since = max(c.since for c in opted_out)
    # Meta's timestamps are whole seconds: in the STOP's own second, only a message stored after it.
    stop_ids = [(c.event.evidence or {}).get("inbound_message_id") for c in opted_out]
    stop_id = max((i for i in stop_ids if isinstance(i, int)), default=None)
    same_second_after = latest.sent_at == since and stop_id is not None and latest.pk > stop_id
    if not (latest.sent_at > since or same_second_after):
        raise ApplicationError(
            f"{contact} opted out of every message on {since:%Y-%m-%d %H:%M %Z}; their opt-out got the "
            "system's confirmation. You may answer only if they write to us again.",
            code="opted_out_everywhere",
        )


# --- Reading and typing -----------------------------------------------------------------------


def may_act(user) -> bool:
    """Agents act on conversations; an Auditor (or anyone else without the reply permission) reads only."""
    return bool(user.is_active and user.is_staff and user.has_perm(REPLY))


def open_conversation(conversation: Conversation, *, user) -> bool:
    """An agent looked at the conversation: nothing unread, and the person sees blue ticks.

    The unread count is cleared with a conditional UPDATE, so of two agents opening it at once one
    queues Meta's mark-as-read (on the latest inbound message, which marks every earlier one read
    too); the call to Meta runs in a task after commit, never in the request. An Auditor's reading,
    or anyone's without the reply permission, changes nothing and sends nothing. True when marked.
    """
    if not may_act(user):
        return False
    cleared = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(
        unread_count=0, changed_at=timezone.now()
    )
    conversation.unread_count = 0
    if not cleared:
        return False
    latest = latest_inbound(conversation.contact)
    if latest is not None:
        _mark_read_after_commit(latest.pk, typing_indicator=False)
    return True


def typing(conversation: Conversation, *, user) -> bool:
    """Show the person "typing…" while an agent composes; at most once per ~20 s per conversation.

    The throttle is a key in the shared cache (database or Redis), so every web process agrees.
    Only inside the window (the indicator answers their latest message), only for agents, and only
    when a reply could follow: someone who opted out of everything and has not written since never
    sees us "typing…". Meta's typing indicator also marks the message read. True when one was queued.
    """
    _require(user, REPLY, "show the typing indicator")
    contact = conversation.contact
    latest = latest_inbound(contact)
    if latest is None or not window_open(contact):
        return False
    try:
        _refuse_after_opt_out_of_everything(contact, latest)
    except ApplicationError:
        return False
    if not cache.add(f"inbox:typing:{conversation.pk}", True, TYPING_EVERY_SECONDS):
        return False
    _mark_read_after_commit(latest.pk, typing_indicator=True)
    return True


def _mark_read_after_commit(inbound_id: int, *, typing_indicator: bool) -> None:
    def queue() -> None:
        from django_q.tasks import async_task

        async_task(
            MARK_READ_TASK,
            inbound_id,
            typing_indicator,
            task_name=f"mark read {inbound_id}",
            group="inbox",
            save=False,
        )

    transaction.on_commit(queue)


# --- Teamwork ---------------------------------------------------------------------------------


def may_be_assigned(user) -> bool:
    """Assignees are active staff who may answer: the Support role, or anyone given the reply permission."""
    return bool(user is not None and user.is_active and user.is_staff and user.has_perm(REPLY))


def assign(conversation: Conversation, *, to, by) -> Conversation:
    """Give the conversation to ``to`` (``None`` unassigns it; ``to=by`` takes it).

    Assigning it to the person it is already with changes nothing and logs nothing (a double click).
    """
    _require(by, ASSIGN, "assign conversations")
    if to is not None and not may_be_assigned(to):
        raise ApplicationError(
            f"{to} cannot be given conversations: only active staff who may reply (the Support role).",
            code="assignee_invalid",
            field="assigned_to",
        )
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = locked.assigned_to_id
        new = to.pk if to is not None else None
        if previous != new:
            locked.assigned_to_id = new
            locked.changed_at = timezone.now()
            locked.save(update_fields=["assigned_to", "changed_at"])
            log_activity(
                actor=Actor.for_user(by),
                action="conversation.assigned",
                obj=locked,
                details={"from": previous, "to": new, "to_name": to.get_username() if to else ""},
            )
    conversation.assigned_to_id = locked.assigned_to_id
    return locked


def add_note(conversation: Conversation, *, author, text: str) -> ConversationNote:
    """An internal note: staff read it beside the messages; it never reaches the customer."""
    _require(author, ADD_NOTE, "add notes")
    body = (text or "").strip()
    if not body:
        raise ApplicationError("The note is empty.", code="note_empty", field="text")
    if len(body) > NOTE_LIMIT:
        raise ApplicationError(
            f"The note has {len(body)} characters; at most {NOTE_LIMIT}.", code="note_too_long", field="text"
        )
    with transaction.atomic():
        note = ConversationNote(conversation=conversation, author=author, text=body)
        note.full_clean()
        note.save()
        log_activity(
            actor=Actor.for_user(author),
            action="conversation.note_added",
            obj=conversation,
            details={"note": note.pk},
        )
    return note


def resolve(conversation: Conversation, *, by) -> Conversation:
    """Done for now: the conversation leaves the open lists; the person's next message reopens it."""
    return _move(conversation, by=by, to=ConversationState.RESOLVED)


def reopen(conversation: Conversation, *, by) -> Conversation:
    return _move(conversation, by=by, to=ConversationState.OPEN)


def _move(conversation: Conversation, *, by, to: str) -> Conversation:
    _require(by, REPLY, "resolve or reopen conversations")
    source = ConversationState.OPEN if to == ConversationState.RESOLVED else ConversationState.RESOLVED
    now = timezone.now()
    with transaction.atomic():
        moved = Conversation.objects.filter(pk=conversation.pk, state=source).update(
            state=to, resolved_at=now if to == ConversationState.RESOLVED else None, changed_at=now
        )
        if not moved:
            raise ApplicationError(
                f"The conversation is already {ConversationState(to).label.lower()}.",
                code=f"already_{to}",
                field="state",
            )
        conversation.refresh_from_db(fields=["state", "resolved_at", "changed_at"])
        log_activity(
            actor=Actor.for_user(by),
            action="conversation.resolved" if to == ConversationState.RESOLVED else "conversation.reopened",
            obj=conversation,
            details={"by": by.get_username()},
        )
    return conversation


# --- Canned replies ---------------------------------------------------------------------------

CANNED_VARIABLES = {
    "first_name": lambda contact: contact.first_name,
    "last_name": lambda contact: contact.last_name,
    "name": lambda contact: contact.full_name or contact.whatsapp_profile_name,
    "phone": lambda contact: contact.phone or "",
}
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def check_canned_body(body: str) -> None:
    """Refuse a canned reply naming a variable we cannot fill, when it is saved, not when it is sent."""
    unknown = sorted({name for name in _VARIABLE.findall(body or "") if name not in CANNED_VARIABLES})
    if unknown:
        known = ", ".join(f"{{{{{name}}}}}" for name in CANNED_VARIABLES)
        raise ApplicationError(
            f"Unknown variable {', '.join(f'{{{{{n}}}}}' for n in unknown)}; the variables are {known}.",
            code="canned_variable_unknown",
            field="body",
        )


def render_canned(canned: CannedReply, contact: Contact) -> str:
    """The canned reply's text for this contact (a variable the contact has no value for is empty)."""
    return _VARIABLE.sub(
        lambda m: (
            (CANNED_VARIABLES[m.group(1)](contact) or "") if m.group(1) in CANNED_VARIABLES else m.group(0)
        ),
        canned.body,
    ).strip()


def canned_for(contact: Contact) -> list[CannedReply]:
    """One canned reply per title: in the contact's language (``de_AT``), else its base language
    (``de``), else the site's (``LANGUAGE_CODE``, ``en``), else any."""
    language = contact.language or ""
    site = settings.LANGUAGE_CODE.split("-")[0]

    def rank(canned: CannedReply) -> int:
        if canned.language == language:
            return 0
        base = canned.language.split("_")[0]
        if language and base == language.split("_")[0]:
            return 1
        return 2 if base == site else 3

    chosen: dict[str, tuple[int, CannedReply]] = {}
    for canned in CannedReply.objects.filter(active=True).order_by("title", "language"):
        if canned.title not in chosen or rank(canned) < chosen[canned.title][0]:
            chosen[canned.title] = (rank(canned), canned)
    return [canned for _rank, canned in chosen.values()]
