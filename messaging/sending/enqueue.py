"""Hand messages to the task queue after the transaction that queued them commits.

A task that runs before the commit would not find its message; a task enqueued for a transaction
that rolls back would find nothing to do. Enqueuing twice is harmless: the task claims its
message with a conditional UPDATE and returns quietly when it is not (or no longer) due.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

SEND_TASK = "messaging.tasks.send_queued"


def _enqueue_now(message_ids: list[int]) -> None:
    from django_q.tasks import async_task

    for message_id in message_ids:
        async_task(SEND_TASK, message_id, task_name=f"send message {message_id}", group="send")


def enqueue_messages(message_ids: Iterable[int]) -> None:
    """Enqueue one send task per message once the current transaction commits (at once outside one)."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: _enqueue_now(ids))
