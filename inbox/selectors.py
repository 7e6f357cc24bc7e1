"""Reads for the conversation list (Support's daily page): one page of a filter, the rows that
changed since the page (or its last poll) was read, and the unread counts on the filter tabs.

Every read is one indexed range of ``inbox_conversation`` joined to its contact and assignee, so
its cost follows the page size, not the table: pages continue from a *position* (the last row's
``last_activity_at`` and id, the list's order) instead of an OFFSET that would walk every row
before it, the poll reads the short range of rows changed in the last minutes (``changed_at``), and
nothing counts all conversations. Positions and poll points travel signed (``django.core.signing``
with the project's secret key), so a link cannot be edited to read from a made-up place, and a
damaged one is refused with a message instead of a 500. The thread's reads live in ``inbox.thread``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core import signing
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from core.errors import ApplicationError
from inbox.models import Conversation, ConversationState

OPEN, WAITING, RESOLVED = "open", "waiting", "resolved"
STATES = {OPEN: "Open", WAITING: "Waiting on us", RESOLVED: "Resolved"}
ME, UNASSIGNED, ANYONE = "me", "unassigned", "anyone"
ASSIGNEES = {ME: "Assigned to me", UNASSIGNED: "Unassigned", ANYONE: "Anyone"}
DEFAULT_STATE, DEFAULT_ASSIGNEE = OPEN, ANYONE
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# How far behind the previous poll's time a poll looks for changed rows. A row's ``changed_at`` is
# stamped (``timezone.now()``) when the write happens, and the write becomes visible when its
# transaction commits, which may be after a poll that started later: a webhook batch stores up to a
# hundred messages in one transaction (``messaging.webhooks.processing``), bounded by django-q2's
# task timeout (60 s). Looking back further than any transaction lasts, plus the clocks of the web
# and worker machines disagreeing by a few seconds, a poll sees every change committed since the
# previous one — at the cost of sending rows again that the page already shows as they are (the
# page skips a row whose ``changed_at`` it already has). A database sequence would not do better:
# its numbers are also taken before the commit and become visible out of order.
CHANGE_SLACK = dt.timedelta(minutes=2)
# Rows that left the filter travel as bare ids, so an answer holds many more of them.
GONE_LIMIT = 500

_SALT = "inbox.conversation-list.position"
_POLL_SALT = "inbox.conversation-list.poll"  # another salt: a page cursor is no poll point, nor back
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
    changed_at: dt.datetime  # the row's version: the page redraws a row whose version it has not shown
    position: str  # signed: where the next page continues after this row


@dataclass(frozen=True)
class Page:
    state: str
    assignee: str
    rows: list[ConversationRow]
    next_cursor: str | None  # the "older conversations" link; None on the last page
    since: str  # the poll's starting point: the time the page was read, signed for its filter


@dataclass(frozen=True)
class Changes:
    rows: list[ConversationRow]  # changed and in the filter, last changed first, at most ``limit``
    gone: list[int]  # ids of rows that changed and are not in the filter (any more): the page drops them
    since: str  # where the next poll starts
    more: bool  # more changed than one answer holds: the page should be reloaded


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
    read_at = timezone.now()
    rows = _rows(queryset[: limit + 1], user=user, state=state, assignee=assignee)
    page_rows = rows[:limit]
    return Page(
        state=state,
        assignee=assignee,
        rows=page_rows,
        next_cursor=page_rows[-1].position if len(rows) > limit else None,
        since=_encode_poll(read_at, state=state, assignee=assignee),
    )


def conversations_since(
    *, user, state: str, assignee: str, since: str | None, limit: int = PAGE_SIZE
) -> Changes:
    """What changed since ``since`` (a ``Page.since`` or an earlier ``Changes.since``; without it,
    since now, looking back the slack), for the
    page's poll: the changed rows in the filter (new activity, read, assigned, resolved, reopened,
    merged), last changed first, and the ids of changed rows that are not in it — a conversation
    resolved under "Open", given to a colleague under "Assigned to me" — which the page removes.

    Two indexed reads of the few rows changed lately (``conversation_changed_idx``), whatever the
    table's size. They look back ``CHANGE_SLACK`` behind the previous poll, so no change committed
    late is missed, and a row may come again unchanged. ``more`` says that a row changed after the
    previous poll did not fit in the answer; rows left out that changed in the slack alone were
    sent by an earlier poll, unless they committed late while more than ``limit`` other rows of the
    filter changed in the same minutes.
    """
    check_filter(state=state, assignee=assignee)
    limit = _checked_limit(limit)
    read_at = timezone.now()  # before the reads: a change they do not see commits after it
    previous = _decode_poll(since, state=state, assignee=assignee) if since else read_at
    cutoff = previous - CHANGE_SLACK
    changed = (
        _filtered(user=user, state=state, assignee=assignee)
        .filter(changed_at__gt=cutoff)
        .order_by("-changed_at", "-pk")
    )
    rows = _rows(changed[: limit + 1], user=user, state=state, assignee=assignee)
    gone = list(
        Conversation.objects.filter(changed_at__gt=cutoff)
        .exclude(_in_filter(user=user, state=state, assignee=assignee))
        .order_by("-changed_at", "-pk")
        .values_list("pk", "changed_at")[: GONE_LIMIT + 1]
    )
    more = (len(rows) > limit and rows[limit].changed_at > previous) or (
        len(gone) > GONE_LIMIT and gone[GONE_LIMIT][1] > previous
    )
    return Changes(
        rows=rows[:limit],
        gone=[pk for pk, _at in gone[:GONE_LIMIT]],
        since=_encode_poll(read_at, state=state, assignee=assignee),
        more=more,
    )


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


def _in_filter(*, user, state: str, assignee: str) -> Q:
    """The filter as conditions each index of ``Conversation.Meta`` can serve in list order."""
    condition = Q(state=ConversationState.RESOLVED if state == RESOLVED else ConversationState.OPEN)
    if state == WAITING:
        condition &= Q(awaiting_reply=True)
    if assignee == ME:
        condition &= Q(assigned_to=user.pk)
    elif assignee == UNASSIGNED:
        condition &= Q(assigned_to__isnull=True)
    return condition


def _filtered(*, user, state: str, assignee: str):
    queryset = Conversation.objects.filter(_in_filter(user=user, state=state, assignee=assignee))
    return (
        queryset.select_related("contact", "assigned_to")
        .only(
            "state",
            "awaiting_reply",
            "unread_count",
            "last_activity_at",
            "last_message_preview",
            "last_message_inbound",
            "changed_at",
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
                changed_at=conversation.changed_at,
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
    """A time as whole microseconds since 1970: exact, unlike a float timestamp."""
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
    _check_same_filter(value, state=state, assignee=assignee, field=field)
    return _EPOCH + value[2] * _MICROSECOND, value[3]


def _encode_poll(at: dt.datetime, *, state: str, assignee: str) -> str:
    return signing.dumps([state, assignee, activity_micros(at)], salt=_POLL_SALT, compress=False)


def _decode_poll(token: str, *, state: str, assignee: str) -> dt.datetime:
    """The time a poll point names; refused as ``_decode`` refuses a position, naming ``since``."""
    try:
        value = signing.loads(token, salt=_POLL_SALT)
    except signing.BadSignature:
        value = None
    if not (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(part, str) for part in value[:2])
        and isinstance(value[2], int)
        and not isinstance(value[2], bool)
    ):
        raise ApplicationError(
            "This poll's starting point (since) is damaged or out of date; reload the list.",
            code="bad_cursor",
            field="since",
        )
    _check_same_filter(value, state=state, assignee=assignee, field="since")
    return _EPOCH + value[2] * _MICROSECOND


def _check_same_filter(value: list, *, state: str, assignee: str, field: str) -> None:
    if value[:2] != [state, assignee]:
        raise ApplicationError(
            f"This link continues the “{STATES.get(value[0], value[0])} · "
            f"{ASSIGNEES.get(value[1], value[1])}” list, not this one; "
            "the list starts again from the newest.",
            code="cursor_for_another_filter",
            field=field,
        )
