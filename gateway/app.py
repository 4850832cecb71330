"""Composition root and command line: the only module that wires components together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import ssl
import string
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from gateway.bounces import Bounces
from gateway.errors import ConfigError, InstallationError
from gateway.evidence.cms import Sealer
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    anchors_pem,
    ensure_dev_pki,
    load_certificates,
    pki_paths,
)
from gateway.evidence.tsa import HttpTimestamper, LocalTimestamper, TimestampAuthority, Timestamper
from gateway.pdf import resources
from gateway.pdf.jobs import PdfWorker
from gateway.pdf.maker import CertificateMaker
from gateway.registry import Registry
from gateway.resolver import Resolver
from gateway.scheduler import Scheduler
from gateway.settings import Settings, config_path, load_settings
from gateway.sms.providers import OutboxSmsProvider, make_sms_provider
from gateway.sms.sender import SmsSender
from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.inbound import InboundHandler
from gateway.smtp_in.server import serve as serve_smtp
from gateway.smtp_out.dkim import DkimSigner
from gateway.smtp_out.transport import OutboxTransport, make_transport
from gateway.storage.database import create_schema, open_engine
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault
from gateway.verification.files import verify_paths
from gateway.web.app import create_app
from gateway.web.proofs import add_pki_routes
from gateway.web.verify import add_verify_routes

log = logging.getLogger("gateway")

DKIM_SELECTOR = "lre"
SCHEDULER_GRACE = 10.0  # seconds the scheduler gets at shutdown to finish the work in hand
DEMO_FILE = "demo-sender.txt"


def utcnow() -> datetime:
    return datetime.now(UTC)


def keys_dir(settings: Settings) -> Path:
    return settings.gateway.data_dir / "keys"


# set-up ---------------------------------------------------------------------------------


def initialise(settings: Settings) -> None:
    """Idempotent: data dir, database schema, development PKI, DKIM key, content keys."""
    data_dir = settings.gateway.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # no CRL distribution point in new seal and TSA certificates: an offline validator (pyHanko)
    # that finds one tries to fetch it and, failing, rejects the proof instead of falling back
    # on the CRL and timestamps the PDF embeds (data dirs made before keep their certificates)
    ensure_dev_pki(data_dir, settings.gateway.domain)
    Vault.initialise(keys_dir(settings))
    engine = open_engine(settings.database.url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def _registry(
    settings: Settings, engine: object, executor: ThreadPoolExecutor, clock: Callable[[], datetime]
) -> Registry:
    return Registry(
        settings=settings,
        store=LetterStore(engine),  # type: ignore[arg-type]
        vault=Vault(keys_dir(settings)),
        db_executor=executor,
        clock=clock,
    )


def _anchors(settings: Settings) -> bytes:
    """The root CA, the built-in TSA's certificate (a timestamping anchor), any extra anchors.

    The newest timestamp of a proof is checked as of the validation date, when the CRL the proof
    embeds has long gone stale: a trusted TSA certificate needs no revocation data (ETSI trusted
    lists trust timestamping units the same way). An external TSA's anchor goes in `anchors`.
    """
    paths = pki_paths(settings.gateway.data_dir)
    tsa = (paths.tsa_cert,) if not settings.evidence.tsa_url and paths.tsa_cert.exists() else ()
    return anchors_pem(paths, (*tsa, *settings.evidence.anchors))


def _sealer(settings: Settings) -> Sealer:
    evidence, pki = settings.evidence, pki_paths(settings.gateway.data_dir)
    return Sealer.from_files(
        evidence.seal_cert or pki.seal_cert, evidence.seal_key or pki.seal_key, evidence.seal_chain
    )


def _pdf_worker(
    settings: Settings,
    registry: Registry,
    store: LetterStore,
    queue: PdfQueue,
    maker: CertificateMaker,
    clock: Callable[[], datetime],
) -> PdfWorker:
    """The PDF jobs; certificates are made in the certificate process."""
    return PdfWorker(
        registry=registry,
        store=store,
        queue=queue,
        maker=maker,
        provider_name=settings.gateway.provider_name,
        public_url=settings.gateway.public_url,
        zone=settings.gateway.zone,
        archive_before=settings.evidence.archive_before.delta,
        clock=clock,
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


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow
) -> AsyncIterator[Running]:
    """Start SMTP listeners, web and the scheduler in the current loop; stop them on exit."""
    resources.check()  # fonts and colour profile of the certificates, before anything starts
    async with contextlib.AsyncExitStack() as stack:
        engine = open_engine(settings.database.url)
        stack.callback(engine.dispose)
        sqlite = settings.database.url.startswith("sqlite")
        executor = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="db")
        stack.callback(executor.shutdown, wait=True)
        registry = _registry(settings, engine, executor, clock)
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
        sms_provider = make_sms_provider(settings.sms, settings.gateway.data_dir)
        sms_sender = None
        if sms_provider is not None:
            stack.push_async_callback(sms_provider.close)
            sms_sender = SmsSender(
                settings=settings.sms,
                provider=sms_provider,
                store=registry.identity_store,
                registry=registry,
                clock=clock,
            )
        pdf_queue = PdfQueue(engine)
        crl = CrlPublisher(pki, clock)
        if pki.root_key.exists():
            await asyncio.to_thread(crl.current)
        maker = CertificateMaker(settings, settings.evidence.certificate_processes or None)
        stack.callback(maker.close)
        pdfs = _pdf_worker(settings, registry, store, pdf_queue, maker, clock)
        bounces = Bounces(
            registry=registry,
            store=store,
            vault=Vault(keys_dir(settings)),
            domain=settings.gateway.domain,
        )
        scheduler = Scheduler(
            settings=settings,
            registry=registry,
            store=store,
            sealer=_sealer(settings),
            timestamper=timestamper,
            transport=transport,
            dkim=DkimSigner.from_file(settings.gateway.domain, DKIM_SELECTOR, pki.dkim_key),
            clock=clock,
            sms=sms_sender,
            pdfs=pdfs,
            pdf_queue=pdf_queue,
            return_path=bounces.return_path,
        )
        registry.wake = scheduler.wake

        app = create_app(
            service=registry,
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
        add_verify_routes(
            app, status=lambda evidence_id: registry.io(store.proof_status, evidence_id)
        )
        # request bodies are never decompressed: a compressed one gets 415 unread (web/app.py)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        host, port = settings.web.listen
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]

        handler = SubmissionHandler(
            registry,
            registry,
            max_recipients=settings.smtp.max_recipients,
            max_message_size=settings.smtp.max_message_size,
            default_region=settings.gateway.default_region,
            max_auth_failures=settings.smtp.max_auth_failures,
            mime_limits=settings.mime,
        )
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
        smtp = await stack.enter_async_context(
            serve_smtp(
                settings.smtp,
                handler,
                _tls_context(settings),
                hostname=local_hostname,
                inbound=inbound,
            )
        )

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

        stack.push_async_callback(stop_scheduler)
        yield Running(settings, smtp, f"http://{bound[0]}:{bound[1]}", registry, scheduler, store)


async def serve(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings) as gateway:
        for name, (host, port) in gateway.smtp.items():
            log.info("SMTP %s listening on %s:%d", name, host, port)
        log.info(
            "web listening on %s (public URL %s)", gateway.web_url, settings.gateway.public_url
        )
        if settings.delivery.mode == "outbox":
            log.info("outbox: %s/dev/outbox", settings.gateway.public_url.rstrip("/"))
        await stop.wait()
        log.info("stopping")


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
            registry.save_sender(email, "Demo Sender", password)
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
    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    with offline_registry(settings) as registry:
        registry.save_sender(args.email, args.name or args.email, password, args.language)
    print(f"sender {args.email} saved")
    return 0


def _verify(
    settings: Settings, files: Sequence[str], anchors_file: str | None, at: datetime | None
) -> int:
    pem = Path(anchors_file).read_bytes() if anchors_file else _anchors(settings)
    anchors = load_certificates(pem)
    if at is not None:
        print(f"validating as of {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
    verdicts = verify_paths([Path(f) for f in files], anchors, at=at)
    for verdict in verdicts:
        print(verdict.describe())
        print()
    return 0 if verdicts and all(v.valid for v in verdicts) else 1


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lre-gateway", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create data dir, database schema, development PKI, keys")
    commands.add_parser("serve", help="run SMTP listeners, web and background workers")
    commands.add_parser("demo", help="create the demo sender (first run) and print how to use it")
    sender = commands.add_parser("sender", help="manage sender accounts")
    sender_commands = sender.add_subparsers(dest="sender_command", required=True)
    add = sender_commands.add_parser("add", help="create or update a sender account")
    add.add_argument("email")
    add.add_argument("--name", default="")
    add.add_argument("--language", default="fr", choices=("fr", "en", "ar"))
    add.add_argument("--password-stdin", action="store_true")
    commands.add_parser("ca", help="print the trust anchors (PEM) needed to verify proofs")
    verify = commands.add_parser("verify", help="verify proofs offline")
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
    commands.add_parser("dkim-record", help="print the DKIM TXT record to publish in DNS")
    keys = commands.add_parser("keys", help="content encryption keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("rotate", help="add a new master key for new letters")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per check otherwise
    smtp_log = logging.getLogger("mail.log")  # aiosmtpd
    smtp_log.setLevel(logging.WARNING)  # not every SMTP command
    smtp_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting details
    try:
        settings = load_settings(config_path(args.config))
        if args.command == "init":
            initialise(settings)
            print(f"initialised {settings.gateway.data_dir}")
        elif args.command == "serve":
            initialise(settings)
            asyncio.run(serve(settings))
        elif args.command == "demo":
            initialise(settings)
            _demo(settings)
        elif args.command == "sender":
            initialise(settings)
            return _sender_add(settings, args)
        elif args.command == "ca":
            initialise(settings)
            sys.stdout.write(_anchors(settings).decode())
        elif args.command == "verify":
            return _verify(settings, args.files, args.anchors, args.at)
        elif args.command == "dkim-record":
            initialise(settings)
            print(_dkim_record(settings))
        elif args.command == "keys":
            print(f"new master key {Vault.rotate(keys_dir(settings))}")
    except ConfigError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    except InstallationError as err:
        print(f"lre-gateway cannot start: {err}", file=sys.stderr)
        return 2
    return 0
