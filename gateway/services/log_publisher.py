"""The log's background job: append queued evidence, sign and timestamp a checkpoint.

Runs every `evidence.log_interval` and once more at shutdown. A deposit never waits for it:
sealed evidence is queued in the seal's own transaction (a crash loses nothing), and this job
appends it later. The checkpoint is timestamped by the TSA over SHA-256 of the signed note, so
one RFC 3161 token dates every evidence under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from gateway.errors import EvidenceError
from gateway.evidence.log_note import Checkpoint, Signer, sign_checkpoint
from gateway.evidence.tsa import Timestamper
from gateway.storage.log_store import LogStore

log = logging.getLogger("gateway.log")


class LogPublisher:
    def __init__(
        self,
        *,
        store: LogStore,
        signers: Callable[[], Sequence[Signer]],
        timestamper: Timestamper,
        clock: Callable[[], datetime],
        interval: float,
        io: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        self._store = store
        self._signers = signers  # read at each checkpoint: a key rotation applies at once
        self._timestamper = timestamper
        self._clock = clock
        self._interval = interval
        self._io = io or asyncio.to_thread
        self._stop = asyncio.Event()

    @property
    def store(self) -> LogStore:
        return self._store

    async def publish(self) -> int | None:
        """Append what is queued; publish a checkpoint if the tree grew. Its size, or None."""
        while await self._io(self._store.sequence):
            pass
        size: int = await self._io(self._store.size)
        latest = await self._io(self._store.checkpoint)
        if latest is not None and latest.size >= size:
            if latest.timestamp is None:
                await self._timestamp(latest.size, latest.note)
            return None
        if size == 0:
            return None
        root = await self._io(self._store.root, size)
        signers = await self._io(self._signers)
        note = sign_checkpoint(signers, Checkpoint(signers[0].name, size, root))
        if not await self._io(self._store.add_checkpoint, size, note, now=self._clock()):
            return None
        await self._timestamp(size, note)
        log.info("evidence log checkpoint: %d entries", size)
        return size

    async def _timestamp(self, size: int, note: bytes) -> None:
        try:
            token = await self._timestamper.timestamp(hashlib.sha256(note).digest())
        except EvidenceError as err:
            log.warning("evidence log checkpoint %d: no timestamp yet (%s)", size, err)
            return
        await self._io(self._store.set_timestamp, size, token)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Publish every interval until stopped, then once more (shutdown)."""
        while not self._stop.is_set():
            try:
                await self.publish()
            except Exception:
                log.exception("evidence log: publishing failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
        await self.publish()
