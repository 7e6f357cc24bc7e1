"""Many rows, each with its own values, written by one statement.

Django's ``bulk_update`` writes a ``CASE WHEN id = … THEN …`` per row and field: composing it
costs more than running it (a thousand rows took about half a second of Python here), and its
text differs with every row count. The dispatcher writes each message's claim, attempt and
answer this way, and the send path each contact's wa_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection


def update_from_values(
    model,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence],
    *,
    assignments: str,
    params: Sequence = (),
    where: str = "",
    where_params: Sequence = (),
    returning: str = "",
) -> set[int] | dict[int, object]:
    """Many rows, each with its own values, in one statement:
    ``UPDATE <model> AS t SET <assignments> FROM <rows> AS v WHERE t.id = v.vid [AND where]``.

    Each row is the id followed by one value per (name, SQL type) in ``columns``; ``v.<name>``
    reads a value. PostgreSQL gets one array per column (``unnest``: the statement's text is the
    same whatever the number of rows, so it is parsed and planned alike every time); SQLite
    (3.33+) a ``VALUES`` list. Returns the ids updated — or, with ``returning`` (a column of the
    table), each updated id's new value of it, so the caller need not read it back.
    """
    if not rows:
        return set()
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(name for name, _ in columns)
    condition = f" AND {where}" if where else ""
    update = (
        f"UPDATE {table} AS t SET {assignments} FROM {{source}} WHERE t.id = v.vid{condition} "
        f"RETURNING id{f', {returning}' if returning else ''}"
    )
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in ("bigint", *(kind for _, kind in columns)))
        sql = update.format(source=f"unnest({arrays}) AS v(vid, {names})")
        values = [[_adapt(row[i]) for row in rows] for i in range(len(columns) + 1)]
    else:
        row_marks = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
        sql = f"WITH v(vid, {names}) AS (VALUES {', '.join([row_marks] * len(rows))}) " + update.format(
            source="v"
        )
        values = [_adapt(value) for row in rows for value in row]
    assigned, compared = [_adapt(v) for v in params], [_adapt(v) for v in where_params]
    # The placeholders' order in the text: the VALUES list leads on SQLite; on PostgreSQL the
    # assignments come before the arrays.
    if connection.vendor == "postgresql":
        arguments = [*assigned, *values, *compared]
    else:
        arguments = [*values, *assigned, *compared]
    with connection.cursor() as cursor:
        cursor.execute(sql, arguments)
        if returning:
            return dict(cursor.fetchall())
        return {row[0] for row in cursor.fetchall()}


def _adapt(value):
    """A datetime as the ORM stores it (SQLite keeps UTC text without an offset), so a raw
    statement's comparisons and writes agree with the ORM's."""
    return connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
