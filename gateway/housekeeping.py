"""The scheduler's slow jobs: re-wrapping letters under a new master key, retention purges.

Both are durable by construction (what is left to do is read from the database each time),
so they resume after any stop. They run at most every INTERVAL, and again at once while they
find work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from gateway import keys, retention
from gateway.core.evidence import Provider
from gateway.evidence.cms import Sealer
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERVAL = timedelta(seconds=30)

Io = Callable[..., Awaitable[Any]]


class Housekeeping:
    def __init__(
        self,
        *,
        store: LetterStore,
        vault: Vault,
        sealer: Sealer,
        provider: Provider,
        io: Io,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self._store = store
        self._vault = vault
        self._sealer = sealer
        self._provider = provider
        self._io = io
        self._clock = clock
        self._new_id = new_id
        self._next: datetime | None = None
        self._rewrapped_for = ""  # the master key every letter was found under last time

    async def tick(self) -> int:
        """Re-wrap a batch, purge a batch; how many letters were touched (0 between runs)."""
        now = self._clock()
        if self._next is not None and now < self._next:
            return 0
        moved = 0
        await self._io(self._vault.refresh)
        if self._rewrapped_for != self._vault.current_key_id:  # not after each round: one scan
            moved = await self._io(keys.rewrap_batch, self._store.engine, self._vault, now=now)
            if not moved:
                self._rewrapped_for = self._vault.current_key_id
        purged = 0
        for letter_id in await self._io(retention.due, self._store.engine, now):
            try:
                purged += bool(
                    await self._io(
                        retention.purge_letter,
                        self._store,
                        letter_id,
                        provider=self._provider,
                        sealer=self._sealer,
                        now=now,
                        new_id=self._new_id,
                    )
                )
            except (retention.ChainMoved, IntegrityError):  # another process was quicker
                log.info("letter %s changed meanwhile: its purge is tried next round", letter_id)
        if moved:
            log.info("%d letters re-wrapped under %s", moved, self._vault.current_key_id)
        busy = int(moved) + purged
        self._next = None if busy else now + INTERVAL
        return busy
