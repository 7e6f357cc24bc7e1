"""Reads for the conversation list (Support's daily page): one page of a filter, the rows that
became newer since the page was shown, and the unread counts on the filter tabs.

Every read is one indexed range of ``inbox_conversation`` joined to its contact and assignee, so
its cost follows the page size, not the table: pages continue from a *position* (the last row's
``last_activity_at`` and id, the list's order) instead of an OFFSET that would walk every row
before it, and nothing counts all conversations. A position travels signed (``django.core.signing``
with the project's secret key), so a link cannot be edited to read from a made-up place, and a
damaged one is refused with a message instead of a 500. The thread's reads live in ``inbox.thread``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core import signing
from django.db.models import Case, Count, IntegerField, Q, Value, When

from core.errors import ApplicationError
from inbox.models import Conversation, ConversationState

OPEN, WAITING, RESOLVED = "open", "waiting", "resolved"
STATES = {OPEN: "Open", WAITING: "Waiting on us", RESOLVED: "Resolved"}
ME, UNASSIGNED, ANYONE = "me", "unassigned", "anyone"
ASSIGNEES = {ME: "Assigned to me", UNASSIGNED: "Unassigned", ANYONE: "Anyone"}
DEFAULT_STATE, DEFAULT_ASSIGNEE = OPEN, ANYONE
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# Meta stamps an inbound message with the time the person sent it, and a webhook can arrive some
# seconds after a newer message of someone else: the poll looks back this far behind the newest
# row shown so such a conversation still appears (the page replaces rows it already shows).
LATE_DELIVERY_SLACK = dt.timedelta(minutes=2)

_SALT = "inbox.conversation-list.position"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class ConversationRow:
    id: int
    contact_name: str
    contact_number: str
    preview: str
    last_message_inbound: bool
    unread_count: int
    assignee: str  # the agent's name, "" when unassigned
    assigned_to_me: bool
    waiting: bool  # the person wrote last and no one has answered yet
    state: str
    last_activity_at: dt.datetime
    position: str  # signed: where a page or a poll continues from this row


@dataclass(frozen=True)
class Page:
    state: str
    assignee: str
    rows: list[ConversationRow]
    next_cursor: str | None  # the "older conversations" link; None on the last page
    newest: str | None  # the poll's starting point: the first row's position, None when empty


@dataclass(frozen=True)
class Newer:
    rows: list[ConversationRow]  # newest first, at most ``limit``
    newest: str | None  # where the next poll starts
    more: bool  # more rows arrived than one answer holds: the page should be reloaded


def check_filter(*, state: str, assignee: str) -> None:
    """Refuse a filter value the list does not have, naming it and the values it does have."""
    if state not in STATES:
        raise ApplicationError(
            f"“{state}” is not a conversation filter; choose one of {', '.join(STATES)}.",
            code="unknown_state",
            field="state",
        )
    if assignee not in ASSIGNEES:
        raise ApplicationError(
            f"“{assignee}” is not an assignee filter; choose one of {', '.join(ASSIGNEES)}.",
            code="unknown_assignee",
            field="assignee",
        )


def conversation_page(*, user, state: str, assignee: str, cursor: str | None, limit: int = PAGE_SIZE) -> Page:
    """One page of the filter, newest activity first, continuing after ``cursor`` when given.

    One query whatever the page: the filter's index range read from the cursor on, one row more
    than the page to know whether an older page exists.
    """
    check_filter(state=state, assignee=assignee)
    limit = _checked_limit(limit)
    queryset = _filtered(user=user, state=state, assignee=assignee)
    if cursor:
        at, pk = _decode(cursor, state=state, assignee=assignee, field="cursor")
        # ``last_activity_at <= at`` bounds the index range; the OR only sorts out equal times.
        queryset = queryset.filter(Q(last_activity_at__lte=at), Q(last_activity_at__lt=at) | Q(pk__lt=pk))
    rows = _rows(queryset[: limit + 1], user=user, state=state, assignee=assignee)
    page_rows = rows[:limit]
    return Page(
        state=state,
        assignee=assignee,
        rows=page_rows,
        next_cursor=page_rows[-1].position if len(rows) > limit else None,
        newest=page_rows[0].position if page_rows and not cursor else None,
    )


def conversations_since(
    *, user, state: str, assignee: str, since: str | None, limit: int = PAGE_SIZE
) -> Newer:
    """The filter's rows whose activity is newer than ``since`` (a ``Page.newest`` or an earlier
    ``Newer.newest``), newest first, for the page's poll; without ``since``, the newest rows.

    Looks back ``LATE_DELIVERY_SLACK`` behind ``since``, so a row may come again unchanged: the
    page keeps one row per conversation. A row that changed without new activity (read, assigned,
    resolved) is not sent; it changes on the next load.
    """
    check_filter(state=state, assignee=assignee)
    limit = _checked_limit(limit)
    queryset = _filtered(user=user, state=state, assignee=assignee)
    newest_at = newest_pk = None
    if since:
        newest_at, newest_pk = _decode(since, state=state, assignee=assignee, field="since")
        queryset = queryset.filter(last_activity_at__gt=newest_at - LATE_DELIVERY_SLACK)
    rows = _rows(queryset[: limit + 1], user=user, state=state, assignee=assignee)

    def after_since(row: ConversationRow) -> bool:
        return newest_at is None or (row.last_activity_at, row.id) > (newest_at, newest_pk)

    # Left out only matters when the row left out is itself newer than what the page shows.
    more = len(rows) > limit and after_since(rows[limit])
    rows = rows[:limit]
    return Newer(rows=rows, newest=rows[0].position if rows and after_since(rows[0]) else since, more=more)


def filter_counts(*, user) -> dict[str, dict[str, int]]:
    """Unread conversations for every (state filter, assignee filter) pair:
    ``counts[state][assignee]``, e.g. ``counts["waiting"]["me"]``.

    One grouped query over the conversations with unread messages only, which the partial index
    ``conversation_unread_idx`` (``WHERE unread_count > 0``) holds: agents open conversations and
    bring them back to zero, so its size follows the team's unread backlog, not the years of
    conversations behind it, and the counts cost the same on a table ten or a thousand times larger.
    """
    bucket = Case(
        When(assigned_to__isnull=True, then=Value(0)),
        When(assigned_to=user.pk, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    grouped = (
        Conversation.objects.filter(unread_count__gt=0)
        .annotate(bucket=bucket)
        .values("state", "awaiting_reply", "bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {state: dict.fromkeys(ASSIGNEES, 0) for state in STATES}
    for group in grouped:
        if group["state"] == ConversationState.RESOLVED:
            states = [RESOLVED]
        else:
            states = [OPEN, WAITING] if group["awaiting_reply"] else [OPEN]
        assignees = [ANYONE, *{0: [UNASSIGNED], 1: [ME]}.get(group["bucket"], [])]
        for state in states:
            for who in assignees:
                counts[state][who] += group["n"]
    return counts


def _filtered(*, user, state: str, assignee: str):
    """The filter as conditions each index of ``Conversation.Meta`` can serve in list order."""
    queryset = Conversation.objects.all()
    if state == RESOLVED:
        queryset = queryset.filter(state=ConversationState.RESOLVED)
    else:
        queryset = queryset.filter(state=ConversationState.OPEN)
        if state == WAITING:
            queryset = queryset.filter(awaiting_reply=True)
    if assignee == ME:
        queryset = queryset.filter(assigned_to=user.pk)
    elif assignee == UNASSIGNED:
        queryset = queryset.filter(assigned_to__isnull=True)
    return (
        queryset.select_related("contact", "assigned_to")
        .only(
            "state",
            "awaiting_reply",
            "unread_count",
            "last_activity_at",
            "last_message_preview",
            "last_message_inbound",
            "contact__first_name",
            "contact__last_name",
            "contact__phone",
            "contact__wa_id",
            "contact__user_id",
            "assigned_to__username",
            "assigned_to__first_name",
            "assigned_to__last_name",
        )
        .order_by("-last_activity_at", "-pk")
    )


def _rows(queryset, *, user, state: str, assignee: str) -> list[ConversationRow]:
    rows = []
    for conversation in queryset:
        contact, agent = conversation.contact, conversation.assigned_to
        rows.append(
            ConversationRow(
                id=conversation.pk,
                contact_name=contact.display_name,
                contact_number=contact.phone or contact.wa_id or "",
                preview=conversation.last_message_preview,
                last_message_inbound=conversation.last_message_inbound,
                unread_count=conversation.unread_count,
                assignee=(agent.get_full_name() or agent.get_username()) if agent else "",
                assigned_to_me=agent is not None and agent.pk == user.pk,
                waiting=conversation.awaiting_reply and conversation.state == ConversationState.OPEN,
                state=conversation.state,
                last_activity_at=conversation.last_activity_at,
                position=_encode(conversation, state=state, assignee=assignee),
            )
        )
    return rows


def _checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ApplicationError(
            f"A page holds 1 to {MAX_PAGE_SIZE} conversations, not {limit}.", code="bad_limit", field="limit"
        )
    return limit


def activity_micros(at: dt.datetime) -> int:
    """A last-activity time as whole microseconds since 1970: exact, unlike a float timestamp."""
    return (at - _EPOCH) // _MICROSECOND


def _encode(conversation: Conversation, *, state: str, assignee: str) -> str:
    micros = activity_micros(conversation.last_activity_at)
    return signing.dumps([state, assignee, micros, conversation.pk], salt=_SALT, compress=False)


def _decode(token: str, *, state: str, assignee: str, field: str) -> tuple[dt.datetime, int]:
    """The (last activity, id) a position names; refused when damaged, signed for something else
    (another salt, an older format) or made for another filter."""
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        value = None
    if not (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(part, str) for part in value[:2])
        and all(isinstance(part, int) and not isinstance(part, bool) for part in value[2:])
    ):
        raise ApplicationError(
            "This link to older or newer conversations is damaged or out of date; "
            "the list starts again from the newest.",
            code="bad_cursor",
            field=field,
        )
    if value[:2] != [state, assignee]:
        raise ApplicationError(
            f"This link continues the “{STATES.get(value[0], value[0])} · "
            f"{ASSIGNEES.get(value[1], value[1])}” list, not this one; "
            "the list starts again from the newest.",
            code="cursor_for_another_filter",
            field=field,
        )
    return _EPOCH + value[2] * _MICROSECOND, value[3]
