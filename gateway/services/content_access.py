"""Who may read a released letter: the browser session that gave the one-time code.

Accepting with a code (or, for a letter already accepted, giving a new code) opens a session:
a random 256-bit token handed to that browser in an HttpOnly, SameSite=Strict cookie scoped to
the letter's path, kept in the database only as its SHA-256, valid for SESSION_LIFETIME. The
letter page shows the content, and the downloads answer, only to a live session; each opening
and each download is recorded as a release (table content_releases).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from gateway.storage.session_store import Release, SessionStore

SESSION_LIFETIME: Final = timedelta(minutes=30)
TOKEN_BYTES: Final = 32  # 256 bits
MAX_TOKEN: Final = 100  # longer cookie values are not looked up
Opener = Literal["acceptance", "code", "no_code"]
Io = Callable[..., Awaitable[Any]]


def session_hash(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(b"lre-gateway content session v1\x00" + token.encode()).hexdigest()


class ContentAccess:
    def __init__(
        self,
        *,
        store: SessionStore,
        io: Io,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self._store = store
        self._io = io
        self._clock = clock
        self._new_id = new_id

    async def open(self, delivery_id: str, opened_by: Opener) -> str:
        """A new session for the delivery (recorded as a release); returns its clear token."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        await self._io(
            self._store.open,
            session_id=self._new_id(),
            delivery_id=delivery_id,
            token_hash=session_hash(token),
            opened_by=opened_by,
            now=now,
            expires_at=now + SESSION_LIFETIME,
            release_id=self._new_id(),
        )
        return token

    async def session(self, delivery_id: str, token: str | None) -> str | None:
        """The id of the live session this token opens for this delivery, else None."""
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            return None
        found = await self._io(self._store.find, delivery_id, session_hash(token), self._clock())
        return found if isinstance(found, str) else None

    async def record(self, delivery_id: str, session_id: str, what: str) -> None:
        await self._io(
            self._store.record,
            release_id=self._new_id(),
            delivery_id=delivery_id,
            session_id=session_id,
            what=what,
            now=self._clock(),
        )

    async def releases(self, delivery_id: str) -> list[Release]:
        found: list[Release] = await self._io(self._store.releases, delivery_id)
        return found
