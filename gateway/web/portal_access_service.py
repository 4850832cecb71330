"""What the portal's "API tokens and webhooks" page does, on ApiStore (gateway.storage).

The same records as `lre-gateway sender token|webhook` and /api/v1/webhooks: a token is 256
random bits shown once (only its SHA-256 is kept); an endpoint's signing secret is shown once
too. Creating either is limited per account (MAKE_LIMIT per MAKE_WINDOW, in the database, so
every gateway process counts together): past it, AccessThrottled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final

from gateway.api_tokens import NewToken, new_token, token_label
from gateway.ratelimit import RateLimit
from gateway.storage.api_store import ApiStore, EndpointRecord, TokenRecord
from gateway.storage.buckets import BucketStore
from gateway.storage.portal_store import PortalAccount
from gateway.webhook_destination import refused_url
from gateway.webhook_signing import new_secret

MAKE_LIMIT: Final = 20  # tokens and endpoints created per account per MAKE_WINDOW
MAKE_WINDOW: Final = timedelta(hours=1)


class AccessThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class EndpointRefused(Exception):
    """The URL cannot be an endpoint; .reason is "url" or "private" (a wording key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccessService:
    def __init__(
        self,
        *,
        store: ApiStore,
        buckets: BucketStore,
        io: Callable[..., Awaitable[Any]],
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        allow_private_hosts: bool,
    ) -> None:
        self._store = store
        self._io = io
        self._clock = clock
        self._new_id = new_id
        self._allow_private = allow_private_hosts
        self._making = RateLimit(
            "portal-make", MAKE_LIMIT, MAKE_WINDOW, store=buckets, io=io, clock=clock
        )

    async def tokens(self, account: PortalAccount) -> list[TokenRecord]:
        found: list[TokenRecord] = await self._io(self._store.tokens, account.id)
        return found

    async def endpoints(self, account: PortalAccount) -> list[EndpointRecord]:
        found: list[EndpointRecord] = await self._io(self._store.endpoints, account.id)
        return found

    async def create_token(self, account: PortalAccount, label: str) -> NewToken:
        await self._count(account)
        token = new_token()
        await self._io(
            self._store.add_token,
            id=self._new_id(),
            account_id=account.id,
            token_hash=token.hash,
            prefix=token.prefix,
            label=token_label(label, "portal"),
            now=self._clock(),
        )
        return token

    async def revoke_token(self, account: PortalAccount, token_id: str) -> bool:
        done: bool = await self._io(self._store.revoke_token, account.id, token_id, self._clock())
        return done

    async def add_endpoint(self, account: PortalAccount, url: str) -> EndpointRecord:
        url = url.strip()
        reason = refused_url(url, allow_private=self._allow_private)
        if reason is not None:
            raise EndpointRefused(reason)
        await self._count(account)
        added: EndpointRecord = await self._io(
            self._store.add_endpoint,
            id=self._new_id(),
            account_id=account.id,
            url=url,
            secret=new_secret(),
            now=self._clock(),
        )
        return added

    async def remove_endpoint(self, account: PortalAccount, endpoint_id: str) -> bool:
        done: bool = await self._io(self._store.remove_endpoint, account.id, endpoint_id)
        return done

    async def enable_endpoint(self, account: PortalAccount, endpoint_id: str) -> bool:
        done: bool = await self._io(self._store.enable_endpoint, account.id, endpoint_id)
        return done

    async def _count(self, account: PortalAccount) -> None:
        wait = await self._making.retry_after(account.id)
        if wait is not None:
            raise AccessThrottled(wait)
