"""Token buckets kept in the database: every gateway process sharing it enforces one limit.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; a request takes one.
`take` is one UPDATE whose WHERE checks the refilled level (PostgreSQL re-checks it on the
locked row, SQLite runs one writer at a time), so two processes never both take the last
token; a first request inserts the bucket (a concurrent twin's insert is ignored, then the
UPDATE is tried again). Keys are SHA-256 of "scope:subject": no address or token in clear.
Buckets untouched for a day are swept (every limit in use is full again by then).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

from sqlalchemy import Engine, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage import tables as t
from gateway.storage.database import reading

SWEEP_AFTER: Final = 86_400.0  # seconds without a request after which a bucket is forgotten
SWEEP_EVERY: Final = 60.0  # seconds between sweeps, per process


def refilled(tokens: float, at: float, now: float, *, rate: float, burst: float) -> float:
    """The level of a bucket that held `tokens` at `at`, at `now` (pure)."""
    return min(burst, tokens + max(0.0, now - at) * rate)


def wait(level: float, rate: float) -> int | None:
    """Whole seconds until a bucket at `level` has one token; None when it has one now."""
    if level >= 1.0:
        return None
    return max(1, math.ceil((1.0 - level) / rate))


def bucket_key(scope: str, subject: str) -> str:
    return hashlib.sha256(f"{scope}:{subject}".encode()).hexdigest()


class BucketStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._swept = -math.inf

    def take(
        self, scope: str, subject: str, *, rate: float, burst: float, now: float
    ) -> int | None:
        """Take a token from the bucket; None when taken, else the seconds until there is one."""
        key = bucket_key(scope, subject)
        b = t.rate_buckets
        elapsed = case((b.c.at < now, now - b.c.at), else_=0.0)
        level = case(
            (b.c.tokens + elapsed * rate > burst, burst), else_=b.c.tokens + elapsed * rate
        )
        with self.engine.begin() as db:
            self._sweep(db, now)
            for _ in range(2):
                taken = db.execute(
                    update(b).where(b.c.key == key, level >= 1.0).values(tokens=level - 1.0, at=now)
                ).rowcount
                if taken:
                    return None
                row = db.execute(select(b.c.tokens, b.c.at).where(b.c.key == key)).first()
                if row is not None:
                    return wait(refilled(row.tokens, row.at, now, rate=rate, burst=burst), rate)
                if _insert_new(db, key, tokens=burst - 1.0, at=now):
                    return None
        return wait(0.0, rate)  # inserted meanwhile twice over: as good as empty

    def waiting(
        self, scope: str, subject: str, *, rate: float, burst: float, now: float
    ) -> int | None:
        """The seconds until the bucket has a token (nothing is taken); None when it has one."""
        b = t.rate_buckets
        with reading(self.engine) as db:
            row = db.execute(
                select(b.c.tokens, b.c.at).where(b.c.key == bucket_key(scope, subject))
            ).first()
        if row is None:
            return None
        return wait(refilled(row.tokens, row.at, now, rate=rate, burst=burst), rate)

    def _sweep(self, db: Any, now: float) -> None:
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        db.execute(delete(t.rate_buckets).where(t.rate_buckets.c.at < now - SWEEP_AFTER))


def _insert_new(db: Any, key: str, *, tokens: float, at: float) -> bool:
    """Insert a bucket unless another process just did; True when this one was inserted."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(t.rate_buckets)
        .values(key=key, tokens=tokens, at=at)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(db.execute(statement).rowcount)
