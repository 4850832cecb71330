"""Failed logins per client address, in a sliding window (pure: time is an argument).

A guessing client first pays scrypt's cost per try, then, past `limit` failures in `window`
seconds, is told to come back later without its passwords being checked at all.
"""

from __future__ import annotations

from collections import deque


class LoginThrottle:
    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit  # 0: never throttle
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, peer: str, now: float) -> bool:
        failures = self._recent(peer, now)
        return self._limit > 0 and len(failures) >= self._limit

    def failed(self, peer: str, now: float) -> None:
        self._recent(peer, now).append(now)

    def succeeded(self, peer: str) -> None:
        self._failures.pop(peer, None)

    def _recent(self, peer: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(peer, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:  # forget quiet addresses: the table cannot grow without bound
            self._failures.pop(peer, None)
            failures = self._failures.setdefault(peer, deque())
        return failures
