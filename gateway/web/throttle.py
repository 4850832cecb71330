"""Per-address limit on unknown letter links (guessing), kept in memory.

An address that asks for MAX_MISSES unknown links within WINDOW gets 429 (with Retry-After) on
every letter address until its oldest miss leaves the window. The counts live in this process
only: a restart forgets them, and several gateway processes count apart (each still stops a
guesser after MAX_MISSES). At most MAX_ADDRESSES addresses are tracked; the stalest go first.

The client's address is the connection's peer; when that peer is on loopback (the documented
reverse proxy on the same host), the last X-Forwarded-For entry, the one that proxy appended.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

MAX_MISSES: Final = 20
WINDOW: Final = timedelta(minutes=10)
MAX_ADDRESSES: Final = 10_000


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """Whom to count: the peer, or behind a local proxy the address it says it received."""
    if not peer:
        return "unknown"
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if local and forwarded_for:
        last = forwarded_for.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


class LinkGuard:
    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        max_misses: int = MAX_MISSES,
        window: timedelta = WINDOW,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self._clock = clock
        self._max = max_misses
        self._window = window
        self._max_addresses = max_addresses
        self._misses: OrderedDict[str, deque[datetime]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Seconds this address must wait before asking for a letter again, or None."""
        misses = self._recent(address)
        if len(misses) < self._max:
            return None
        wait = (misses[0] + self._window - self._clock()).total_seconds()
        return max(1, math.ceil(wait))

    def miss(self, address: str) -> None:
        """Count one unknown link asked for by address."""
        misses = self._recent(address)
        misses.append(self._clock())
        while len(misses) > self._max:
            misses.popleft()
        self._misses[address] = misses
        self._misses.move_to_end(address)
        while len(self._misses) > self._max_addresses:
            self._misses.popitem(last=False)

    def _recent(self, address: str) -> deque[datetime]:
        misses = self._misses.get(address, deque())
        since = self._clock() - self._window
        while misses and misses[0] <= since:
            misses.popleft()
        if not misses:
            self._misses.pop(address, None)
        return misses
