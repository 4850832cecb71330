"""The SMS queue worker, run by the scheduler's loop: hands queued SMS to the provider.

SMS live in the database (`sms_outbound`) like mail: claimed with a lease, retried with
exponential backoff on temporary failures (5xx, timeouts), never on permanent ones (4xx). The
notice SMS's outcome becomes evidence (NotificationForAcceptance or its failure, SMS channel).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.core.backoff import next_attempt
from gateway.core.identity import CODE_VALIDITY
from gateway.errors import SmsFailed
from gateway.logs import redact
from gateway.settings import SmsSettings
from gateway.sms.providers import SmsProvider
from gateway.storage.sms_queue import PendingSms, SmsQueue

if TYPE_CHECKING:
    from gateway.registry import Registry

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
RETRY_MAX = timedelta(hours=1)
CONCURRENCY = 10


class SmsSender:
    def __init__(
        self,
        *,
        settings: SmsSettings,
        provider: SmsProvider,
        queue: SmsQueue,
        registry: Registry,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._provider = provider
        self._queue = queue
        self._registry = registry
        self._clock = clock
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def send_pending(self) -> int:
        pending = await self._registry.io(self._queue.claim, self._clock(), LEASE)
        await asyncio.gather(*(self._send(sms) for sms in pending))
        return len(pending)

    async def _send(self, sms: PendingSms) -> None:
        async with self._slots:
            try:
                await self._provider.send(sms.phone, sms.text, sms.id)
            except SmsFailed as err:
                await self._failed(sms, err)
                return
            except Exception as err:  # never lose the SMS to a bug: retry later
                log.exception("SMS %s could not be sent", sms.id)
                await self._failed(
                    sms, SmsFailed(f"internal error: {type(err).__name__}", temporary=True)
                )
                return
        log.info("%s SMS %s handed over", sms.kind, sms.id)
        await self._done(sms, None)

    async def _failed(self, sms: PendingSms, error: SmsFailed) -> None:
        # a provider's answer may echo the text: never log or keep its code or link
        err = SmsFailed(redact(error.reason, sms.text), temporary=error.temporary)
        attempts = sms.attempts + 1
        retry = next_attempt(
            attempts, self._clock(), base=self._settings.retry_base.delta, maximum=RETRY_MAX
        )
        useless = sms.kind == "code" and retry >= sms.created_at + CODE_VALIDITY
        if err.temporary and attempts < self._settings.max_attempts and not useless:
            log.info("SMS %s deferred (%s); retry at %s", sms.id, err.reason, retry)
            await self._registry.io(self._queue.retry, sms.id, err.reason, retry_at=retry)
            return
        log.warning("SMS %s failed: %s", sms.id, err.reason)
        await self._done(sms, err.reason)

    async def _done(self, sms: PendingSms, failure: str | None) -> None:
        if sms.kind == "notice":
            await self._registry.outcomes.sms_outcome(sms, failure=failure)
        else:
            state = "sent" if failure is None else "failed"
            await self._registry.io(self._queue.finish, sms.id, state, failure, now=self._clock())
