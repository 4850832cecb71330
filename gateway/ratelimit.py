"""Rate limits shared by every gateway process: token buckets in the database.

`RateLimit` answers for one scope (API requests per token, portal sign-in failures per address
or per client) with gateway.storage.buckets, run in the registry's executor. The clock is the
gateway's (injected): processes on several machines must agree on the time, as for leases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from gateway.storage.buckets import BucketStore


class RateLimit:
    """At most `count` a `per` on average, in bursts of up to `count`."""

    def __init__(
        self,
        scope: str,
        count: int,
        per: timedelta,
        *,
        store: BucketStore,
        io: Callable[..., Awaitable[Any]],
        clock: Callable[[], datetime],
    ) -> None:
        self._scope = scope
        self._burst = float(count)
        self._rate = count / per.total_seconds()
        self._store = store
        self._io = io
        self._clock = clock

    async def retry_after(self, subject: str) -> int | None:
        """Count one request; None when it may go ahead, else the seconds to wait."""
        return await self._ask(self._store.take, subject)

    async def waiting(self, subject: str) -> int | None:
        """The seconds to wait before the next one counts, without counting one; None: now."""
        return await self._ask(self._store.waiting, subject)

    async def _ask(self, bucket: Callable[..., int | None], subject: str) -> int | None:
        """`bucket` (the store's take or waiting) for this scope and subject, off the loop."""
        if self._burst <= 0:
            return None
        found: int | None = await self._io(
            bucket,
            self._scope,
            subject,
            rate=self._rate,
            burst=self._burst,
            now=self._clock().timestamp(),
        )
        return found
