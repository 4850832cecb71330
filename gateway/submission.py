"""What serves submission: the SMTP handler over the application's registry, TLS, and the
database engine of a serving process; `submission_only`, all an SMTP process of its own runs.

Apart from gateway.app so that an SMTP process (spawned: a fresh interpreter) imports what it
serves, not the web, the scheduler nor the certificate renderer: ~1.4 s of CPU here, not 2.8.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine

from gateway.evidence.pki import pki_paths
from gateway.metrics import Metrics
from gateway.registry import Registry, build_registry
from gateway.settings import Settings
from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.server import serve as serve_smtp
from gateway.storage.database import open_engine


def serving_engine(settings: Settings, *, checkpoints: bool = True) -> Engine:
    """The serving processes' engine: on SQLite a deposit waits `database.busy_timeout` for a
    lock another program holds, then gets 451; `checkpoints=False` in an SMTP process of its
    own (gateway.storage.database.open_engine: its commits leave the log's checkpoints to the
    main process)."""
    return open_engine(
        settings.database.url,
        busy_timeout=settings.database.busy_timeout.delta.total_seconds(),
        checkpoints=checkpoints,
    )


def submission_handler(settings: Settings, registry: Registry) -> SubmissionHandler:
    return SubmissionHandler(
        registry.deposits,
        registry.senders,
        max_recipients=settings.smtp.max_recipients,
        max_message_size=settings.smtp.max_message_size,
        default_region=settings.gateway.default_region,
        max_auth_failures=settings.smtp.max_auth_failures,
        mime_limits=settings.mime,
    )


def tls_context(settings: Settings) -> ssl.SSLContext:
    pki = pki_paths(settings.gateway.data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        settings.smtp.tls_cert or pki.tls_cert, settings.smtp.tls_key or pki.tls_key
    )
    return context


@contextlib.asynccontextmanager
async def submission_only(
    settings: Settings, sockets: Mapping[str, socket.socket], *, metrics: Metrics
) -> AsyncIterator[None]:
    """An SMTP process of its own (smtp_in/processes.py): the submission handler and a registry
    over database connections of its own, serving the main process's listening `sockets`;
    `metrics` forwards its counts (and the scheduler's wake-up) to the main process.

    It uses the system clock: a clock injected into `running` stays in the main process."""
    async with contextlib.AsyncExitStack() as stack:
        engine = serving_engine(settings, checkpoints=False)
        stack.callback(engine.dispose)
        # as in the main process: one thread on SQLite (one writer at a time anyway), more on
        # PostgreSQL so account reads (AUTH, DATA) run beside a deposit's commit
        sqlite = settings.database.url.startswith("sqlite")
        executor = ThreadPoolExecutor(max_workers=1 if sqlite else 4, thread_name_prefix="db")
        stack.callback(executor.shutdown, wait=True)
        registry = build_registry(
            settings, engine, executor, lambda: datetime.now(UTC), metrics=metrics
        )
        await stack.enter_async_context(
            serve_smtp(
                settings.smtp,
                submission_handler(settings, registry),
                tls_context(settings),
                hostname=settings.smtp.hostname or settings.gateway.domain,
                metrics=metrics,
                sockets=sockets,
            )
        )
        yield
