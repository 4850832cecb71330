"""Group commit: the items that arrive while a commit runs share the next one.

One transaction (one fsync on SQLite, one commit round trip on PostgreSQL) then holds every item
that came in meanwhile, as Postfix's queue and PostgreSQL's WAL do: the deposits whose sessions
finished DATA (services/deposit.py), the mails handed over and the PDF certificates made (the
scheduler). A lone item waits for nothing: it is committed at once (unless the group commit
lingers: a certificate made waits 50 ms for others being made, gateway/pdf/jobs.py). Each
caller learns its own result only after the commit that holds its item has returned, so a 250
still follows the commit of its letter, and a mail's outcome is recorded by the commit right
after its hand-over or the one after (README: "Crash consistency").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# a bound on one transaction's size (20 sessions at a time in the benchmark fill ~10 per commit)
MAX_GROUP: Final = 100


class GroupCommit(Generic[T, R]):
    """`submit(item)` returns the item's result from `commit(group)` (one result per item, in
    order); when `commit` raises, every item of that group gets the error. One group in flight
    at a time; the items that arrived meanwhile (at most `max_group`) make the next. An item
    whose caller is cancelled while it waits is committed all the same (its work is done).
    Made and used in one event loop.

    `linger`: seconds a group waits for more items before its commit (`wait` sleeps them),
    unless it is full: for items whose callers are not in a hurry, fewer and larger commits;
    a callable is asked as each group forms (a certificate made lingers only while others are
    being made: the last one of a burst is committed at once)."""

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_group: int = MAX_GROUP,
        linger: float | Callable[[], float] = 0.0,
        wait: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._commit = commit
        self._max_group = max_group
        self._linger = linger
        self._wait = wait
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Return `item`'s result once a commit holding it has returned; raise what failed it."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        """Commit group after group until nothing waits (a task of its own: a caller that is
        cancelled never leaves the others waiting)."""
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                linger = self._linger() if callable(self._linger) else self._linger
                if linger and len(self._waiting) < self._max_group:
                    await self._wait(linger)
                group = self._waiting[: self._max_group]
                del self._waiting[: self._max_group]
                try:
                    results = await self._commit([item for item, _ in group])
                except Exception as err:  # noqa: BLE001 - each caller gets it: nothing was kept
                    for _, future in group:
                        if not future.done():
                            future.set_exception(err)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():  # its caller was cancelled: committed all the same
                        future.set_result(result)
                group = []
        finally:  # cancelled (the loop is closing): nobody is left waiting for a commit
            for _, future in group + self._waiting:
                future.cancel()
            self._waiting.clear()
            self._committing = None
