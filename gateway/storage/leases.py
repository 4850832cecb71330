"""Leases of the work queues (queue.py), shared by several processes: a row is leased first.

A lease is `claimed_until` (the time after which anyone may take the row again) and
`claimed_by`, the instance id of the process holding it (see storage/instances.py). The id is
an execution option of the engine (`with_lease_owner`), so every store sharing the engine
claims in its name. A process that is provably dead (its instance lock is free) has its leases
released at once with `release_leases`; otherwise they simply expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, bindparam, or_, select, update

from gateway.storage import tables as t
from gateway.storage.database import reading

OWNER_OPTION = "lre_lease_owner"
# the tables that are leased (test_leases.py checks every table with a lease is here)
QUEUES = (t.seal_queue, t.outbound, t.sms_outbound, t.proof_pdfs, t.webhook_deliveries)


# PostgreSQL, in a claim's transaction: its index read as a plain index scan, never a bitmap.
# A queue's index keeps an entry for every old version of a row that left the queue (an
# evidence sealed, a mail sent) until a vacuum; a plain index scan marks those it finds dead,
# and later scans skip them, but a bitmap scan never does, and the planner, which counts live
# rows only, chose one for the seal queue when it was the evidence table: each claim read every
# evidence page sealed since the last vacuum (1,154 pages, 0.6-4.6 ms a claim after 1,500
# letters; 13 pages, 0.02 ms, once one plain scan had marked them; on a large table autovacuum
# comes after 20 % of it changed). The seal queue is now a small table of its own (seal_queue).
PLAIN_INDEX_SCANS = "SET LOCAL enable_bitmapscan = off"


def with_lease_owner(engine: Engine, owner: str) -> Engine:
    """The same engine (same pool) whose claims name `owner` as the lease holder."""
    return engine.execution_options(**{OWNER_OPTION: owner})


def lease_owner(engine: Engine) -> str | None:
    owner = engine.get_execution_options().get(OWNER_OPTION)
    return None if owner is None else str(owner)


def leased_at_birth(engine: Engine, until: datetime) -> dict[str, Any]:
    """The lease columns of a row inserted already leased, until `until`, to the process of
    `engine` (it does the row's work itself right after its commit: nothing to claim)."""
    return {"claimed_until": until, "claimed_by": lease_owner(engine)}


def unclaimed(table: Any, now: Any) -> Any:
    """No process holds an unexpired lease on the row (`now`: a time or a bind parameter)."""
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
    a process that dies lets its leases expire (or be released, see `release_leases`) and the
    work is taken up again. Rows come oldest first by order (default: next_attempt_at).
    """
    order = table.c.next_attempt_at if order is None else order
    return Claiming.of(table, due, order=order, key=key, limit=limit).run(engine, now, lease)


@dataclass(frozen=True)
class Claiming:
    """The two statements of `claim` for one table and one `due` clause, made once and run as
    often as needed (building them and their cache keys costs more than running them). `due`
    may compare with the bind parameter "claim_now": it is given the claim's time."""

    candidates: Any
    lease: Any
    key: Any

    @classmethod
    def of(cls, table: Any, due: Any, *, order: Any, key: str, limit: int) -> Claiming:
        column = table.c[key]
        now: Any = bindparam("claim_now")
        candidates = select(column).where(due, unclaimed(table, now)).order_by(order).limit(limit)
        # one compare-and-set for them all: a row another process leased, or leased and
        # finished, since the SELECT is skipped (due is checked again, not only the lease)
        leased = (
            update(table)
            .where(column.in_(bindparam("claim_keys", expanding=True)), due, unclaimed(table, now))
            .values(claimed_until=bindparam("claim_until"), claimed_by=bindparam("claim_owner"))
            .returning(*table.c)
        )
        return cls(candidates, leased, column)

    def run(
        self,
        engine: Engine,
        now: datetime,
        lease: timedelta,
        params: dict[str, object] | None = None,
    ) -> list[Row[Any]]:
        """On SQLite the candidates are read before the write transaction, which only leases
        them: a claim that finds nothing (the archive jobs' after every round of certificates,
        the last of each round: ~13 % of the claims under bench.locks) takes no write lock,
        and one that finds some holds it for the UPDATE alone. The lease is a compare-and-set
        that checks `due` and the lease again, so a row changed in between is not taken. On
        PostgreSQL, which has no such lock, one transaction does both (its plain index
        scans). `params`: the values of the `due` clause's other bind parameters."""
        sqlite = engine.dialect.name == "sqlite"
        given = {"claim_now": now, **(params or {})}
        if sqlite:
            with reading(engine) as db:
                keys = db.execute(self.candidates, given).scalars().all()
            if not keys:
                return []
        with engine.begin() as db:
            if not sqlite:
                db.exec_driver_sql(PLAIN_INDEX_SCANS)
                keys = db.execute(self.candidates, given).scalars().all()
                if not keys:
                    return []
            won = db.execute(
                self.lease,
                {
                    **given,
                    "claim_keys": list(keys),
                    "claim_until": now + lease,
                    "claim_owner": lease_owner(engine),
                },
            ).all()
        position = {row_key: index for index, row_key in enumerate(keys)}
        return sorted(won, key=lambda row: position[row._mapping[self.key]])


def release_leases(engine: Engine, owner: str) -> int:
    """Release every lease `owner` holds (it is dead); the number of rows released."""
    released = 0
    with engine.begin() as db:
        for table in QUEUES:
            released += db.execute(
                update(table)
                .where(table.c.claimed_by == owner, table.c.claimed_until.is_not(None))
                .values(claimed_until=None, claimed_by=None)
            ).rowcount
    return released
