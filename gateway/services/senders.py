"""Sender accounts: created by the operator, checked at every login (SMTP AUTH, the portal)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from gateway.core.sender import Account
from gateway.core.text import has_control
from gateway.services.work import Work, new_id
from gateway.storage.account_store import AccountStore
from gateway.storage.passwords import check_password, hash_password
from gateway.storage.store import AccountRecord, LetterStore

AUTH_CACHE_SECONDS = 300.0
# The account a login read (its password hash, whether it is disabled) serves the logins of the
# same address for this long: a sender opening a connection per letter costs one read of the
# database a second, not one a letter (on PostgreSQL a round trip through a thread, 0.3-1 ms of
# the SMTP process's CPU a letter under load). A password changed, an account disabled or removed
# reaches AUTH within it; a letter deposited from an account disabled meanwhile is refused all
# the same, by its deposit's transaction (LetterStore.deposit), which reads the account again.
ACCOUNT_HELD: Final = timedelta(seconds=1)
ACCOUNTS_HELD_MAX: Final = 10_000  # addresses held at a time (then all are read again)


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
        self._held: dict[str, tuple[datetime, AccountRecord]] = {}  # by address: read when, what

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
        """The account when the password is right, else None (as slow for an unknown address).

        The account is the one read within ACCOUNT_HELD for this address, if any; a password
        that does not match it is checked against the account read again when its hash has
        changed since (a new password works at once)."""
        # a control character names no account (and PostgreSQL refuses a NUL in text)
        named = not has_control(email)
        held = self._held_account(email) if named else None
        record = held or (await self._read_account(email) if named else None)
        ok = await self._matches(password, record)
        if held is not None and not ok:
            again = await self._read_account(email)
            if again is None or again.password_hash != held.password_hash:
                record = again
                ok = await self._matches(password, again)
        if not ok or record is None:
            return None
        return Account(id=record.id, email=record.email, name=record.name, disabled=record.disabled)

    async def _matches(self, password: str, record: AccountRecord | None) -> bool:
        """Whether `password` is the account's (scrypt; a match remembered by stored hash)."""
        stored = record.password_hash if record else None
        key = (stored or "", hashlib.sha256(password.encode()).hexdigest())
        cached = self._auth_cache.get(key)
        if cached is not None and cached > time.monotonic():
            return True
        ok = await self._work.cpu(_check, password, stored)
        if ok:
            self._auth_cache[key] = time.monotonic() + AUTH_CACHE_SECONDS
        return ok

    def _held_account(self, email: str) -> AccountRecord | None:
        """The account of `email` as read within ACCOUNT_HELD, if it was."""
        held = self._held.get(email)
        if held is None:
            return None
        read_at, record = held
        return record if read_at <= self._clock() < read_at + ACCOUNT_HELD else None

    async def _read_account(self, email: str) -> AccountRecord | None:
        """The account of `email` read now, and held (none is held for an unknown address: an
        account created now can log in at once)."""
        now = self._clock()  # held from before the read: never longer
        record = await self._work.io(self._accounts.account, email)
        if record is None:
            self._held.pop(email, None)
            return None
        if len(self._held) >= ACCOUNTS_HELD_MAX:
            self._held.clear()
        self._held[email] = (now, record)
        return record
