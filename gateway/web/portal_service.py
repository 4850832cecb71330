"""What the sender's portal does: sign in and out, sessions, the account's letters and proofs.

The password check is the one SMTP AUTH uses (scrypt, constant work for unknown addresses).
Failed sign-ins count per address and per client address in token buckets kept in the
database (gateway.ratelimit), so every gateway process sharing it counts them together: past
the limit the portal answers 429 before checking any password. A session is a random
256-bit token in an HttpOnly cookie; the database keeps only its SHA-256. It ends after IDLE
without a request, after LIFETIME in any case, or at sign-out.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

from gateway.core.letter import State
from gateway.ratelimit import RateLimit
from gateway.storage.buckets import BucketStore
from gateway.storage.portal_store import (
    EventLine,
    LetterLine,
    LetterPage,
    LetterQuery,
    PortalAccount,
    PortalStore,
    Position,
    ProofFiles,
)
from gateway.storage.vault import token_hash

T = TypeVar("T")

IDLE: Final = timedelta(minutes=30)
LIFETIME: Final = timedelta(hours=12)
TOKEN_BYTES: Final = 32  # 256 bits
MAX_TOKEN: Final = 128  # longer cookie values are not looked up
ADDRESS_FAILURES: Final = 5  # failed sign-ins per account address per WINDOW (bursts of 5)
CLIENT_FAILURES: Final = 20  # failed sign-ins per client address per WINDOW
WINDOW: Final = timedelta(minutes=15)
EXPORT_BATCH: Final = 500  # letters read at a time by the CSV export (streamed, all of them)


class Authenticator(Protocol):
    async def authenticate(self, email: str, password: str) -> Any:
        """An account (.id, .email, .name) when the password is right, else None."""
        ...


class SignInRefused(Exception):
    """Wrong address or password (which one is never said)."""


class SignInThrottled(Exception):
    """Too many failed sign-ins lately for this address or from this client."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class PortalService:
    def __init__(
        self,
        *,
        accounts: Authenticator,
        store: PortalStore,
        io: Callable[..., Awaitable[Any]],
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        buckets: BucketStore,
    ) -> None:
        self._accounts = accounts
        self._store = store
        self._io = io
        self._clock = clock
        self._new_id = new_id
        self._by_address = RateLimit(
            "portal-address", ADDRESS_FAILURES, WINDOW, store=buckets, io=io, clock=clock
        )
        self._by_client = RateLimit(
            "portal-client", CLIENT_FAILURES, WINDOW, store=buckets, io=io, clock=clock
        )

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = await self._io(fn, *args, **kwargs)
        return result

    async def sign_in(self, email: str, password: str, client: str) -> str:
        """A new session token for the right password; SignInRefused or SignInThrottled else."""
        address = email.strip().lower()
        waits = [await self._by_address.waiting(address), await self._by_client.waiting(client)]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise SignInThrottled(wait)
        account = await self._accounts.authenticate(email.strip(), password) if email else None
        if account is None:
            await self._by_address.retry_after(address)  # one failure more in each bucket
            await self._by_client.retry_after(client)
            raise SignInRefused
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self._run(self._store.forget_stale, now=self._clock(), idle=IDLE)
        await self._run(
            self._store.open_session,
            session_id=self._new_id(),
            account_id=account.id,
            token_hash=token_hash(token),
            now=self._clock(),
            lifetime=LIFETIME,
        )
        return token

    async def account(self, token: str | None) -> tuple[str, PortalAccount] | None:
        """The session id and account of a live session token, else None."""
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            return None
        found: tuple[str, PortalAccount] | None = await self._run(
            self._store.session_account, token_hash(token), now=self._clock(), idle=IDLE
        )
        return found

    async def sign_out(self, token: str) -> None:
        await self._run(self._store.close_session, token_hash(token))

    async def letters(self, account: PortalAccount, query: LetterQuery) -> LetterPage:
        return await self._run(self._store.letters, account.id, query)

    async def export(
        self, account: PortalAccount, text: str, state: State | None
    ) -> AsyncIterator[list[LetterLine]]:
        """Every matching letter, newest first, EXPORT_BATCH at a time (one query each)."""
        after: Position | None = None
        while True:
            query = LetterQuery(text=text, state=state, after=after, limit=EXPORT_BATCH)
            page = await self._run(self._store.letters, account.id, query)
            if page.lines:
                yield page.lines
            if not page.older or not page.lines:
                return
            after = (page.lines[-1].deposited_at, page.lines[-1].id)

    async def letter(
        self, account: PortalAccount, reference: str
    ) -> tuple[LetterLine, list[EventLine]] | None:
        return await self._run(self._store.letter, account.id, reference)

    async def proof(self, account: PortalAccount, evidence_id: str) -> ProofFiles | None:
        return await self._run(self._store.proof, account.id, evidence_id)
