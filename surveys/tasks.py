"""django-q2 tasks for surveys: thin, repeatable, called by dotted path."""

from surveys.stuck import runs_abandon_stuck

SWEEP_SCHEDULE_NAME = "surveys: end stuck runs"


def sweep_stuck_runs() -> str:
    """Scheduled hourly: end the runs that can no longer move on (``surveys.stuck``), so none
    blocks the person's next survey."""
    ended = runs_abandon_stuck()
    total = sum(ended.values())
    return f"{total} stuck survey run{'' if total == 1 else 's'} abandoned" + (
        f" ({', '.join(f'{code}: {count}' for code, count in ended.items())})" if ended else ""
    )
