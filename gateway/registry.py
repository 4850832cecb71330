"""The application's services, built once and shared: the doors and workers reach them here.

`Registry` holds one of each service of gateway.services (deposits, decisions, outcomes,
senders) over the same store, vault, executors and clock, plus what several of them need (the
recipient's link, the bounce address, the metrics, the wake-up of the background workers).
It holds no behaviour of its own: each service is the one place for its part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.core.evidence import Provider
from gateway.core.policy import letter_url
from gateway.metrics import Metrics
from gateway.services.content_access import ContentAccess
from gateway.services.decision import Decisions
from gateway.services.deposit import Deposits
from gateway.services.identity import RecipientIdentity
from gateway.services.outcomes import Outcomes
from gateway.services.senders import Senders
from gateway.services.work import Work, new_id, new_reference
from gateway.settings import Settings
from gateway.storage.database import open_engine
from gateway.storage.identity_store import IdentityStore
from gateway.storage.session_store import SessionStore
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault
from gateway.trust import keys_dir

__all__ = ["Registry", "build_registry", "new_id", "new_reference", "offline_registry"]

T = TypeVar("T")


class Registry:
    def __init__(
        self,
        *,
        settings: Settings,
        store: LetterStore,
        vault: Vault,
        db_executor: Executor,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._vault = vault
        self._clock = clock
        self.wake = wake  # replaced by the composition root once the workers exist
        self.work = Work(db_executor)
        gateway = settings.gateway
        self.provider = Provider(gateway.provider_name, gateway.domain, gateway.policy_id)
        # the process's counters (the composition root serves them), or an SMTP process's,
        # forwarded to the main process (smtp_in/processes.py)
        self.metrics = metrics or Metrics()
        self.identity = RecipientIdentity(
            settings=settings,
            store=IdentityStore(store.engine),
            io=self.io,
            clock=clock,
            secret=vault.web_secret,
            new_id=new_id,
            bounce_address=self.bounce_address,
            wake=self._wake,
        )
        self.content_access = ContentAccess(
            store=SessionStore(store.engine), io=self.io, clock=clock, new_id=new_id
        )
        self.identity_store = IdentityStore(store.engine)
        self.outcomes = Outcomes(
            store=store,
            work=self.work,
            clock=clock,
            provider=self.provider,
            metrics=self.metrics,
            wake=self._wake,
        )
        self.senders = Senders(store=store, work=self.work, clock=clock)
        self.deposits = Deposits(
            settings=settings,
            store=store,
            vault=vault,
            work=self.work,
            clock=clock,
            outcomes=self.outcomes,
            identity=self.identity,
            letter_url=self.letter_url,
            bounce_address=self.bounce_address,
            metrics=self.metrics,
            wake=self._wake,
        )
        self.decisions = Decisions(
            settings=settings,
            store=store,
            vault=vault,
            work=self.work,
            clock=clock,
            outcomes=self.outcomes,
            identity=self.identity,
            content_access=self.content_access,
        )

    def _wake(self) -> None:
        self.wake()

    def now(self) -> datetime:
        return self._clock()

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking SQL on the database executor (the services' `Work.io`)."""
        return await self.work.io(fn, *args, **kwargs)

    @property
    def web_secret(self) -> bytes:
        return self._vault.web_secret

    def link_token(self, delivery_id: str) -> str:
        return self._vault.link_token(delivery_id)

    def letter_url(self, delivery_id: str) -> str:
        """The recipient's personal link (in the notification mail and SMS)."""
        return letter_url(self._settings.gateway.public_url, self.link_token(delivery_id))

    @property
    def bounce_address(self) -> str:
        return f"bounces@{self._settings.gateway.domain}"


def build_registry(
    settings: Settings,
    engine: Any,
    executor: Executor,
    clock: Callable[[], datetime],
    vault: Vault | None = None,
    metrics: Metrics | None = None,
) -> Registry:
    """The registry of these settings over `engine`, its database work run on `executor`."""
    return Registry(
        settings=settings,
        store=LetterStore(engine),
        vault=vault or Vault(keys_dir(settings)),
        db_executor=executor,
        clock=clock,
        metrics=metrics,
    )


@contextlib.contextmanager
def offline_registry(settings: Settings) -> Iterator[Registry]:
    """A registry for the command line and tests, no gateway running: its own engine, one
    database thread, the system clock."""
    engine = open_engine(settings.database.url)
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        yield build_registry(settings, engine, executor, lambda: datetime.now(UTC))
    finally:
        executor.shutdown()
        engine.dispose()
