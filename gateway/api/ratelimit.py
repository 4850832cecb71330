"""A token bucket per API token (pure; the clock is injected): `rate` requests a minute."""

from __future__ import annotations

import math
from collections.abc import Callable


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def retry_after(self, key: str) -> int | None:
        """None when the request may go ahead (and is counted); else seconds to wait."""
        if self._rate <= 0:
            return None
        now = self._clock()
        tokens, at = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:  # forget full buckets: they are the default anyway
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self._burst}
        return None
