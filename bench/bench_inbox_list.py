"""The support inbox's conversation list with 100,000 conversations and 2,000,000 messages against
the same pages with 1,000 conversations (and 20,000 messages), on PostgreSQL.

The goal: a page at the large size takes at most 1.5 times the small one, and the queries per page
are the same at both sizes (keyset pages, no OFFSET, no COUNT(*) over the table; the unread counts
read the partial index of unread conversations). Each page goes through the real admin view
(Django's test client, no network), logged in as a Support agent: the default list (open, anyone),
waiting on us, assigned to me, resolved (most of the table) and its tenth page (a cursor), and the
poll endpoint the page asks every five seconds.

Each size has a database of its own (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/whatsapp_bench_inbox``, with ``_1000`` or ``_100000``
appended), created, migrated and filled with ``INSERT … SELECT generate_series`` if missing and
kept for the next run. The two sizes run as alternating child processes (small, large, small,
large) so drift on a busy machine hits both alike; the medians of all their samples are compared.

The world at N conversations: one contact each; the newest 10 % open (half of those waiting on us,
a quarter with unread messages), the rest resolved; a third assigned to the agent who looks, a
third to a colleague, a third unassigned; two conversations share each minute (ties by id); 20
inbound messages each, an hour apart; twenty conversations changed just now, for the poll
(``_recent_changes``).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_child import ensure_database, run_child

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 100_000)
MESSAGES_PER_CONVERSATION = 20
ROUNDS = 2
VIEWS = 15
GOAL = 1.5
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/whatsapp_bench_inbox"
PAGES = {
    "open · anyone (the default)": {},
    "waiting on us · anyone": {"state": "waiting"},
    "open · assigned to me": {"assignee": "me"},
    "resolved · anyone": {"state": "resolved"},
    "resolved · anyone, 10th page": {"state": "resolved", "page": 10},
    "poll (open · anyone)": {"poll": True},
}


def main() -> dict:
    samples: dict[int, dict[str, list[float]]] = {size: {name: [] for name in PAGES} for size in SIZES}
    children: dict[int, dict] = {}
    for _ in range(ROUNDS):
        for size in SIZES:
            child = _run(size)
            if "error" in child:
                return {"size": size, **child}
            for name, values in child.pop("samples").items():
                samples[size][name] += values
            children[size] = child
    small, large = SIZES
    results: dict = {
        "conversations / messages": " vs ".join(
            f"{children[size]['conversations']:,} / {children[size]['messages']:,}" for size in SIZES
        ),
    }
    worst = 0.0
    for name in PAGES:
        at_small = statistics.median(samples[small][name])
        at_large = statistics.median(samples[large][name])
        ratio = at_large / at_small
        worst = max(worst, ratio)
        queries = f"{children[small]['queries'][name]} / {children[large]['queries'][name]} queries"
        results[name] = f"{at_small:.1f} ms → {at_large:.1f} ms ({ratio:.2f}×, {queries})"
    results["unread counts query alone (median ms)"] = " → ".join(
        str(children[size]["counts_ms"]) for size in SIZES
    )
    results["plans at the large size"] = children[large]["plans"]
    results[f"worst page ratio (goal ≤ {GOAL}×)"] = f"{worst:.2f}× {'✓' if worst <= GOAL else '✗'}"
    results["queries per page independent of size"] = all(
        children[small]["queries"][name] == children[large]["queries"][name] for name in PAGES
    )
    return results


def _run(size: int) -> dict:
    """One child process at ``size`` conversations, against that size's own database."""
    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    saved = dict(os.environ)
    os.environ.update({"BENCH_DATABASE_URL": f"{base}_{size}", "BENCH_INBOX_CONVERSATIONS": str(size)})
    try:
        return run_child(__file__, DEFAULT_URL, timeout=3600)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _build(cursor, size: int, agent_id: int, colleague_id: int) -> None:
    open_until = size // 10
    cursor.execute(
        """
        INSERT INTO contacts_contact (phone, first_name, last_name, language, country, time_zone,
            attributes, whatsapp_profile_name, created_at, updated_at)
        SELECT '+49152' || lpad(g::text, 8, '0'), 'First' || g, 'Last' || g, 'de', 'DE', '',
            '{}'::jsonb, '', now(), now()
        FROM generate_series(1, %s) AS g
        """,
        [size],
    )
    cursor.execute(
        """
        INSERT INTO inbox_conversation (contact_id, state, assigned_to_id, awaiting_reply, unread_count,
            last_activity_at, last_inbound_at, last_message_preview, last_message_inbound, resolved_at,
            created_at, changed_at)
        SELECT c.id,
            CASE WHEN g <= %(open)s THEN 'open' ELSE 'resolved' END,
            CASE g %% 3 WHEN 0 THEN %(agent)s WHEN 1 THEN %(colleague)s END,
            g <= %(open)s AND g %% 2 = 0,
            CASE WHEN g <= %(open)s AND g %% 4 = 0 THEN 1 + g %% 3 ELSE 0 END,
            now() - (g / 2) * interval '1 minute',
            now() - (g / 2) * interval '1 minute',
            'The latest message of conversation ' || g,
            g %% 2 = 0,
            CASE WHEN g > %(open)s THEN now() - (g / 2) * interval '1 minute' END,
            now() - interval '30 days',
            now() - (g / 2) * interval '1 minute'
        FROM generate_series(1, %(size)s) AS g
        JOIN contacts_contact c ON c.phone = '+49152' || lpad(g::text, 8, '0')
        """,
        {"open": open_until, "agent": agent_id, "colleague": colleague_id, "size": size},
    )
    cursor.execute(
        """
        INSERT INTO messaging_inboundmessage (wamid, contact_id, type, text, payload, context_wamid,
            sent_at, received_at)
        SELECT 'wamid.bench.' || conv.id || '.' || k, conv.contact_id, 'text',
            'Message ' || k || ' of conversation ' || conv.id, '{}'::jsonb, '',
            conv.last_activity_at - (k - 1) * interval '1 hour',
            conv.last_activity_at - (k - 1) * interval '1 hour'
        FROM inbox_conversation conv CROSS JOIN generate_series(1, %s) AS k
        """,
        [MESSAGES_PER_CONVERSATION],
    )


def _recent_changes(cursor) -> None:
    """What the poll finds at both sizes: the ten newest open and ten newest resolved conversations
    changed just now (in the "open" filter and gone from it), every other row changed an hour ago or
    earlier. Worlds are kept between runs (and the column's migration stamped every row with its
    own time), so the world is made current on each run; later runs rewrite only these few rows."""
    cursor.execute(
        "UPDATE inbox_conversation SET changed_at = now() - interval '1 hour' "
        "WHERE changed_at > now() - interval '1 hour'"
    )
    cursor.execute(
        """
        UPDATE inbox_conversation SET changed_at = now() WHERE id IN (
            (SELECT id FROM inbox_conversation WHERE state = 'open' ORDER BY last_activity_at DESC, id DESC
             LIMIT 10)
            UNION ALL
            (SELECT id FROM inbox_conversation WHERE state = 'resolved'
             ORDER BY last_activity_at DESC, id DESC LIMIT 10))
        """
    )


def _child() -> dict:
    size = int(os.environ["BENCH_INBOX_CONVERSATIONS"])
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from inbox import selectors
    from inbox.models import Conversation
    from messaging.models import InboundMessage

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    User = get_user_model()
    agent, _ = User.objects.get_or_create(username="bench_support", defaults={"is_staff": True})
    agent.groups.add(Group.objects.get(name="Support"))
    if not agent.has_perm("inbox.view_conversation"):  # until the inbox's roles migration grants it
        agent.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    agent = User.objects.get(pk=agent.pk)
    colleague, _ = User.objects.get_or_create(username="bench_colleague", defaults={"is_staff": True})
    if not Conversation.objects.exists():
        with connection.cursor() as cursor:
            _build(cursor, size, agent.pk, colleague.pk)
    with connection.cursor() as cursor:
        _recent_changes(cursor)
        cursor.execute("VACUUM ANALYZE inbox_conversation")
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE messaging_inboundmessage")

    client = Client(HTTP_HOST="localhost")
    client.force_login(agent)
    list_url, poll_url = (
        reverse("admin:inbox_conversation_changelist"),
        reverse("admin:inbox_conversation_poll"),
    )
    urls = {}
    for name, spec in PAGES.items():
        state, assignee = spec.get("state", "open"), spec.get("assignee", "anyone")
        query = {"state": state, "assignee": assignee}
        if spec.get("poll"):
            first = selectors.conversation_page(user=agent, state=state, assignee=assignee, cursor=None)
            urls[name] = (poll_url, {**query, "since": first.since})
            continue
        cursor = None
        for _ in range(spec.get("page", 1) - 1):
            cursor = selectors.conversation_page(
                user=agent, state=state, assignee=assignee, cursor=cursor
            ).next_cursor
        urls[name] = (list_url, {**query, **({"cursor": cursor} if cursor else {})})

    queries, plans = {}, {}
    for name, (url, params) in urls.items():
        client.get(url, params)  # warm up
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, params).status_code == 200
        queries[name] = len(captured.captured_queries)
        page_sql = next(
            q["sql"]
            for q in captured.captured_queries
            if "inbox_conversation" in q["sql"] and "ORDER BY" in q["sql"]
        )
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + page_sql)
            lines = [line for (line,) in cursor.fetchall() if " on inbox_conversation" in line]
        # How the page reads the conversations, e.g. "Index Scan using conversation_state_idx".
        plans[name] = re.sub(r"\s*\(cost=.*", "", lines[0]).strip(" ->")

    samples = {name: [] for name in PAGES}
    for _ in range(VIEWS):  # interleaved, so drift hits every page alike
        for name, (url, params) in urls.items():
            started = time.perf_counter()
            response = client.get(url, params)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200

    count_samples = []
    for _ in range(VIEWS):
        started = time.perf_counter()
        selectors.filter_counts(user=agent)
        count_samples.append((time.perf_counter() - started) * 1000)
    return {
        "conversations": Conversation.objects.count(),
        "messages": InboundMessage.objects.count(),
        "samples": samples,
        "queries": queries,
        "plans": plans,
        "counts_ms": round(statistics.median(count_samples), 2),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(_child()))
    else:
        print(main())
