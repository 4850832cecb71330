"""Where the services' blocking work runs: SQL on the database executor, CPU on threads.

Each function handed to `io` is one transaction (the storage classes' methods: one
`engine.begin()` each). When PostgreSQL rolls it back only to let another transaction go on
(a deadlock between two of them, gateway.storage.database.run_again), it is run again at once:
it then waits for the other one and commits. Without that, a mail's outcome picked as a
deadlock's victim stayed unrecorded until its lease ran out, and the mail went out twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import Any, Final, TypeVar

from gateway.storage.database import run_again

T = TypeVar("T")

log = logging.getLogger(__name__)

IO_RUNS: Final = 5  # times a transaction runs at most, when PostgreSQL rolls it back for another
# a letter up to this size is parsed, hashed and encrypted on the loop: that costs less than
# handing it to a thread and back (~75 µs of CPU per hop, two per deposit, and the GIL passed
# to and fro with the loop meanwhile) and blocks the loop for under a millisecond (its reading
# 0.15 ms at 100 KB, 0.45 ms at 256 KB); a larger one goes to a thread, the loop serving
# meanwhile. At 64 KB, a 100 KB letter cost the SMTP process ~0.2 ms more (bench.smtp_cpu)
INLINE_BYTES: Final = 256 * 1024

Io = Callable[..., Awaitable[Any]]


def new_id() -> str:
    """A random identifier (128 bits, hex)."""
    return secrets.token_hex(16)


def new_reference(now: datetime) -> str:
    """A letter reference people can read out: LRE-YYYYMMDD-XXXXXXXX (40 random bits)."""
    code = base64.b32encode(secrets.token_bytes(5)).decode()
    return f"LRE-{now:%Y%m%d}-{code}"


class Work:
    """The executors: `io` for blocking SQL (its own pool), `cpu` for hashing, crypto, parsing."""

    def __init__(self, db_executor: Executor) -> None:
        self._db = db_executor

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the database executor; run again when PostgreSQL rolled
        its transaction back for another one's sake (at most IO_RUNS times in all)."""
        call = partial(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        runs = 1
        while True:
            try:
                return await loop.run_in_executor(self._db, call)
            except Exception as err:
                if runs >= IO_RUNS or not run_again(err):
                    raise
                log.warning(
                    "%s: the database rolled the transaction back for another one's sake (%s); "
                    "running it again",
                    getattr(fn, "__qualname__", fn),
                    type(getattr(err, "orig", err)).__name__,
                )
                runs += 1

    @staticmethod
    async def cpu(fn: Callable[..., T], *args: Any, size: int | None = None) -> T:
        return await off_loop(partial(fn, *args), size=size)


async def off_loop(
    fn: Callable[[], T], *, size: int | None = None, executor: Executor | None = None
) -> T:
    """`fn()` on a thread of `executor` (the loop's default one: None); on the loop itself when
    it works on `size` bytes, at most INLINE_BYTES."""
    if size is not None and size <= INLINE_BYTES:
        return fn()
    context = contextvars.copy_context()  # as asyncio.to_thread: the log's letter goes along
    return await asyncio.get_running_loop().run_in_executor(executor, context.run, fn)
