"""Group commit: the deposits that arrive while a commit is in flight share the next one.

One transaction (one fsync on SQLite, one commit round trip on PostgreSQL) then stores every
letter whose session finished DATA meanwhile, as Postfix's and maddy's queues do. A lone
deposit waits for nothing: it is committed at once. Each caller learns its own outcome only
after the commit that holds its letter has returned, so a 250 still follows the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

T = TypeVar("T")

# a bound on one transaction's size (20 sessions at a time in the benchmark fill ~10 per commit)
MAX_GROUP: Final = 100

Commit = Callable[[Sequence[T]], Awaitable[Sequence[Exception | None]]]


class GroupCommit(Generic[T]):
    """Items handed to `add` are committed by `commit` in groups: one group in flight at a time,
    and the items that arrived meanwhile (at most MAX_GROUP) in the next.

    commit(items) returns, for each item, None (kept) or the exception that refused it alone;
    an exception it raises refuses every item of the group. Made and used in one event loop."""

    def __init__(self, commit: Commit[T], *, max_group: int = MAX_GROUP) -> None:
        self._commit = commit
        self._max_group = max_group
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        """Return once a commit holding `item` has returned; raise what refused it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        await done

    async def _commit_all(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self._max_group]
                del self._waiting[: self._max_group]
                group = [(item, done) for item, done in group if not done.cancelled()]
                if group:
                    await self._commit_group(group)
        finally:  # cancelled (the loop's end): no caller waits for a commit that will not come
            self._committing = None
            for _, done in self._waiting:
                done.cancel()
            self._waiting.clear()

    async def _commit_group(self, group: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            failures = await self._commit([item for item, _ in group])
        except Exception as error:  # noqa: BLE001 - each caller gets it: nothing was kept
            failures = [error] * len(group)
        except asyncio.CancelledError:  # its outcome is unknown: none of them gets a reply
            for _, done in group:
                done.cancel()
            raise
        for (_, done), failure in zip(group, failures, strict=True):
            if done.done():  # its caller was cancelled meanwhile: the item is committed anyway
                continue
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)
