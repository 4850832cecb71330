"""Sender accounts: created by the operator, checked at every login (SMTP AUTH, the portal)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime

from gateway.core.sender import Account
from gateway.core.text import has_control
from gateway.services.work import Work, new_id
from gateway.storage.account_store import AccountStore
from gateway.storage.passwords import check_password, hash_password
from gateway.storage.store import AccountRecord, LetterStore

AUTH_CACHE_SECONDS = 300.0


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, checked for an unknown address so that the answer takes
    as long as for a known one; made at the first such login, not at import (~0.1 s of CPU in
    every serving process)."""
    return hash_password(secrets.token_urlsafe(16))


def _check(password: str, stored: str | None) -> bool:
    """check_password against `stored`, or against the dummy hash for no account."""
    return check_password(password, stored if stored is not None else _dummy_hash())


class Senders:
    def __init__(self, *, store: LetterStore, work: Work, clock: Callable[[], datetime]) -> None:
        self._accounts = AccountStore(store.engine)
        self._work = work
        self._clock = clock
        self._auth_cache: dict[tuple[str, str], float] = {}

    def account_record(self, email: str) -> AccountRecord | None:
        """The sender account of this address (blocking; run through io())."""
        return self._accounts.account(email)

    def save_sender(self, email: str, name: str, password: str, language: str = "fr") -> str:
        """Create or update a sender account (synchronous: used by the command line)."""
        record = self._accounts.save_account(
            id=new_id(),
            email=email,
            name=name,
            password_hash=hash_password(password),
            language=language,
            now=self._clock(),
        )
        return record.id

    async def authenticate(self, email: str, password: str) -> Account | None:
        """The account when the password is right, else None (as slow for an unknown address)."""
        # a control character names no account (and PostgreSQL refuses a NUL in text)
        named = not has_control(email)
        record = await self._work.io(self._accounts.account, email) if named else None
        stored = record.password_hash if record else None
        key = (stored or "", hashlib.sha256(password.encode()).hexdigest())
        cached = self._auth_cache.get(key)
        if cached is not None and cached > time.monotonic():
            ok = True
        else:
            ok = await self._work.cpu(_check, password, stored)
            if ok:
                self._auth_cache[key] = time.monotonic() + AUTH_CACHE_SECONDS
        if not ok or record is None:
            return None
        return Account(id=record.id, email=record.email, name=record.name, disabled=record.disabled)
