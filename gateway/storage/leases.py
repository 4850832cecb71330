"""Work queues shared by several gateway processes: rows are leased before they are worked on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, or_, select, update


def unclaimed(table: Any, now: datetime) -> Any:
    """No process holds an unexpired lease on the row."""
    return or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)


def claim(
    engine: Engine,
    table: Any,
    due: Any,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    order: Any = None,
    key: str = "id",
) -> list[Row[Any]]:
    """Lease up to limit rows of table for which due holds; return them, whole.

    Each lease is a compare-and-set on claimed_until, so two processes never get the same row;
    a process that dies lets its leases expire and the work is taken up again. Rows come oldest
    first by order (default: next_attempt_at).
    """
    column = table.c[key]
    order = table.c.next_attempt_at if order is None else order
    candidates = select(column).where(due, unclaimed(table, now)).order_by(order).limit(limit)
    claimed = []
    with engine.begin() as db:
        for row_key in db.execute(candidates).scalars().all():
            won = db.execute(
                update(table)
                .where(column == row_key, unclaimed(table, now))
                .values(claimed_until=now + lease)
            ).rowcount
            if won:
                claimed.append(row_key)
        if not claimed:
            return []
        return list(db.execute(select(table).where(column.in_(claimed))).all())
