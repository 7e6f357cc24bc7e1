"""The conversation list (Support's daily page): the Conversation changelist and its poll.

The admin's own permission checks do not run for an overridden ``changelist_view``, so both views
check ``inbox.view_conversation`` themselves. Both only read: showing a conversation in the list
marks nothing read (opening its thread does, for agents; ``inbox.services``).
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format

from core.errors import ApplicationError
from inbox import selectors
from inbox.selectors import ASSIGNEES, DEFAULT_ASSIGNEE, DEFAULT_STATE, STATES

PAGE_SIZE = 50
POLL_INTERVAL_MS = 5000
PERMISSION = "inbox.view_conversation"


def urls(model_admin) -> list:
    return [
        path(
            "poll/",
            model_admin.admin_site.admin_view(partial(conversation_poll, model_admin)),
            name="inbox_conversation_poll",
        )
    ]


def conversation_list(model_admin, request):
    """GET ?state=&assignee=&cursor= → one page of the filter. A bad value is named above the
    default filter's first page (answered 400), never a 500."""
    _check(request)
    state = request.GET.get("state", DEFAULT_STATE)
    assignee = request.GET.get("assignee", DEFAULT_ASSIGNEE)
    cursor = request.GET.get("cursor") or None
    error = None
    read = partial(selectors.conversation_page, user=request.user, limit=PAGE_SIZE)
    try:
        page = read(state=state, assignee=assignee, cursor=cursor)
    except ApplicationError as exc:
        error = exc
        if exc.field == "cursor":
            page = read(state=state, assignee=assignee, cursor=None)
        else:
            page = read(state=DEFAULT_STATE, assignee=DEFAULT_ASSIGNEE, cursor=None)
    counts = selectors.filter_counts(user=request.user)
    first_page = not cursor or error is not None  # a refused cursor shows the first page
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Conversations",
        "unread": counts[page.state][page.assignee],
        "opts": model_admin.model._meta,
        "error": error.message if error else "",
        "state": page.state,
        "assignee": page.assignee,
        "state_tabs": _tabs(page, counts, kind="state"),
        "assignee_tabs": _tabs(page, counts, kind="assignee"),
        "rows": [_row_json(row) for row in page.rows],
        "older_url": page.next_cursor and _list_url(page.state, page.assignee, cursor=page.next_cursor),
        "newest_url": "" if first_page else _list_url(page.state, page.assignee),
        "live": first_page,
        # Rows that enter the filter below the last one shown belong to an older page, when there is one.
        "complete": page.next_cursor is None,
        "since": page.since,
        "poll_url": _poll_url(page.state, page.assignee),
        "poll_interval": POLL_INTERVAL_MS,
    }
    return TemplateResponse(
        request, "admin/inbox/conversation/change_list.html", context, status=400 if error else 200
    )


def conversation_poll(model_admin, request):
    """GET ?state=&assignee=&since= → JSON: the filter's rows changed since ``since``, the ids of
    changed rows no longer in the filter (``gone``), where the next poll starts, and the tabs' counts.

    Bad values are a 400 naming the parameter, in the shape ``{"error": {code, message, field}}``.
    """
    _check(request)
    state = request.GET.get("state", DEFAULT_STATE)
    assignee = request.GET.get("assignee", DEFAULT_ASSIGNEE)
    try:
        changes = selectors.conversations_since(
            user=request.user, state=state, assignee=assignee, since=request.GET.get("since") or None
        )
    except ApplicationError as exc:
        error = {"code": exc.code, "message": exc.message, "field": exc.field}
        return JsonResponse({"error": error}, status=400)
    counts = selectors.filter_counts(user=request.user)
    return JsonResponse(
        {
            "rows": [_row_json(row) for row in changes.rows],
            "gone": changes.gone,
            "since": changes.since,
            "more": changes.more,
            "unread": counts[state][assignee],
            "counts": {
                "state": {key: counts[key][assignee] for key in STATES},
                "assignee": {key: counts[state][key] for key in ASSIGNEES},
            },
        }
    )


def _check(request) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("The conversation list takes the permission to view conversations.")


def _row_json(row: selectors.ConversationRow) -> dict:
    """A row as the template and the poll's script both render it (the same keys, so they agree)."""
    at = timezone.localtime(row.last_activity_at)
    today = timezone.localdate()
    return {
        "id": row.id,
        "url": reverse("admin:inbox_conversation_change", args=[row.id]),
        "contact_name": row.contact_name,
        "contact_number": row.contact_number if row.contact_number != row.contact_name else "",
        "preview": row.preview,
        "outbound": not row.last_message_inbound,
        "unread": row.unread_count,
        "assignee": row.assignee,
        "assigned_to_me": row.assigned_to_me,
        "waiting": row.waiting,
        "state": row.state,
        "at": at.isoformat(),
        "when": date_format(at, "H:i" if at.date() == today else "j M Y, H:i"),
        # The order key for the script (microseconds fit a JavaScript number exactly until 2255).
        "sort": [selectors.activity_micros(row.last_activity_at), row.id],
        # The row's version: the script redraws a row only when it changed.
        "version": selectors.activity_micros(row.changed_at),
    }


def _tabs(page: selectors.Page, counts: dict, *, kind: str) -> list[dict]:
    choices = STATES if kind == "state" else ASSIGNEES
    tabs = []
    for key, label in choices.items():
        state, assignee = (key, page.assignee) if kind == "state" else (page.state, key)
        tabs.append(
            {
                "key": key,
                "label": label,
                "url": _list_url(state, assignee),
                "unread": counts[state][assignee],
                "current": key == (page.state if kind == "state" else page.assignee),
            }
        )
    return tabs


def _list_url(state: str, assignee: str, *, cursor: str | None = None) -> str:
    query = {"state": state, "assignee": assignee, **({"cursor": cursor} if cursor else {})}
    return f"{reverse('admin:inbox_conversation_changelist')}?{urlencode(query)}"


def _poll_url(state: str, assignee: str) -> str:
    return f"{reverse('admin:inbox_conversation_poll')}?{urlencode({'state': state, 'assignee': assignee})}"
