"""What the gateway's work queues hold, read from its database (to wait on, instead of sleeping)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from gateway.app import Running
from gateway.storage import tables as t


def mail_attempts(gateway: Running, kind: str) -> list[int]:
    """The tries made so far for each outbound mail of `kind` (notification, proof, code)."""
    query = select(t.outbound.c.attempts).where(t.outbound.c.kind == kind)
    with gateway.store.engine.connect() as db:
        return [int(n) for n in db.execute(query).scalars()]


def seal_attempts(gateway: Running) -> list[int]:
    """The failed tries to seal each evidence that is not sealed yet."""
    query = select(t.seal_queue.c.attempts)
    with gateway.store.engine.connect() as db:
        return [int(n) for n in db.execute(query).scalars()]


def tried(count: int, attempts: Callable[[], list[int]]) -> bool:
    """True when some item of `attempts()` was tried at least `count` times."""
    return max(attempts(), default=0) >= count
