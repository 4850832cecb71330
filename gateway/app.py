"""Composition root and command line: the only module that wires components together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import ssl
import string
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from gateway import audit, collector, logs
from gateway.accounts import AccountCommands, address_problem
from gateway.api.routes import add_api
from gateway.api.service import ApiService
from gateway.compose.webhook import compose_webhook_disabled
from gateway.errors import ConfigError, InstallationError, SmtpProcessFailed
from gateway.evidence import report
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.log_keys import ensure_log_key, log_signers, published_verifiers
from gateway.evidence.log_note import NoteError, Verifier
from gateway.evidence.pki import (
    anchors_pem,
    ensure_dev_pki,
    load_certificates,
    pki_paths,
)
from gateway.evidence.tsa import HttpTimestamper, LocalTimestamper, TimestampAuthority, Timestamper
from gateway.housekeeping import Housekeeping
from gateway.i18n import LANGUAGES
from gateway.log_cli import add_log_parser, existing_log_verifiers, run_log_command
from gateway.metrics import Metrics
from gateway.operator_keys import add_keys_commands, operator, run_audit, run_keys
from gateway.pdf import resources
from gateway.pdf.jobs import PdfWorker
from gateway.pdf.maker import CertificateMaker, dkim_signer, evidence_sealer
from gateway.ratelimit import RateLimit
from gateway.registry import Registry, new_id
from gateway.resolver import Resolver
from gateway.scheduler import Scheduler
from gateway.services.bounces import Bounces
from gateway.services.log_publisher import LogPublisher
from gateway.settings import Settings, config_path, load_settings
from gateway.sms.providers import OutboxSmsProvider, make_sms_provider
from gateway.sms.sender import SmsSender
from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.inbound import InboundHandler
from gateway.smtp_in.processes import SmtpProcesses, smtp_processes
from gateway.smtp_in.server import SUBMISSION, listening_sockets
from gateway.smtp_in.server import serve as serve_smtp
from gateway.smtp_out.dkim import DEFAULT_SELECTOR, DkimSigner
from gateway.smtp_out.modes import make_transport
from gateway.smtp_out.transport import OutboxTransport, SmarthostTransport
from gateway.startup import check_keys, has_letters, listen_refused
from gateway.storage.account_store import AccountStore
from gateway.storage.api_store import ApiStore, EndpointRecord, Notice
from gateway.storage.buckets import BucketStore
from gateway.storage.database import create_schema, open_engine
from gateway.storage.instances import Instance
from gateway.storage.leases import with_lease_owner
from gateway.storage.log_store import LogStore
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.portal_store import PortalStore
from gateway.storage.queue_stats import deliveries_by_state, queue_stats
from gateway.storage.sms_queue import SmsQueue
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault
from gateway.verification.files import verify_paths
from gateway.verification.log_inclusion import judge, split_paths
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

DKIM_SELECTOR = DEFAULT_SELECTOR
SCHEDULER_GRACE = 10.0  # seconds the scheduler gets at shutdown to finish the work in hand
DEMO_FILE = "demo-sender.txt"


def utcnow() -> datetime:
    return datetime.now(UTC)


def keys_dir(settings: Settings) -> Path:
    return settings.gateway.data_dir / "keys"


# set-up ---------------------------------------------------------------------------------


def initialise(settings: Settings) -> None:
    """Idempotent: data dir, database schema, development PKI, DKIM key, content keys.

    Refuses (ConfigError) when a configured key file is missing, or when the database holds
    letters and a key or certificate they depend on is gone: it is never silently made anew.
    """
    engine = open_engine(settings.database.url)
    try:
        letters_exist = has_letters(engine)
    finally:
        engine.dispose()
    check_keys(settings, letters_exist)
    data_dir = settings.gateway.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # no CRL distribution point in new seal and TSA certificates: an offline validator (pyHanko)
    # that finds one tries to fetch it and, failing, rejects the proof instead of falling back
    # on the CRL and timestamps the PDF embeds (data dirs made before keep their certificates)
    ensure_dev_pki(data_dir, settings.gateway.domain)
    Vault.initialise(keys_dir(settings))
    ensure_log_key(keys_dir(settings))  # signs the public evidence log's checkpoints
    engine = open_engine(settings.database.url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def _registry(
    settings: Settings,
    engine: object,
    executor: ThreadPoolExecutor,
    clock: Callable[[], datetime],
    vault: Vault | None = None,
    metrics: Metrics | None = None,
) -> Registry:
    return Registry(
        settings=settings,
        store=LetterStore(engine),  # type: ignore[arg-type]
        vault=vault or Vault(keys_dir(settings)),
        db_executor=executor,
        clock=clock,
        metrics=metrics,
    )


def _submission_handler(settings: Settings, registry: Registry) -> SubmissionHandler:
    return SubmissionHandler(
        registry.deposits,
        registry.senders,
        max_recipients=settings.smtp.max_recipients,
        max_message_size=settings.smtp.max_message_size,
        default_region=settings.gateway.default_region,
        max_auth_failures=settings.smtp.max_auth_failures,
        mime_limits=settings.mime,
    )


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


@contextlib.asynccontextmanager
async def submission_only(
    settings: Settings, sockets: Mapping[str, socket.socket], *, metrics: Metrics
) -> AsyncIterator[None]:
    """An SMTP process of its own (smtp_in/processes.py): the submission handler and a registry
    over database connections of its own, serving the main process's listening `sockets`;
    `metrics` forwards its counts (and the scheduler's wake-up) to the main process.

    It uses the system clock: a clock injected into `running` stays in the main process."""
    async with contextlib.AsyncExitStack() as stack:
        engine = open_engine(settings.database.url)
        stack.callback(engine.dispose)
        # as in the main process: one thread on SQLite (one writer at a time anyway), more on
        # PostgreSQL so account reads (AUTH, DATA) run beside a deposit's commit
        sqlite = settings.database.url.startswith("sqlite")
        executor = ThreadPoolExecutor(max_workers=1 if sqlite else 4, thread_name_prefix="db")
        stack.callback(executor.shutdown, wait=True)
        registry = _registry(settings, engine, executor, utcnow, metrics=metrics)
        await stack.enter_async_context(
            serve_smtp(
                settings.smtp,
                _submission_handler(settings, registry),
                _tls_context(settings),
                hostname=settings.smtp.hostname or settings.gateway.domain,
                metrics=metrics,
                sockets=sockets,
            )
        )
        yield


def _anchors(settings: Settings) -> bytes:
    """The root CA, the built-in TSA's certificate (a timestamping anchor), any extra anchors.

    The newest timestamp of a proof is checked as of the validation date, when the CRL the proof
    embeds has long gone stale: a trusted TSA certificate needs no revocation data (ETSI trusted
    lists trust timestamping units the same way). An external TSA's anchor goes in `anchors`.
    """
    paths = pki_paths(settings.gateway.data_dir)
    tsa = (paths.tsa_cert,) if not settings.evidence.tsa_url and paths.tsa_cert.exists() else ()
    return anchors_pem(paths, (*tsa, *settings.evidence.anchors))


def _audit_recorder(settings: Settings) -> Callable[[str, Mapping[str, Any]], None]:
    """Appends an operator action, by the Unix user running the command, to the audit log."""
    sealer = evidence_sealer(settings)

    def record(action: str, details: Mapping[str, Any]) -> None:
        engine = open_engine(settings.database.url)
        try:
            audit.record(
                engine,
                sealer,
                at=datetime.now(UTC),
                actor=operator(),
                action=action,
                details=details,
            )
        finally:
            engine.dispose()

    return record


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


def _tls_context(settings: Settings) -> ssl.SSLContext:
    pki = pki_paths(settings.gateway.data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        settings.smtp.tls_cert or pki.tls_cert, settings.smtp.tls_key or pki.tls_key
    )
    return context


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
        base_engine = open_engine(settings.database.url)
        stack.callback(base_engine.dispose)
        instance = Instance.start(settings.gateway.data_dir)  # its lock is held until we exit
        engine = with_lease_owner(base_engine, instance.id)
        stack.callback(instance.close, engine)
        sqlite = settings.database.url.startswith("sqlite")
        executor = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="db")
        stack.callback(executor.shutdown, wait=True)
        vault = Vault(keys_dir(settings))  # shared with housekeeping: it sees rotated keys
        registry = _registry(settings, engine, executor, clock, vault)
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
        pdfs.wake_mail = scheduler.wake_mail  # a stored PDF queues its proof mail
        pdfs.expect_mail = scheduler.expect  # what the proof mail's hand-over logs and counts

        app = create_app(
            service=registry.decisions,
            tsa_respond=lambda request: authority.respond(
                request, now=clock(), serial=secrets.randbits(63)
            ),
            outbox=transport if isinstance(transport, OutboxTransport) else None,
            anchors_pem=_anchors(settings),
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

        handler = _submission_handler(settings, registry)
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
                _tls_context(settings),
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


async def serve(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings) as gateway:
        collector.settle()  # start-up's objects frozen out of the collector's walks
        if gateway.smtp_processes is not None and settings.smtp.main_nice:
            # the SMTP processes, started, keep their niceness; the certificate processes, forked
            # later, add theirs to this one
            os.nice(settings.smtp.main_nice)
        # the certificate processes start now, not at the first proof (forked after the nice
        # above, they inherit it)
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
        log.info("stopping")
        if warming is not None:
            warming.cancel()


# command line ---------------------------------------------------------------------------


def _demo(settings: Settings) -> None:
    """Create the demo sender on first run and print how to send a letter with it."""
    path = settings.gateway.data_dir / DEMO_FILE
    email = f"demo@{settings.gateway.domain}"
    if path.exists():
        password = path.read_text().strip()
    else:
        # letters and digits only: safe to paste into a shell and never read as an option
        password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        with offline_registry(settings) as registry:
            registry.senders.save_sender(email, "Demo Sender", password)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
    host, port = settings.smtp.submission or ("127.0.0.1", 2587)
    outbox = settings.gateway.public_url.rstrip("/") + "/dev/outbox"
    print(f"""
Demo sender account (stored in {path}):
  address:  {email}
  password: {password}

Send a registered letter (STARTTLS + AUTH on the submission port):
  swaks --server {host}:{port} --tls --auth PLAIN \\
        --auth-user {email} --auth-password '{password}' \\
        --from {email} --to bob@example.com --header 'Subject: Mise en demeure' \\
        --body 'Madame, Monsieur, ...' \\
        --attach-type text/markdown --attach-name README.md --attach @README.md

Then open {outbox} to read the notification and follow its link.
""")


@contextlib.contextmanager
def offline_registry(settings: Settings) -> Iterator[Registry]:
    engine = open_engine(settings.database.url)
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        yield _registry(settings, engine, executor, utcnow)
    finally:
        executor.shutdown()
        engine.dispose()


def _sender_add(settings: Settings, args: argparse.Namespace) -> int:
    problem = address_problem(args.email)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    with offline_registry(settings) as registry:
        registry.senders.save_sender(args.email, args.name or args.email, password, args.language)
    _audit(settings, "sender.saved", {"email": args.email.lower(), "language": args.language})
    print(f"sender {args.email} saved")
    return 0


def _audit(settings: Settings, action: str, details: dict[str, str]) -> None:
    """Append one operator action to the sealed audit log (gateway.audit)."""
    engine = open_engine(settings.database.url)
    try:
        audit.record(
            engine,
            evidence_sealer(settings),
            at=utcnow(),
            actor=operator(),
            action=action,
            details=details,
        )
    finally:
        engine.dispose()


def _sender(settings: Settings, args: argparse.Namespace) -> int:
    """`sender add|list|disable|enable|remove`."""
    if args.sender_command == "add":
        return _sender_add(settings, args)
    engine = open_engine(settings.database.url)
    try:
        commands = AccountCommands(
            AccountStore(engine),
            utcnow,
            out=print,
            err=lambda text: print(text, file=sys.stderr),
        )
        if args.sender_command == "list":
            return commands.list()
        action = {
            "disable": commands.disable,
            "enable": commands.enable,
            "remove": commands.remove,
        }[args.sender_command]
        status = action(args.email)
    finally:
        engine.dispose()
    if status == 0:  # an operator action on an account: in the sealed audit log
        done = {"disable": "disabled", "enable": "enabled", "remove": "removed"}[
            args.sender_command
        ]
        _audit(settings, f"sender.{done}", {"email": args.email.lower()})
    return status


def _api_commands(
    sender_commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    """`sender token create|list|revoke` and `sender webhook add|list|remove|enable`."""
    shared: dict[str, Any] = {"parents": [common]}
    token = sender_commands.add_parser("token", **shared, help="the sender's REST API tokens")
    tokens = token.add_subparsers(dest="api_key_action", required=True)
    create = tokens.add_parser("create", **shared, help="make a token; it is printed once, keep it")
    create.add_argument("email")
    create.add_argument("--label", default="", help="what the token is for, shown by list")
    tokens.add_parser(
        "list", **shared, help="the sender's tokens (never the tokens themselves)"
    ).add_argument("email")
    revoke = tokens.add_parser("revoke", **shared, help="revoke a token at once")
    revoke.add_argument("email")
    revoke.add_argument("token", help="the token's id or its first 12 characters (lre_...)")
    webhook = sender_commands.add_parser("webhook", **shared, help="the sender's webhook endpoints")
    hooks = webhook.add_subparsers(dest="webhook_command", required=True)
    for name, text in (
        ("add", "register an endpoint; its signing secret is printed once"),
        ("remove", "remove an endpoint (by URL or id) and its queued events"),
        ("enable", "enable again an endpoint disabled after failures (by URL or id)"),
    ):
        command = hooks.add_parser(name, **shared, help=text)
        command.add_argument("email")
        command.add_argument("url", help="https://... (or the endpoint's id)")
    hooks.add_parser("list", **shared, help="the sender's endpoints and their state").add_argument(
        "email"
    )


def _sender_api(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.api.problems import Problem
    from gateway.api.service import ApiService

    with offline_registry(settings) as registry:
        account = registry.senders.account_record(args.email)
        if account is None:
            print(f"error: no sender {args.email} (lre-gateway sender add)", file=sys.stderr)
            return 2
        store = LetterStore(open_engine(settings.database.url))
        try:
            service = ApiService(
                settings=settings, registry=registry, store=store, pdfs=PdfQueue(store.engine)
            )
            now = utcnow()
            if args.sender_command == "token":
                if args.api_key_action == "create":
                    made = service.create_token(account, args.label, now)
                    print(made.token)
                    print(f"(token {made.prefix}... for {account.email}: shown once, keep it)")
                elif args.api_key_action == "list":
                    for t in service.tokens(account):
                        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
                        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                        print(f"{t.prefix}...  {state:18}  last used {used:16}  {t.label}")
                elif not service.api.revoke_token(account.id, args.token, now):
                    print(f"error: no live token {args.token} of {account.email}", file=sys.stderr)
                    return 1
                else:
                    print(f"token {args.token} revoked")
            elif args.webhook_command == "add":
                try:
                    endpoint = service.add_webhook(account, args.url, now)
                except Problem as problem:
                    print(f"error: {problem.detail}", file=sys.stderr)
                    return 2
                print(f"webhook {endpoint.id} added for {endpoint.url}")
                print(f"signing secret (shown once, keep it): {endpoint.secret}")
            elif args.webhook_command == "list":
                for e in service.api.endpoints(account.id):
                    state = f"disabled: {e.disabled_reason}" if e.disabled_at else "live"
                    print(f"{e.id}  {e.url}  {state}")
            elif args.webhook_command == "remove":
                if not service.api.remove_endpoint(account.id, args.url):
                    print(f"error: no webhook {args.url} of {account.email}", file=sys.stderr)
                    return 1
                print(f"webhook {args.url} removed")
            elif not service.api.enable_endpoint(account.id, args.url):
                print(f"error: no webhook {args.url} of {account.email}", file=sys.stderr)
                return 1
            else:
                print(f"webhook {args.url} enabled")
        finally:
            store.engine.dispose()
    return 0


def _verify(
    settings: Settings,
    files: Sequence[str],
    anchors_file: str | None,
    at: datetime | None,
    log_keys: Sequence[str] | None = None,
    lang: str = report.DEFAULT,
) -> int:
    pem = Path(anchors_file).read_bytes() if anchors_file else _anchors(settings)
    anchors = load_certificates(pem)
    if at is not None:
        as_of = report.say(lang, "verify.report.as_of", time=report.when(at))
        print(f"{as_of}\n")
    files, inclusions, unreadable = split_paths(files)  # the evidence log's inclusion proofs
    log_verifiers = (
        [Verifier.parse(k) for k in log_keys] if log_keys else existing_log_verifiers(settings)
    )
    verdicts = verify_paths([Path(f) for f in files], anchors, at=at)
    logged = True
    for verdict in verdicts:
        print(verdict.describe(lang))
        included = judge(verdict, inclusions, log_verifiers, anchors, at)
        if included is not None:
            print(f"  {included.say(lang)}")
            logged = logged and included.ok
        print()
    for problem in unreadable:
        print(f"{problem}\n")
    valid = logged and not unreadable and all(v.valid for v in verdicts)
    return 0 if verdicts and valid else 1


def validation_moment(text: str) -> datetime:
    """`--at`: an ISO 8601 date (midnight UTC) or date and time (UTC unless a zone is given)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or date and time, e.g. 2031-06-30 or "
            "2031-06-30T12:00:00+02:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dkim_record(settings: Settings) -> str:
    """The zone-file line of the DKIM key: TXT character-strings of at most 255 octets."""
    signer = DkimSigner.from_file(
        settings.gateway.domain, DKIM_SELECTOR, pki_paths(settings.gateway.data_dir).dkim_key
    )
    value = signer.dns_record()
    strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{DKIM_SELECTOR}._domainkey.{settings.gateway.domain}. IN TXT ( {strings} )"


DESCRIPTION = """\
LRE Gateway: electronic registered mail by email. Senders deposit letters over SMTP; the
gateway stores them encrypted, issues sealed and timestamped proofs, and lets each recipient
accept or refuse on a web page.

Every command reads its settings from --config FILE (before or after the command's name), or
else from $LRE_GATEWAY_CONFIG, or else from config/gateway.toml if it exists; without any, the
development defaults apply."""

EPILOG = """\
examples:
  lre-gateway --config /etc/lre/gateway.toml serve
  lre-gateway sender add maitre@cabinet.ma --name "Maître Dupont" --password-stdin
  lre-gateway sender list --config /etc/lre/gateway.toml
  lre-gateway verify proof.pdf

`lre-gateway COMMAND --help` describes one command."""


def _config_option() -> argparse.ArgumentParser:
    """--config, accepted after any command too (`lre-gateway ca --config F`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,  # after the command: only overrides when given there
        help="the gateway's TOML configuration file",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    common = _config_option()
    parser = argparse.ArgumentParser(
        prog="lre-gateway",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="the gateway's TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=text, description=text, parents=[common])

    command(commands, "init", "create the data directory, the database tables and the keys")
    command(commands, "serve", "run the gateway: SMTP ports, web site and background work")
    command(commands, "demo", "create a demo sender (first run) and print how to send a letter")
    sender = command(commands, "sender", "manage the sender accounts allowed to deposit letters")
    senders = sender.add_subparsers(dest="sender_command", required=True, metavar="ACTION")
    add = command(senders, "add", "create a sender account, or change its name and password")
    add.add_argument("email", help="the sender's email address (its login and From: address)")
    add.add_argument("--name", default="", help="the name proofs give (default: the address)")
    add.add_argument(
        "--language",
        default="fr",
        choices=("fr", "en", "ar"),
        help="language of the proofs mailed to this sender (default: fr)",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (at least 8 characters) from the first line of standard input",
    )
    command(senders, "list", "list the sender accounts, their status and letters in progress")
    for name, text in (
        ("disable", "refuse this sender's logins and letters until it is enabled again"),
        ("enable", "accept this sender's logins and letters again"),
        (
            "remove",
            "remove a sender account (refused while letters are in progress; "
            "letters and proofs are always kept)",
        ),
    ):
        command(senders, name, text).add_argument("email", help="the sender's email address")
    _api_commands(senders, common)
    command(commands, "ca", "print the trust anchors (PEM) that verify this gateway's proofs")
    verify = command(commands, "verify", "check proofs offline: seal, timestamp, certificates")
    verify.add_argument(
        "files", nargs="+", help="proof.pdf, a proof mail (.eml), or evidence.xml and its .p7s"
    )
    verify.add_argument("--anchors", help="PEM trust anchors (default: this gateway's, see `ca`)")
    verify.add_argument(
        "--at",
        type=validation_moment,
        metavar="DATETIME",
        help="validate as of this ISO 8601 date or date and time (UTC unless it names a zone); "
        "default now",
    )
    verify.add_argument(
        "--log-key",
        action="append",
        metavar="VKEY",
        help="the evidence log's verifier key, to check inclusion proofs; repeat it across a "
        "log-key rotation (default: this gateway's, see `log key --all`)",
    )
    verify.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=report.DEFAULT,
        help=f"the report's language (default: {report.DEFAULT})",
    )
    command(commands, "dkim-record", "print the DKIM TXT record to publish in DNS")
    add_keys_commands(commands, [common])
    add_log_parser(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    try:
        settings = load_settings(config_path(args.config))
        logs.configure(settings.logging.format)
        if args.command == "init":
            initialise(settings)
            print(f"initialised {settings.gateway.data_dir}")
        elif args.command == "serve":
            initialise(settings)  # refuses without the keys the stored letters need
            asyncio.run(serve(settings))
        elif args.command == "demo":
            initialise(settings)
            _demo(settings)
        elif args.command == "sender":
            initialise(settings)
            if args.sender_command in ("token", "webhook"):
                return _sender_api(settings, args)
            return _sender(settings, args)
        elif args.command == "ca":
            initialise(settings)
            sys.stdout.write(_anchors(settings).decode())
        elif args.command == "verify":
            return _verify(settings, args.files, args.anchors, args.at, args.log_key, args.lang)
        elif args.command == "dkim-record":
            initialise(settings)
            print(_dkim_record(settings))
        elif args.command == "log":
            if args.log_command == "rotate-key":
                initialise(settings)
                return run_log_command(settings, args, _audit_recorder(settings))
            return run_log_command(settings, args)
        elif args.command == "keys":
            initialise(settings)
            return run_keys(settings, args, evidence_sealer(settings), _anchors(settings))
        elif args.command == "audit":
            initialise(settings)
            return run_audit(settings, args, _anchors(settings))
    except NoteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except (InstallationError, SmtpProcessFailed) as err:
        print(f"lre-gateway cannot start: {err}", file=sys.stderr)
        return 2
    return 0
