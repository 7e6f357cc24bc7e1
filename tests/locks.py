"""Watching PostgreSQL's locks, so a concurrency test orders its workers by what the database
says, never by sleeping."""

from django.db import connection


def someone_waits_on_a_lock() -> bool:
    """Whether a session of this test's database waits on a lock now (a row lock held by another)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] >= 1
