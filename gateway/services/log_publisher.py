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
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from gateway.errors import EvidenceError
from gateway.evidence.log_note import Checkpoint, Signer, sign_checkpoint
from gateway.evidence.tsa import Timestamper
from gateway.storage.log_store import LogStore

log = logging.getLogger("gateway.log")

LOG_KEY_FILE = "log-ed25519.pem"
T = TypeVar("T")


def log_origin(domain: str) -> str:
    """The log's name in its checkpoints (C2SP: a schema-less URL-like string)."""
    return f"{domain}/evidence-log"


def ensure_log_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The log's Ed25519 key in keys_dir, created on first use."""
    return ensure_ed25519_key(keys_dir / LOG_KEY_FILE)


def ensure_ed25519_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key (PEM, PKCS#8) at path, created on first use with mode 0600."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: the log key must be an Ed25519 key")
    return key


class LogPublisher:
    def __init__(
        self,
        *,
        store: LogStore,
        signer: Signer,
        timestamper: Timestamper,
        clock: Callable[[], datetime],
        interval: float,
        io: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        self._store = store
        self._signer = signer
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
        note = sign_checkpoint(self._signer, Checkpoint(self._signer.name, size, root))
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


def log_signer(domain: str, keys_dir: Path) -> Signer:
    return Signer(log_origin(domain), ensure_log_key(keys_dir))
