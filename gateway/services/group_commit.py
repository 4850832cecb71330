"""Group commit: the items that arrive while a commit runs go into the next one, together.

A worker submits one item (a mail's outcome, a sealed PDF) and waits for the commit that holds
it. The first item starts a commit at once; the items submitted meanwhile wait for that commit
to end and share the next one (PostgreSQL's and Postfix's group commit). No item waits for a
later one, and a batch is never larger than what arrived during one commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`submit(item)` returns the item's result from `commit(batch)` (one result per item, in
    order); when `commit` raises, every item of that batch gets the error."""

    def __init__(self, commit: Callable[[Sequence[T]], Awaitable[Sequence[R]]]) -> None:
        self._commit = commit
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        """Commit batch after batch until nothing waits (a task of its own: a submitter that
        is cancelled never leaves the others waiting)."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._commit([item for item, _ in batch])
                except Exception as err:  # noqa: BLE001 - each submitter gets it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(err)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:  # cancelled (the loop is closing): nobody is left waiting forever
            for _, future in batch + self._waiting:
                future.cancel()
            self._committing = None
