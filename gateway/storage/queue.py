"""One work queue over one table: claim with a lease, finish, retry with backoff, give up.

Every queue of the gateway (seals, mails, PDFs, SMS, webhooks) is a `Queue`; the rows they
share are `claimed_until`, `claimed_by`, `attempts`, `last_error` and a due column (mostly
`next_attempt_at`). The lease itself is storage/leases.py (`claim`, `release_leases`). The
`*_row` methods work in the caller's transaction, so a job's end commits with what goes with it
(a seal with its mails, a mail with its delivery's evidence); the others open their own.

A queue may keep an order within groups of rows (`in_order`, the webhook posts of one letter
to one endpoint): then only the head of a group, its first waiting row by `seq`, can be
claimed, so a row leased, deferred or failing for now holds back the later rows of its group
and no other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.util import ClauseAdapter

from gateway.storage.leases import Claiming, lease_owner, unclaimed
from gateway.storage.times import utc

MAX_ERROR = 2000  # characters of a try's error kept on its row
# waiting rows, earliest due first, read to tell when a queue's next row can be claimed
# (`next_due`, every scheduler round): a bound on that read however long a backlog grows. Exact
# unless more rows than this are in the processes' hands at once (a node holds ~100 at most:
# claims of 50, the proof mails it hands over itself), and then early, never late
NEXT_DUE_HEAD = 1000


@dataclass(frozen=True)
class Queue:
    """A leased queue: `table`, its key column, what a waiting row is, its due column."""

    table: Any
    waiting: Any = None  # a where clause: the row still has work to do (default: every row)
    key: str = "id"
    due: str = "next_attempt_at"
    in_order: tuple[str, ...] = ()  # columns of a group whose rows go one at a time, by seq
    seq: str = "seq"
    # given a bind parameter, the clause of a row `claim` leaves for now when one of its
    # `unless` values is bound to it (the mails to a destination that has enough in hand)
    skip: Callable[[Any], Any] | None = None
    # rows due, oldest first, that such a claim reads at most: skipping a backlog costs each
    # claim a scan of it (~1 ms a thousand rows), bounded so; a backlog longer than this holds
    # back the rows behind it until it shrinks (as every row did behind a `limit` of them)
    skip_window: int = 10_000
    # `finish_row`'s UPDATE for each shape of call, made once: building a statement and its
    # cache key costs ~110 µs, executing it ~25 (SQLite, bench: a commit holds several)
    _finishers: dict[tuple[object, ...], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _claims: dict[int, Claiming] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # `claim`'s statements by limit, made once
    _next_dues: dict[int, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # `next_due_query`'s by head

    def _waiting(self) -> Any:
        return true() if self.waiting is None else self.waiting

    def _heads(self) -> Any:
        """The row is the first waiting row of its group (order: seq, then key)."""
        if not self.in_order:
            return true()
        table = self.table
        earlier = table.alias("earlier")
        seq, key = self.seq, self.key
        before = or_(
            earlier.c[seq] < table.c[seq],
            and_(earlier.c[seq] == table.c[seq], earlier.c[key] < table.c[key]),
        )
        same_group = [earlier.c[name] == table.c[name] for name in self.in_order]
        waiting = ClauseAdapter(earlier).traverse(self._waiting())
        return ~exists().where(*same_group, before, waiting)

    def claim(
        self,
        engine: Engine,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        unless: Sequence[object] = (),
    ) -> list[Row[Any]]:
        """Lease up to limit waiting rows whose due time has come, oldest due first (of an
        ordered queue, only heads of their group), but none that `skip` finds for one of the
        values `unless`."""
        column = self.table.c[self.due]
        if unless:  # the rare case (a crowded destination): made for this claim only
            if self.skip is None:
                raise TypeError(f"{self.table.name} rows cannot be skipped")
            names = [f"claim_unless_{n}" for n in range(len(unless))]
            skipped = ~or_(*(self.skip(bindparam(name)) for name in names))
            claiming = Claiming.of(
                self.table, self._due() & skipped, order=column, key=self.key, limit=limit
            )
            # the candidates among the oldest `skip_window` rows due only
            head = (
                select(self.table)
                .where(self._due(), unclaimed(self.table, bindparam("claim_now")))
                .order_by(column)
                .limit(self.skip_window)
                .subquery("head")
            )
            candidates = (
                select(head.c[self.key])
                .where(ClauseAdapter(head).traverse(skipped))
                .order_by(head.c[self.due])
                .limit(limit)
            )
            windowed = replace(claiming, candidates=candidates)
            return windowed.run(engine, now, lease, dict(zip(names, unless, strict=True)))
        cached = self._claims.get(limit)
        if cached is None:
            cached = Claiming.of(self.table, self._due(), order=column, key=self.key, limit=limit)
            self._claims[limit] = cached
        return cached.run(engine, now, lease)

    def _due(self) -> Any:
        """A row `claim` may lease at the time bound to "claim_now"."""
        return self._waiting() & self._heads() & (self.table.c[self.due] <= bindparam("claim_now"))

    def finish_row(
        self, db: Any, row_key: str, *, where: Any = None, counted: bool = False, **values: Any
    ) -> bool:
        """The job is done: free the lease, clear the error, set values. `where` makes it a
        compare-and-set (False when another process finished it first); `counted` adds the
        try to `attempts`."""
        if where is not None and where is not self.waiting:  # a condition of the caller's own
            query = self._finisher(where, counted, values)
            return bool(db.execute(query, {"finished_key": row_key}).rowcount)
        shape = (where is not None, counted, tuple(values))
        query = self._finishers.get(shape)
        if query is None:
            names: dict[str, Any] = {name: bindparam(f"new_{name}") for name in values}
            query = self._finishers[shape] = self._finisher(where, counted, names)
        params = {f"new_{name}": value for name, value in values.items()}
        return bool(db.execute(query, {"finished_key": row_key, **params}).rowcount)

    def finish_rows(
        self, db: Any, row_keys: Sequence[str], *, counted: bool = False, **values: Any
    ) -> None:
        """`finish_row` (no condition) of several jobs with the same values: one statement."""
        if not row_keys:
            return
        shape = ("rows", counted, tuple(values))
        query = self._finishers.get(shape)
        if query is None:
            names: dict[str, Any] = {name: bindparam(f"new_{name}") for name in values}
            every = self._finisher(None, counted, names, one=False)
            key = self.table.c[self.key]
            query = self._finishers[shape] = every.where(
                key.in_(bindparam("finished_keys", expanding=True))
            )
        params = {f"new_{name}": value for name, value in values.items()}
        db.execute(query, {"finished_keys": list(row_keys), **params})

    def finish_each(
        self,
        db: Any,
        rows: Sequence[tuple[str, dict[str, Any]]],
        *,
        where: Any = None,
        **values: Any,
    ) -> list[bool]:
        """`finish_row` of several jobs, each with values of its own (`rows`: a key and its
        values, the same names for every row) and `values` shared by all, as one statement:
        an UPDATE that picks each row's values by its key (CASE) and returns the keys it
        changed. True at the index of each row changed; with `where` (the queue's `waiting`
        or None), a compare-and-set as `finish_row`'s: False where another process finished
        the job first. On PostgreSQL a statement is a round trip to the server: the seals
        and certificates stored together cost one instead of one each."""
        if len(rows) < 2 or len({key for key, _ in rows}) < len(rows):  # a job named twice:
            # its second finish must see its first, as one after the other
            return [self.finish_row(db, key, where=where, **own, **values) for key, own in rows]
        if where is not None and where is not self.waiting:
            raise ValueError("finish_each compares with the queue's own `waiting` only")
        names = tuple(rows[0][1])
        if any(tuple(own) != names for _, own in rows):
            raise ValueError("finish_each: every row sets the same columns")
        shape = ("each", where is not None, names, tuple(values), len(rows))
        query = self._finishers.get(shape)
        if query is None:
            query = self._finishers[shape] = self._each(where, names, tuple(values), len(rows))
        params: dict[str, Any] = {f"new_{name}": value for name, value in values.items()}
        for i, (key, own) in enumerate(rows):
            params[f"key_{i}"] = key
            params.update({f"{name}_{i}": own[name] for name in names})
        changed = set(db.execute(query, params).scalars())
        return [key in changed for key, _ in rows]

    def _each(self, where: Any, names: tuple[str, ...], shared: tuple[str, ...], count: int) -> Any:
        """The UPDATE of `finish_each` for `count` rows."""
        table, key = self.table, self.table.c[self.key]
        keys = [bindparam(f"key_{i}", type_=key.type) for i in range(count)]
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in shared}
        for name in names:
            values[name] = picked_by_key(key, keys, name, table.c[name])
        query = self._finisher(where, False, values, one=False).where(key.in_(keys))
        return query.returning(key)

    def _finisher(
        self, where: Any, counted: bool, values: dict[str, Any], *, one: bool = True
    ) -> Any:
        table = self.table
        query = update(table)
        if one:
            query = query.where(table.c[self.key] == bindparam("finished_key"))
        if where is not None:
            query = query.where(where)
        changes: dict[str, Any] = {"claimed_until": None, "last_error": None}
        if counted:
            changes["attempts"] = table.c.attempts + 1
        changes.update(values)
        return query.values(**changes)

    def give_up_row(
        self, db: Any, row_key: str, error: str | None, *, max_error: int = MAX_ERROR, **values: Any
    ) -> None:
        """The job failed for good: state "failed", the try counted, its error kept."""
        changes: dict[str, Any] = {"state": "failed", **values}
        changes["last_error"] = None if error is None else error[:max_error]
        self.finish_row(db, row_key, counted=True, **changes)

    def retry_row(
        self,
        db: Any,
        row_key: str,
        error: str,
        *,
        retry_at: datetime,
        due: str | None = None,
        max_error: int = MAX_ERROR,
    ) -> None:
        """A try failed for now: count it, keep its error, free the lease, come back at
        retry_at (the backoff is the caller's: gateway.core.backoff)."""
        table = self.table
        db.execute(
            update(table)
            .where(table.c[self.key] == row_key)
            .values(
                {
                    table.c.attempts: table.c.attempts + 1,
                    table.c.last_error: error[:max_error],
                    table.c[due or self.due]: retry_at,
                    table.c.claimed_until: None,
                }
            )
        )

    def renew(self, engine: Engine, row_keys: Sequence[str], until: datetime) -> set[str]:
        """Lease again until `until` the waiting rows among `row_keys` that the process of
        `engine` holds (its work on them is taking long); the keys of those renewed."""
        if not row_keys:
            return set()
        table = self.table
        key = table.c[self.key]
        with engine.begin() as db:
            renewed = db.execute(
                update(table)
                .where(
                    key.in_(list(row_keys)),
                    self._waiting(),
                    table.c.claimed_by == lease_owner(engine),
                )
                .values(claimed_until=until)
                .returning(key)
            ).scalars()
            return set(renewed)

    def retry(self, engine: Engine, row_key: str, error: str, *, retry_at: datetime) -> None:
        with engine.begin() as db:
            self.retry_row(db, row_key, error, retry_at=retry_at)

    def next_due(self, db: Any) -> datetime | None:
        """The earliest time at which a waiting row can be claimed (for the scheduler's sleep
        and its skips), or None: its due time, or its lease's end when that is later (a row in
        some process's hands is not work for anyone else until then)."""
        found = db.execute(self.next_due_query()).scalar()
        return None if found is None else utc(found)

    def next_due_query(self, *, head: int = NEXT_DUE_HEAD) -> Select[Any]:
        """`next_due`'s SELECT (one column, one row), to be read alone or with others.

        It reads the `head` waiting rows due first, through the due column's index, not every
        waiting row: with 100,000 seals waiting (a timestamping outage, say) the round's read
        of every queue (`due_times`) took 8.0 ms on SQLite and 6.4 on PostgreSQL, now 0.3 and
        0.6. Exact when the head holds every waiting row; otherwise the earlier of the head's
        earliest time and its last row's due time — never later than the exact answer (each
        row further on can be claimed from its due time at the earliest), so a round may look
        for work a little early, never late."""
        query = self._next_dues.get(head)
        if query is None:
            column = self.table.c[self.due]
            lease_end = self.table.c.claimed_until
            claimable = case((lease_end > column, lease_end), else_=column)
            where = self._waiting() & self._heads()
            rows = (
                select(claimable.label("claimable"), column.label("due"))
                .where(where)
                .order_by(column)
                .limit(head)
                .subquery("head")
            )
            earliest, last = func.min(rows.c.claimable), func.max(rows.c.due)
            query = select(
                case((func.count() < head, earliest), (earliest <= last, earliest), else_=last)
            ).select_from(rows)
            self._next_dues[head] = query
        return query


def picked_by_key(key: Any, keys: Sequence[Any], name: str, column: Any) -> Any:
    """`column`'s new value in an UPDATE of several rows: the bind parameter `{name}_{i}` of
    the row whose `key` is `keys[i]` (a CASE), the value it has for any other row."""
    picks = ((key == k, bindparam(f"{name}_{i}", type_=column.type)) for i, k in enumerate(keys))
    return case(*picks, else_=column)
