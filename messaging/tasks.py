"""django-q2 tasks for messaging: thin, repeatable, called by dotted path."""

from messaging.sending.batch import dispatch as _dispatch
from messaging.sending.sweeper import sweep

SWEEP_SCHEDULE_NAME = "messaging: sweep the send queue"
SWEEP_EVERY_MINUTES = 1


def dispatch(slot: int = 0) -> str:
    """The batch dispatcher: send what is due, batch after batch, then sleep until woken."""
    return _dispatch(slot)


def sweep_sending() -> str:
    """Scheduled every minute: campaigns that are due start (their messages written), then the
    send queue's sweep — expired claims, due holds and retries, a dispatcher for what is due,
    unknown outcomes past their deadline."""
    return f"{start_due_campaigns()}; {sweep().summary()}"


def start_due_campaigns() -> str:
    """Start every due campaign and write its messages (``campaign_start_and_materialise``); an
    overdue one is started too, so every member is skipped "too late", and completes. A campaign
    another worker started meanwhile is left to it."""
    from core.errors import ApplicationError
    from messaging.campaigns.materialise import campaign_start_and_materialise
    from messaging.campaigns.workflow import campaigns_due, campaigns_overdue

    done = []
    for campaign in [*campaigns_overdue(), *campaigns_due()]:
        try:
            result = campaign_start_and_materialise(campaign)
        except ApplicationError:
            continue
        done.append(f"{campaign.pk}: {result.queued} queued, {sum(result.skipped.values())} skipped")
    return f"{len(done)} campaign{'' if len(done) == 1 else 's'} started" + (
        f" ({'; '.join(done)})" if done else ""
    )
