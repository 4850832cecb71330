"""Group commit: deposits that become ready while one commit runs share the next transaction.

Each deposit's 250 still follows the commit that contains its letter: `commit` returns only once
the transaction holding its work has committed. What is shared is the cost around the work:
one wait for SQLite's write lock (BEGIN IMMEDIATE, which another process may hold), one
fsync, one round trip to PostgreSQL for COMMIT. Under load the batch grows by itself (every
deposit that finished its CPU work during the previous commit joins the next); alone, a
deposit commits at once, as before.

If the shared transaction fails (one deposit's constraint, a locked or full disk), it is rolled
back and every deposit of the batch is tried again in a transaction of its own, so one bad
deposit fails alone and the others still commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Final

from sqlalchemy import Engine

log = logging.getLogger(__name__)

MAX_BATCH: Final = 64  # deposits in one transaction at most (bounds the time it holds the lock)

Work = Callable[[Any], None]  # runs inside the transaction, given its connection


class GroupCommit:
    """Commits work items in batches on `executor`; one batch in flight at a time."""

    def __init__(self, engine: Engine, executor: Executor, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._executor = executor
        self._max_batch = max_batch
        self._waiting: list[tuple[Work, asyncio.Future[None]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed or tried (tests and benchmarks read these)
        self.items = 0

    async def commit(self, work: Work) -> None:
        """Run work(connection) in a transaction; return once that transaction has committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((work, done))
        if not self._flushing:
            self._flushing = True
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    outcomes = await loop.run_in_executor(
                        self._executor, self._commit, [work for work, _ in batch]
                    )
                except Exception as err:  # noqa: BLE001 - e.g. executor shut down: none committed
                    outcomes = [err] * len(batch)
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():  # its caller was cancelled; the deposit is shielded anyway
                        continue
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)
        finally:
            self._flushing = False

    def _commit(self, batch: Sequence[Work]) -> list[Exception | None]:
        """Blocking: the batch in one transaction; after a failure, each in its own."""
        self.batches += 1
        self.items += len(batch)
        try:
            with self._engine.begin() as db:
                for work in batch:
                    work(db)
        except Exception as err:  # noqa: BLE001 - handed to each deposit's caller, as raised
            if len(batch) == 1:
                return [err]
            log.warning(
                "a group of %d deposits failed (%s): committing each alone", len(batch), err
            )
            return [self._alone(work) for work in batch]
        return [None] * len(batch)

    def _alone(self, work: Work) -> Exception | None:
        self.batches += 1
        try:
            with self._engine.begin() as db:
                work(db)
        except Exception as err:  # noqa: BLE001 - handed to this deposit's caller, as raised
            return err
        return None
