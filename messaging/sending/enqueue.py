"""Wake the batch dispatcher when messages become due: no django-q2 task per message.

Whoever queues or releases messages calls :func:`dispatch_after_commit`; after the transaction
commits (a dispatcher woken before the commit would not see the rows; one woken for a rollback
finds nothing), :func:`wake_dispatcher` queues a dispatcher task unless one is awake — a flag
added atomically in the shared cache, as the webhook processor is woken. The dispatcher
(``messaging.tasks.dispatch``) sends batches until nothing is due, then drops its flag and looks
once more, so a message queued in between is never stranded. A backlog (a full batch) wakes a
second dispatcher, up to ``WHATSAPP_DISPATCHERS``. Should a worker die, the flag expires and the
per-minute sweep wakes a dispatcher for whatever is due. Waking twice is harmless: dispatchers
claim with ``SKIP LOCKED``.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction

DISPATCH_TASK = "messaging.tasks.dispatch"
AWAKE_SECONDS = 30  # a dispatcher's flag outlives its silence by this much, then expires


def awake_key(slot: int) -> str:
    return f"messaging:dispatcher-awake:{slot}"


def wake_dispatcher(slot: int = 0) -> bool:
    """Queue a dispatcher for ``slot`` unless one is awake there; True when one was queued."""
    from django_q.tasks import async_task

    key = awake_key(slot)
    if cache.get(key) or not cache.add(key, True, AWAKE_SECONDS):
        return False
    # No result saved: pruning saved results after every task was most of the result process's work.
    async_task(DISPATCH_TASK, slot, task_name=f"dispatch {slot}", group="send", save=False)
    return True


def dispatch_after_commit() -> None:
    """Wake the dispatcher once the current transaction commits (at once outside one)."""
    transaction.on_commit(wake_dispatcher)


START_CAMPAIGNS_TASK = "messaging.tasks.start_due_campaigns"


def start_campaigns_after_commit() -> None:
    """Start the campaigns that are due once the current transaction commits (an approval of a
    campaign that sends now); the minute's sweep starts the others when their time comes."""

    def start() -> None:
        from django_q.tasks import async_task

        async_task(START_CAMPAIGNS_TASK, task_name="start due campaigns", group="campaigns", save=False)

    transaction.on_commit(start)
