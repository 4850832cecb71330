"""Where the services' blocking work runs: SQL on the database executor, CPU on threads."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

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
        return await asyncio.get_running_loop().run_in_executor(
            self._db, partial(fn, *args, **kwargs)
        )

    @staticmethod
    async def cpu(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)
