"""Composition root: the only module that wires components together (`running`, `serve`; the
command line is gateway.cli)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from aiohttp import web
from sqlalchemy import Engine

from gateway import collector
from gateway.api.routes import add_api
from gateway.api.service import ApiService
from gateway.compose.webhook import compose_webhook_disabled
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.log_keys import log_signers, published_verifiers
from gateway.evidence.pki import pki_paths
from gateway.evidence.tsa import HttpTimestamper, LocalTimestamper, TimestampAuthority, Timestamper
from gateway.housekeeping import Housekeeping
from gateway.pdf import resources
from gateway.pdf.jobs import PdfWorker
from gateway.pdf.maker import CertificateMaker, dkim_signer
from gateway.priority import (
    DATABASE_THREAD,
    WORKER_THREAD,
    lower_threads,
    named_executor,
    start_threads,
)
from gateway.ratelimit import RateLimit
from gateway.registry import Registry, build_registry, new_id
from gateway.resolver import Resolver
from gateway.scheduler import LEASE as SCHEDULER_LEASE
from gateway.scheduler import Scheduler
from gateway.services.bounces import Bounces
from gateway.services.log_publisher import LogPublisher
from gateway.settings import Settings
from gateway.sms.providers import OutboxSmsProvider, make_sms_provider
from gateway.sms.sender import SmsSender
from gateway.smtp_in.inbound import InboundHandler
from gateway.smtp_in.processes import SmtpProcesses, smtp_processes
from gateway.smtp_in.server import SUBMISSION, listening_sockets
from gateway.smtp_in.server import serve as serve_smtp
from gateway.smtp_out.modes import make_transport
from gateway.smtp_out.transport import OutboxTransport, SmarthostTransport
from gateway.startup import listen_refused
from gateway.stopping import ignore_further, stop_requested
from gateway.storage.api_store import ApiStore, EndpointRecord, Notice
from gateway.storage.buckets import BucketStore
from gateway.storage.database import maintenance_warnings
from gateway.storage.instances import Instance
from gateway.storage.leases import with_lease_owner
from gateway.storage.log_store import LogStore
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.portal_store import PortalStore
from gateway.storage.queue_stats import deliveries_by_state, queue_stats
from gateway.storage.sms_queue import SmsQueue
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault
from gateway.submission import serving_engine, submission_handler, submission_only, tls_context
from gateway.trust import anchors, evidence_sealer, keys_dir
from gateway.web.app import create_app
from gateway.web.log import add_log_routes
from gateway.web.metrics import admin_app
from gateway.web.portal import add_portal_routes
from gateway.web.portal_access import add_access_routes
from gateway.web.portal_access_service import AccessService
from gateway.web.portal_service import PortalService
from gateway.web.proofs import add_pki_routes
from gateway.web.verify import add_verify_routes
from gateway.webhooks.worker import WebhookWorker

log = logging.getLogger("gateway")

SCHEDULER_GRACE = 10.0  # seconds the scheduler gets at shutdown to finish the work in hand


def utcnow() -> datetime:
    return datetime.now(UTC)


# set-up ---------------------------------------------------------------------------------


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _pdf_worker(
    settings: Settings,
    registry: Registry,
    store: LetterStore,
    queue: PdfQueue,
    maker: CertificateMaker,
    clock: Callable[[], datetime],
    verp: Callable[[str], tuple[str, str]] | None = None,
) -> PdfWorker:
    """The PDF jobs; certificates (and their proof mails) are made in the certificate
    processes."""
    return PdfWorker(
        registry=registry,
        store=store,
        queue=queue,
        maker=maker,
        provider_name=settings.gateway.provider_name,
        domain=settings.gateway.domain,
        public_url=settings.gateway.public_url,
        zone=settings.gateway.zone,
        archive_before=settings.evidence.archive_before.delta,
        clock=clock,
        verp=verp,
    )


# the running gateway --------------------------------------------------------------------


@dataclass
class Running:
    """A started gateway: bound addresses and its parts (tests and `serve` use this)."""

    settings: Settings
    smtp: dict[str, tuple[str, int]]
    web_url: str
    registry: Registry
    scheduler: Scheduler
    store: LetterStore
    admin_url: str | None = None  # the admin listener (/metrics), when web.admin_listen is set
    log: LogPublisher | None = None  # the public evidence log's checkpoint job
    api: ApiService | None = None
    webhooks: WebhookWorker | None = None
    smtp_processes: SmtpProcesses | None = None  # serving submission (smtp.processes > 0)
    bounces: Bounces | None = None  # the DSNs the inbound port takes
    certificates: CertificateMaker | None = None  # the certificate processes


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> AsyncIterator[Running]:
    """Start SMTP listeners, web and the scheduler in the current loop; stop them on exit."""
    resources.check()  # fonts and colour profile of the certificates, before anything starts
    async with contextlib.AsyncExitStack() as stack:
        base_engine = serving_engine(settings)
        stack.callback(base_engine.dispose)
        for warning in maintenance_warnings(base_engine):
            log.warning("%s", warning)
        instance = Instance.start(settings.gateway.data_dir)  # its lock is held until we exit
        engine = with_lease_owner(base_engine, instance.id)
        stack.callback(instance.close, engine)
        sqlite = settings.database.url.startswith("sqlite")
        executor = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="db")
        stack.callback(executor.shutdown, wait=True)
        # the database threads stay at the SMTP processes' priority (gateway.priority)
        start_threads(executor, DATABASE_THREAD, 1 if sqlite else 8)
        vault = Vault(keys_dir(settings))  # shared with housekeeping: it sees rotated keys
        registry = build_registry(settings, engine, executor, clock, vault)
        metrics = registry.metrics
        metrics.add_database(
            partial(queue_stats, engine), partial(deliveries_by_state, engine), clock
        )
        store = LetterStore(engine)
        pki = pki_paths(settings.gateway.data_dir)
        authority = TimestampAuthority.from_files(pki.tsa_cert, pki.tsa_key)
        timestamper: Timestamper = (
            HttpTimestamper(settings.evidence.tsa_url)
            if settings.evidence.tsa_url
            else LocalTimestamper(authority, clock)
        )
        local_hostname = settings.smtp.hostname or settings.gateway.domain
        transport = make_transport(
            settings.delivery, settings.gateway.data_dir, local_hostname=local_hostname
        )
        if isinstance(transport, SmarthostTransport):
            stack.push_async_callback(transport.close)  # after the scheduler: its pool's QUITs
        sms_provider = make_sms_provider(settings.sms, settings.gateway.data_dir)
        sms_sender = None
        if sms_provider is not None:
            stack.push_async_callback(sms_provider.close)
            sms_sender = SmsSender(
                settings=settings.sms,
                provider=sms_provider,
                queue=SmsQueue(engine),
                registry=registry,
                clock=clock,
            )
        pdf_queue = PdfQueue(engine)
        crl = CrlPublisher(pki, clock)
        if pki.root_key.exists():
            await asyncio.to_thread(crl.current)
        maker = CertificateMaker(settings, settings.evidence.certificate_processes or None)
        stack.callback(maker.close)
        bounces = Bounces(
            work=registry.work,
            outcomes=registry.outcomes,
            store=store,
            vault=Vault(keys_dir(settings)),
            domain=settings.gateway.domain,
            clock=clock,
        )
        pdfs = _pdf_worker(settings, registry, store, pdf_queue, maker, clock, bounces.verp)
        dkim = dkim_signer(settings)
        scheduler = Scheduler(
            settings=settings,
            registry=registry,
            store=store,
            sealer=evidence_sealer(settings),
            timestamper=timestamper,
            transport=transport,
            dkim=dkim,
            clock=clock,
            sms=sms_sender,
            pdfs=pdfs,
            pdf_queue=pdf_queue,
            verp=bounces.verp,
            signing=maker.dkim_signed,
            reclaim=lambda: registry.io(instance.reclaim, engine),
            housekeeping=Housekeeping(
                store=store,
                vault=vault,
                sealer=evidence_sealer(settings),
                provider=registry.provider,
                io=registry.io,
                clock=clock,
                new_id=new_id,
            ),
        )
        registry.wake = scheduler.wake
        pdfs.hand_over = scheduler.hand_over  # a stored PDF's proof mail goes at once
        pdfs.mail_lease = SCHEDULER_LEASE  # under the lease the scheduler takes on any mail

        app = create_app(
            service=registry.decisions,
            tsa_respond=lambda request: authority.respond(
                request, now=clock(), serial=secrets.randbits(63)
            ),
            outbox=transport if isinstance(transport, OutboxTransport) else None,
            anchors_pem=anchors(settings),
            public_url=settings.gateway.public_url,
            secret=registry.web_secret,
            zone=settings.gateway.zone,
            provider_name=settings.gateway.provider_name,
            sms_outbox=sms_provider if isinstance(sms_provider, OutboxSmsProvider) else None,
            clock=clock,
        )
        add_pki_routes(app, crl)
        api, webhooks = _api(
            settings, app, registry, store, pdf_queue, scheduler.wake, dkim.sign, clock
        )
        registry.wake = _both(scheduler.wake, webhooks.wake)
        add_verify_routes(
            app, status=lambda evidence_id: registry.io(store.proof_status, evidence_id)
        )
        _add_portal(app, registry, engine, clock, settings)
        evidence_log = _evidence_log(settings, engine, registry, timestamper, clock)
        add_log_routes(
            app,
            evidence_log.store,
            registry.io,
            keys=lambda: published_verifiers(settings.gateway.domain, keys_dir(settings)),
            witnesses=settings.evidence.log_witnesses,
            clock=clock,
        )
        # request bodies are never decompressed: a compressed one gets 415 unread (web/app.py)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        bound = await _listen(runner, "web.listen", settings.web.listen)
        admin_url = None
        if settings.web.admin_listen is not None:
            admin = web.AppRunner(admin_app(metrics, registry.io), access_log=None)
            await admin.setup()
            stack.push_async_callback(admin.cleanup)
            admin_bound = await _listen(admin, "web.admin_listen", settings.web.admin_listen)
            admin_url = f"http://{admin_bound[0]}:{admin_bound[1]}"

        handler = submission_handler(settings, registry)
        inbound = InboundHandler(
            registry=registry,
            bounces=bounces,
            resolver=Resolver(settings.delivery.resolver),
            domain=settings.gateway.domain,
            trusted_relays=settings.smtp.trusted_relays,
            max_recipients=settings.smtp.max_recipients,
            max_message_size=settings.smtp.max_message_size,
            default_region=settings.gateway.default_region,
            mime_limits=settings.mime,
        )
        # SMTP processes of their own serve submission (smtp_in/processes.py); this one the rest
        sockets = listening_sockets(settings.smtp, SUBMISSION) if settings.smtp.processes else {}
        for sock in sockets.values():
            stack.callback(sock.close)
        smtp = await stack.enter_async_context(
            serve_smtp(
                settings.smtp,
                handler,
                tls_context(settings),
                hostname=local_hostname,
                inbound=inbound,
                metrics=metrics,
                skip=sockets.keys(),
            )
        )
        processes = None
        if sockets:
            processes = await stack.enter_async_context(
                smtp_processes(
                    settings,
                    settings.smtp.processes,
                    sockets,
                    metrics=metrics,
                    wake=lambda: registry.wake(),
                    serve=submission_only,
                )
            )
            smtp.update({name: _address(sock) for name, sock in sockets.items()})

        task = asyncio.create_task(scheduler.run(), name="scheduler")

        async def stop_scheduler() -> None:
            """Let the work in hand finish (its leases are then released); cut it if it drags."""
            scheduler.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), SCHEDULER_GRACE)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        log_task = asyncio.create_task(evidence_log.run(), name="evidence-log")

        async def stop_log() -> None:
            """After the scheduler: append what it sealed last, publish a final checkpoint."""
            evidence_log.stop()
            await log_task

        stack.push_async_callback(stop_log)
        stack.push_async_callback(stop_scheduler)
        hooks = asyncio.create_task(webhooks.run(), name="webhooks")

        async def stop_webhooks() -> None:
            webhooks.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(hooks, SCHEDULER_GRACE)

        stack.push_async_callback(stop_webhooks)
        yield Running(
            settings,
            smtp,
            f"http://{bound[0]}:{bound[1]}",
            registry,
            scheduler,
            store,
            admin_url=admin_url,
            log=evidence_log,
            api=api,
            webhooks=webhooks,
            smtp_processes=processes,
            bounces=bounces,
            certificates=maker,
        )


async def _listen(runner: web.AppRunner, key: str, address: tuple[str, int]) -> tuple[str, int]:
    """Start a web listener; a busy port is a ConfigError naming the key, not a traceback."""
    site = web.TCPSite(runner, *address)
    try:
        await site.start()
    except OSError as err:
        raise listen_refused(key, address, err) from None
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    return str(host), int(port)


def _add_portal(
    app: web.Application,
    registry: Registry,
    engine: Engine,
    clock: Callable[[], datetime],
    settings: Settings,
) -> None:
    """The sender's portal (/portal/): the same accounts and passwords as SMTP AUTH, and the
    page of the same API tokens and webhook endpoints as the API and the command line."""
    buckets = BucketStore(engine)
    portal = PortalService(
        accounts=registry.senders,
        store=PortalStore(engine),
        io=registry.io,
        clock=clock,
        new_id=new_id,
        buckets=buckets,
    )
    add_portal_routes(app, portal)
    access = AccessService(
        store=ApiStore(engine),
        buckets=buckets,
        io=registry.io,
        clock=clock,
        new_id=new_id,
        allow_private_hosts=settings.api.webhook_private_hosts,
    )
    add_access_routes(app, access)


def _evidence_log(
    settings: Settings,
    engine: object,
    registry: Registry,
    timestamper: Timestamper,
    clock: Callable[[], datetime],
) -> LogPublisher:
    return LogPublisher(
        store=LogStore(engine),  # type: ignore[arg-type]
        signers=lambda: log_signers(settings.gateway.domain, keys_dir(settings)),
        timestamper=timestamper,
        clock=clock,
        interval=settings.evidence.log_interval.delta.total_seconds(),
        io=registry.io,
    )


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def wake() -> None:
        first()
        second()

    return wake


def _api(
    settings: Settings,
    app: web.Application,
    registry: Registry,
    store: LetterStore,
    pdfs: PdfQueue,
    mail_queued: Callable[[], None],
    dkim_sign: Callable[..., bytes],
    clock: Callable[[], datetime],
) -> tuple[ApiService, WebhookWorker]:
    """The REST API under /api/v1 and the webhook worker (gateway.api, gateway.webhooks)."""
    service = ApiService(settings=settings, registry=registry, store=store, pdfs=pdfs)
    add_api(
        app,
        service,
        max_request_size=settings.api.max_request_size,
        limit=RateLimit(
            "api",
            settings.api.rate_limit,
            timedelta(minutes=1),
            store=BucketStore(store.engine),
            io=registry.io,
            clock=clock,
        ),
    )

    def notice(endpoint: EndpointRecord, to: str, lang: str, at: datetime) -> Notice:
        mail_id = new_id()
        sender = registry.bounce_address
        message = compose_webhook_disabled(
            url=endpoint.url,
            endpoint_id=endpoint.id,
            to=to,
            sender=sender,
            provider_name=settings.gateway.provider_name,
            lang=lang,
            message_id=f"<{mail_id}@{settings.gateway.domain}>",
            date=at,
        )
        return Notice(mail_id, sender, dkim_sign(message, now=at))  # bytes fixed: signed now

    worker = WebhookWorker(
        store=service.api,
        io=registry.io,
        settings=settings.api,
        public_url=settings.gateway.public_url,
        clock=clock,
        resolver=Resolver(settings.delivery.resolver),
        notice=notice,
        mail_queued=mail_queued,
    )
    return service, worker


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # systemd's stop, Ctrl-C in a terminal


async def serve(settings: Settings) -> None:
    asyncio.get_running_loop().set_default_executor(named_executor(WORKER_THREAD))
    stop = stop_requested(STOP_SIGNALS)
    async with running(settings) as gateway:
        collector.settle()  # start-up's objects frozen out of the collector's walks
        if gateway.smtp_processes is not None:
            # deposits first (gateway.priority): every thread but the database threads and the
            # SMTP processes' spawner; the certificate processes, forked later, lower themselves
            # further from there
            lower_threads(settings.smtp.main_nice, settings.smtp.main_idle)
        # the certificate processes start now, not at the first proof
        certificates = gateway.certificates
        warming = asyncio.create_task(certificates.start()) if certificates is not None else None
        for name, (host, port) in gateway.smtp.items():
            log.info("SMTP %s listening on %s:%d", name, host, port)
        log.info(
            "web listening on %s (public URL %s)", gateway.web_url, settings.gateway.public_url
        )
        if gateway.admin_url:
            log.info("metrics: %s/metrics", gateway.admin_url)
        if settings.delivery.mode == "outbox":
            log.info("outbox: %s/dev/outbox", settings.gateway.public_url.rstrip("/"))
        await stop.wait()
        ignore_further(STOP_SIGNALS)
        if gateway.smtp_processes is not None:
            gateway.smtp_processes.no_more_restarts()
        log.info("stopping")
        if warming is not None:
            warming.cancel()
