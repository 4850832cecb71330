"""Posting the webhook queue: signed, retried with backoff, in order per letter, at least once.

The queue is a table (webhook_deliveries), filled in the transaction that records each
evidence, so an event survives a restart. A post is a success on any 2xx answer; otherwise it
is retried after `webhook_retry_base` * 2^attempts (at most an hour), and the letter's later
events wait behind it. After `webhook_max_failures` failed posts in a row the endpoint is
disabled and its sender told by a mail queued in the outbound table, in the same commit (the
scheduler sends it like any other mail); the portal or `lre-gateway sender webhook enable`
resumes it. Every post checks its destination again (gateway.webhook_destination): a host
that now resolves inside the gateway's network is refused, and counts as a failed post.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final

import aiohttp

from gateway.resolver import Resolver
from gateway.settings import ApiSettings
from gateway.storage.api_store import LEASE, ApiStore, EndpointRecord, Notice, WebhookJob
from gateway.webhook_destination import CheckedResolver, PrivateDestination, private_host
from gateway.webhook_signing import headers

log = logging.getLogger(__name__)

MAX_BACKOFF: Final = timedelta(hours=1)
POLL: Final = 5.0  # seconds between looks at the queue when nothing wakes the worker
# seconds a look that posted nothing makes the next wait at least: every deposit and outcome
# wakes the worker (registry.wake), and under load a gateway whose senders have no webhook
# looked at an empty queue for a third of its letters (a write transaction each); an event
# queued meanwhile is posted at most this much later
QUIET: Final = 1.0


def payload(job: WebhookJob, public_url: str) -> bytes:
    """The JSON body of one event (Standard Webhooks shape: type, timestamp, data)."""
    body: dict[str, Any] = {
        "type": job.event.value,
        "timestamp": job.event_time.isoformat().replace("+00:00", "Z"),
        "data": {
            "letter": job.reference,
            "recipient": job.recipient,
            "evidence_id": job.evidence_id,
            "channel": job.channel or "email",
            "url": f"{public_url.rstrip('/')}/api/v1/letters/{job.reference}",
        },
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def backoff(base: timedelta, attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed ones (exponential, capped)."""
    wait: timedelta = base * (2 ** min(attempts, 20))
    return min(MAX_BACKOFF, wait)


def _reason(err: Exception) -> str:
    """What went wrong, in words: a refused destination says why, not aiohttp's wrapper."""
    cause = getattr(err, "os_error", None)
    if isinstance(cause, PrivateDestination):
        return f"refused: {cause}"
    return f"{type(err).__name__}: {err}"


class WebhookWorker:
    def __init__(
        self,
        *,
        store: ApiStore,
        io: Callable[..., Awaitable[Any]],
        settings: ApiSettings,
        public_url: str,
        clock: Callable[[], datetime],
        resolver: Resolver,
        notice: Callable[[EndpointRecord, str, str, datetime], Notice],
        mail_queued: Callable[[], None],
    ) -> None:
        self._store = store
        self._io = io
        self._settings = settings
        self._public_url = public_url
        self._clock = clock
        self._resolver = resolver
        self._notice = notice
        self._mail_queued = mail_queued
        self._wake = asyncio.Event()
        self._halt = asyncio.Event()  # set by stop(): ends a quiet wait at once
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._halt.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout.delta.total_seconds())
        resolver = CheckedResolver(
            self._resolver, allow_private=self._settings.webhook_private_hosts
        )
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            loop = asyncio.get_running_loop()
            while not self._stopping:
                posted = 0
                try:
                    posted = await self.post_due(session)
                except Exception:
                    log.exception("webhook queue pass failed")
                quiet_until = loop.time() + (0 if posted else QUIET)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL)
                if loop.time() < quiet_until:  # woken too soon after an empty look
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._halt.wait(), quiet_until - loop.time())
                self._wake.clear()

    async def post_due(self, session: aiohttp.ClientSession) -> int:
        """Post every due event (one per endpoint and letter at a time); the number posted."""
        posted = 0
        while not self._stopping:
            lease = max(LEASE, 2 * self._settings.webhook_timeout.delta)
            jobs: list[WebhookJob] = await self._io(self._store.due_webhooks, self._clock(), lease)
            if not jobs:
                return posted
            results = await asyncio.gather(*(self._post(session, job) for job in jobs))
            posted += sum(results)
            if not any(results):
                return posted
        return posted

    async def _post(self, session: aiohttp.ClientSession, job: WebhookJob) -> bool:
        body = payload(job, self._public_url)
        now = self._clock()
        signed = headers(job.endpoint.secret, job.id, int(now.timestamp()), body)
        if not self._settings.webhook_private_hosts and private_host(job.endpoint.url):
            return await self._failed(job, "the host is on the gateway's own network")
        try:
            async with session.post(
                job.endpoint.url,
                data=body,
                headers={**signed, "Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                await response.read()
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            error = _reason(err)[:300]
        if error is None:
            await self._io(self._store.webhook_sent, job, self._clock())
            log.info(
                "letter %s: webhook %s posted to %s", job.reference, job.event, job.endpoint.id
            )
            return True
        return await self._failed(job, error)

    async def _failed(self, job: WebhookJob, error: str) -> bool:
        """Record a failed post; disable the endpoint (and queue the notice) past the limit."""
        retry_at = self._clock() + backoff(self._settings.webhook_retry_base.delta, job.attempts)
        disabled = await self._io(
            self._store.webhook_failed,
            job,
            error,
            retry_at=retry_at,
            max_failures=self._settings.webhook_max_failures,
            now=self._clock(),
            notice=self._notice,
        )
        log.warning(
            "letter %s: webhook to endpoint %s failed (%s)", job.reference, job.endpoint.id, error
        )
        if disabled:
            log.warning("webhook endpoint %s disabled after repeated failures", job.endpoint.id)
            self._mail_queued()
        return False
