"""A conversation's thread and its composer: the conversation's admin change page and its actions.

The admin's own permission checks do not run for an overridden change view, so each view checks
them here: reading needs ``inbox.view_conversation``; every POST (CSRF-protected by the admin's
wrapping) needs what its service needs, and the service checks again. An Auditor gets the page
read-only: no composer, no buttons, and their reading marks nothing read.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string, select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import ConsentStatus
from contacts.services import log_activity
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from inbox import services
from inbox.forms import FORMS, MediaForm, NoteForm
from inbox.models import Conversation, ConversationState
from inbox.thread import thread_changes, thread_page
from messaging.forms import TemplateParametersForm
from messaging.media import upload_for_sending
from messaging.models import OutboundMessage
from messaging.sending import content as build
from messaging.sending.rules import window_open
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.preview import render_bubble

VIEW = "inbox.view_conversation"
POLL_SECONDS = 4
# A poll's ``since`` is the ``now`` of the answer before it, so it is recent (a page does not
# outlive its two-week session); anything else is refused — a date near year 1 would overflow.
POLL_SINCE_AGE = timedelta(days=30)
POLL_SINCE_AHEAD = timedelta(hours=1)
TEMPLATE_DIR = "admin/inbox/conversation"


def urls(model_admin) -> list:
    def wrap(view, method: str):
        def answer(request, pk):
            if request.method != method:
                return HttpResponseNotAllowed([method])
            return view(model_admin, request, pk)

        return model_admin.admin_site.admin_view(answer)

    return [
        path(f"<path:pk>/{name}/", wrap(view, method), name=f"inbox_conversation_{name}")
        for name, view, method in (
            ("reply", reply_view, "POST"),
            ("note", note_view, "POST"),
            ("assign", assign_view, "POST"),
            ("resolve", resolve_view, "POST"),
            ("reopen", reopen_view, "POST"),
            ("typing", typing_view, "POST"),
            ("poll", poll_view, "GET"),
            ("earlier", earlier_view, "GET"),
        )
    ]


def _conversation(request, pk) -> Conversation:
    if not request.user.has_perm(VIEW):
        raise PermissionDenied
    if not is_id(str(pk)):
        raise Http404("No such conversation.")
    return get_object_or_404(Conversation.objects.select_related("contact", "assigned_to"), pk=int(pk))


def _thread_url(conversation: Conversation) -> str:
    return reverse("admin:inbox_conversation_change", args=[conversation.pk])


# --- The page ---------------------------------------------------------------------------------


def conversation_thread(model_admin, request, object_id):
    if request.method != "GET":
        raise PermissionDenied  # every change goes through its own POST view
    conversation = _conversation(request, object_id)
    services.open_conversation(conversation, user=request.user)
    return _render(model_admin, request, conversation)


def _render(
    model_admin,
    request,
    conversation: Conversation,
    *,
    forms: dict | None = None,
    tab: str = "text",
    error: ApplicationError | None = None,
):
    user = request.user
    contact = conversation.contact
    page = thread_page(conversation)
    agent = services.may_act(user)
    is_open = window_open(contact)
    forms = forms or {}
    template_form = None
    chosen = None
    if agent:
        chosen = _chosen_template(request.GET.get("template") or request.POST.get("template"))
        if chosen is not None:
            template_form = forms.get("template") or TemplateParametersForm(version=chosen.approved_version)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Conversation._meta,
        "title": f"Conversation with {contact}",
        "error": error,
        "conversation": conversation,
        "contact": contact,
        "consents": list(contact.consents.all()),
        "opted_out_everywhere": _opted_out_everywhere(contact),
        "window_open": is_open,
        "window_state": services.window_state(contact),
        "bubbles": page.bubbles,
        "earlier": page.earlier,
        "seen_outbound_id": _newest_outbound_id(conversation),
        "last_inbound_id": max((b.pk for b in page.bubbles if b.side == "in"), default=0),
        "last_note_id": max((b.pk for b in page.bubbles if b.side == "note"), default=0),
        "has_notes": conversation.notes.exists(),
        "now": timezone.now().isoformat(),
        "agent": agent,
        "may_assign": agent and user.has_perm(services.ASSIGN),
        "may_note": user.has_perm(services.ADD_NOTE),
        "assignees": _assignees() if agent else [],
        "forms": {
            "text": forms.get("text") or FORMS["text"](),
            "buttons": forms.get("buttons") or FORMS["buttons"](),
            "list": forms.get("list") or FORMS["list"](),
            "media": forms.get("media") or MediaForm(),
            "note": forms.get("note") or NoteForm(),
        },
        "tab": tab if is_open else "template",
        "canned": [(c, services.render_canned(c, contact)) for c in services.canned_for(contact)]
        if agent
        else [],
        "templates": list(
            MessageTemplate.objects.filter(
                status=TemplateStatus.APPROVED, approved_version__isnull=False
            ).order_by("name", "language")
        )
        if agent
        else [],
        "chosen_template": chosen,
        "template_form": template_form,
        "template_preview": render_bubble(components=chosen.approved_version.components, use_examples=True)
        if chosen
        else "",
        "poll_ms": POLL_SECONDS * 1000,
        "survey_form": _has_template("surveys/_start_form.html") and agent,
    }
    return TemplateResponse(request, f"{TEMPLATE_DIR}/thread.html", context)


def _has_template(name: str) -> bool:
    """Whether another part of the product ships a template to include (surveys may not be installed)."""
    try:
        select_template([name])
    except Exception:  # TemplateDoesNotExist, or a broken template: leave it out rather than fail the page
        return False
    return True


def _chosen_template(value) -> MessageTemplate | None:
    if not is_id(value):
        return None
    return (
        MessageTemplate.objects.filter(
            status=TemplateStatus.APPROVED, approved_version__isnull=False, pk=int(value)
        )
        .select_related("approved_version")
        .first()
    )


def _newest_outbound_id(conversation: Conversation) -> int:
    return (
        OutboundMessage.objects.filter(contact_id=conversation.contact_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
        or 0
    )


def _opted_out_everywhere(contact) -> bool:
    consents = list(contact.consents.all())
    return len(consents) >= 2 and all(c.status == ConsentStatus.OPTED_OUT for c in consents)


def _assignees():
    User = get_user_model()
    candidates = User.objects.filter(is_active=True, is_staff=True).order_by("username")
    return [u for u in candidates if services.may_be_assigned(u)]


# --- Actions ----------------------------------------------------------------------------------


def _refused(request, conversation, error: ApplicationError):
    messages.error(request, error.message)
    return HttpResponseRedirect(_thread_url(conversation) + "#composer")


def reply_view(model_admin, request, pk):
    conversation = _conversation(request, pk)
    if not services.may_act(request.user):
        raise PermissionDenied
    tab = request.POST.get("tab", "text")
    seen = request.POST.get("seen_outbound_id", "")
    seen_id = int(seen) if is_id(seen) else None
    forms: dict = {}
    try:
        if tab == "template":
            template = _chosen_template(request.POST.get("template"))
            if template is None:
                raise ApplicationError(
                    "Choose an approved template.", code="template_invalid", field="template"
                )
            form = TemplateParametersForm(request.POST, version=template.approved_version)
            forms["template"] = form
            if not form.is_valid():
                raise ApplicationError(
                    "Fill in the template's values.", code="parameters_invalid", field="template"
                )
            services.reply(
                conversation,
                user=request.user,
                template=template,
                parameters=form.parameters,
                seen_outbound_id=seen_id,
            )
        elif tab == "media":
            form = MediaForm(request.POST, request.FILES)
            forms["media"] = form
            if not form.is_valid():
                if "file" in form.errors:
                    raise ApplicationError(
                        "Choose a file to send.", code="message_content_invalid", field="file"
                    )
                raise ApplicationError(
                    "Correct the caption below.", code="message_content_invalid", field="caption"
                )
            if not window_open(conversation.contact):
                raise ApplicationError(
                    f"The 24-hour window {services.window_state(conversation.contact)}: only an approved "
                    "template can be sent now.",
                    code="window_closed",
                    field="content",
                )
            _reply_with_media(conversation, request.user, form.cleaned_data, seen_id)
        elif tab in FORMS:
            form = FORMS[tab](request.POST)
            forms[tab] = form
            if not form.is_valid():
                raise ApplicationError(
                    "Correct the message below.", code="message_content_invalid", field=tab
                )
            services.reply(conversation, user=request.user, content=form.content(), seen_outbound_id=seen_id)
        else:
            raise ApplicationError(
                f"Unknown kind of message {tab!r}.", code="message_content_invalid", field="tab"
            )
    except ApplicationError as error:
        conversation.refresh_from_db()
        response = _render(model_admin, request, conversation, forms=forms, tab=tab, error=error)
        response.status_code = 409 if error.code == "someone_replied" else 400
        return response
    messages.success(request, "Sent to the queue: it goes out in a moment.")
    return HttpResponseRedirect(_thread_url(conversation) + "#composer")


def _reply_with_media(conversation: Conversation, user, data: dict, seen_id: int | None) -> None:
    """Upload the file, then queue the reply in a transaction of its own.

    The upload (up to 100 MB to Meta) runs outside any transaction: on SQLite an open write
    transaction holds the database's one write lock, and every webhook — a STOP included — would
    wait behind the upload. Should the reply be refused (someone replied meanwhile, the window
    closed), the stored copy and its row go, so nothing is left half-done; Meta's copy expires
    unused after 30 days.
    """
    actor = Actor.for_user(user)
    stored = upload_for_sending(data["file"], actor=actor)
    content = build.media(
        stored.kind,
        stored.media_id,
        caption=data["caption"],
        filename=stored.filename if stored.kind == "document" else "",
    )
    try:
        services.reply(conversation, user=user, content=content, seen_outbound_id=seen_id)
    except Exception as error:
        _discard(stored, actor=actor, why=getattr(error, "code", type(error).__name__))
        raise


def _discard(stored, *, actor: Actor, why: str) -> None:
    """Delete an uploaded file whose reply was refused; the log says so, next to ``media.uploaded``."""
    with transaction.atomic():
        log_activity(
            actor=actor,
            action="media.discarded",
            obj=stored,
            details={"media_id": stored.media_id, "filename": stored.filename, "reason": why},
        )
        stored.delete()
    stored.file.delete(save=False)


def note_view(model_admin, request, pk):
    conversation = _conversation(request, pk)
    if not request.user.has_perm(services.ADD_NOTE):
        raise PermissionDenied
    try:
        services.add_note(conversation, author=request.user, text=request.POST.get("text", ""))
    except ApplicationError as error:
        return _refused(request, conversation, error)
    messages.success(request, "Note added: only staff see it.")
    return HttpResponseRedirect(_thread_url(conversation) + "#notes")


def assign_view(model_admin, request, pk):
    conversation = _conversation(request, pk)
    if not request.user.has_perm(services.ASSIGN):
        raise PermissionDenied
    value = request.POST.get("assignee", "")
    if value == "me":
        to = request.user
    elif value == "":
        to = None
    else:
        to = get_user_model().objects.filter(pk=int(value)).first() if is_id(value) else None
        if to is None:
            return _refused(
                request,
                conversation,
                ApplicationError(
                    f"No staff member {value!r} to assign to.", code="assignee_invalid", field="assignee"
                ),
            )
    try:
        services.assign(conversation, to=to, by=request.user)
    except ApplicationError as error:
        return _refused(request, conversation, error)
    messages.success(request, f"Assigned to {to}." if to else "Unassigned.")
    return HttpResponseRedirect(_thread_url(conversation))


def _state_view(service, done: str):
    def view(model_admin, request, pk):
        conversation = _conversation(request, pk)
        if not services.may_act(request.user):
            raise PermissionDenied
        try:
            service(conversation, by=request.user)
        except ApplicationError as error:
            return _refused(request, conversation, error)
        messages.success(request, done)
        return HttpResponseRedirect(_thread_url(conversation))

    return view


resolve_view = _state_view(services.resolve, "Resolved.")
reopen_view = _state_view(services.reopen, "Reopened.")


def typing_view(model_admin, request, pk):
    conversation = _conversation(request, pk)
    if not services.may_act(request.user):
        raise PermissionDenied
    return JsonResponse({"sent": services.typing(conversation, user=request.user)})


def _int(request, name: str) -> int:
    value = request.GET.get(name, "0")
    if not is_id(value):
        raise ApplicationError(f"{name} must be a message number.", code="poll_invalid", field=name)
    return int(value)


def _since(request, now):
    try:
        since = parse_datetime(request.GET.get("since", ""))
    except ValueError:  # the shape of a time, not a time ("2025-13-45…")
        since = None
    if since is None or since.tzinfo is None or not now - POLL_SINCE_AGE <= since <= now + POLL_SINCE_AHEAD:
        raise ApplicationError(
            "since must be the time the last answer gave.", code="poll_invalid", field="since"
        )
    return since


def poll_view(model_admin, request, pk):
    """New and changed bubbles since the page's last look, and the conversation's state.

    An agent watching the conversation reads what arrives, so new messages are marked read for
    them (``open_conversation``); an Auditor's poll changes nothing.
    """
    conversation = _conversation(request, pk)
    try:
        after_inbound = _int(request, "after_inbound")
        after_note = _int(request, "after_note")
        now = timezone.now()
        since = _since(request, now)
    except ApplicationError as error:
        return JsonResponse({"error": error.message}, status=400)
    # A second of overlap: a message changed while the last answer was being built is drawn again.
    bubbles = thread_changes(
        conversation,
        after_inbound=after_inbound,
        after_note=after_note,
        outbound_since=since - timedelta(seconds=1),
    )
    services.open_conversation(conversation, user=request.user)
    conversation.refresh_from_db(fields=["state", "assigned_to", "awaiting_reply"])
    return JsonResponse(
        {
            "now": now.isoformat(),
            "bubbles": [_bubble_json(b) for b in bubbles],
            "state": conversation.state,
            "resolved": conversation.state == ConversationState.RESOLVED,
        }
    )


def earlier_view(model_admin, request, pk):
    conversation = _conversation(request, pk)
    try:
        before = request.GET.get("before", "")
        if not before:
            raise ApplicationError("before is required.", code="thread_cursor_invalid", field="before")
        page = thread_page(conversation, before=before)
    except ApplicationError as error:
        return JsonResponse({"error": error.message}, status=400)
    return JsonResponse({"bubbles": [_bubble_json(b) for b in page.bubbles], "earlier": page.earlier})


def _bubble_json(bubble) -> dict:
    return {
        "key": bubble.key,
        "side": bubble.side,
        "pk": bubble.pk,
        "html": render_to_string(f"{TEMPLATE_DIR}/_bubble.html", {"bubble": bubble}),
    }
