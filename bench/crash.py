"""Crash consistency, checked from outside: deposits while the gateway is killed (SIGKILL).

The real gateway (`lre-gateway serve --config`) runs as a subprocess in its own process group
on one data directory; CLIENTS clients deposit letters over STARTTLS + AUTH (some with two
recipients, some with a mobile number); the smarthost is an aiosmtpd sink on loopback and the
SMS provider an HTTP sink, both recording everything. Every few seconds (random) the whole
process group gets SIGKILL and the gateway is started again; after ROUNDS kills it runs until
the work is done. Then, from what the clients saw and what reached the sinks only:

- every letter answered 250 has, for each recipient, exactly one proof of deposit (its digest
  the SHA-256 of the bytes the client sent, its reference the one in the 250), exactly one
  notification, and exactly one SMS when it gave a number;
- a letter refused, or never sent, produced nothing; one whose connection broke during DATA
  produced all of it or nothing;
- a copy of a mail (same Message-ID, or an SMS with the same number and text) exists only as a
  byte-identical resend (the next hop said 250, we were killed before our commit), an SMS's
  copy with the same Idempotency-Key as the first, so that the provider can drop it;
- the work left by the last kill is done within seconds of the restart, not after a lease.

    python -m bench.crash [--rounds 8] [--clients 8] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import hashlib
import os
import random
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

import aiosmtplib
import psycopg
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.deposit import free_port
from gateway.core.evidence import EvidenceType
from gateway.evidence.xml import from_xml

SENDER = "crash@example.ma"
PASSWORD = "crash test password 1234"
POSTGRES = os.environ.get("LRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REFERENCE = re.compile(r"LRE-\d{8}-[A-Z2-7]{8}")


# ---------------------------------------------------------------------------------------------
# What the clients saw


@dataclass
class Letter:
    """One letter a client tried to deposit, and what its SMTP session answered."""

    client: int
    number: int
    recipients: tuple[str, ...]
    phones: dict[str, str]
    data: bytes
    outcome: str = "unsent"  # acked | refused | uncertain (broken during DATA) | unsent
    reference: str | None = None
    reply: str = ""


def make_letter(client: int, number: int) -> Letter:
    tag = f"{client}-{number}"
    recipients = [f"r{tag}@example.com"]
    if number % 3 == 2:
        recipients.append(f"s{tag}@example.org")
    phones = {}
    if number % 2 == 1 and client < 10 and number < 10000:  # a distinct number per letter
        phones[recipients[0]] = f"+2126610{client}{number:04d}"
    lines = [
        f"From: Crash <{SENDER}>",
        f"To: {', '.join(recipients)}",
        f"Subject: Lettre {tag}",
        f"Message-ID: <crash-{tag}-{secrets.token_hex(4)}@example.ma>",
        *(f"LRE-Recipient-Phone: {rcpt} {phone}" for rcpt, phone in phones.items()),
        "",
        f"Madame, Monsieur, lettre {tag}. " * 20,
        "",
    ]
    return Letter(client, number, tuple(recipients), phones, "\r\n".join(lines).encode())


async def deposit(port: int, letter: Letter) -> None:
    """One SMTP session; sets letter.outcome (never raises)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, start_tls=True, tls_context=context, timeout=60
    )
    try:
        await client.connect()
        await client.login(SENDER, PASSWORD)
        await client.mail(SENDER)
        for rcpt in letter.recipients:
            await client.rcpt(rcpt)
    except aiosmtplib.SMTPResponseException as err:
        letter.outcome, letter.reply = "refused", f"{err.code} {err.message}"
        client.close()
        return
    except (aiosmtplib.SMTPException, OSError) as err:
        letter.outcome, letter.reply = "unsent", f"{type(err).__name__}: {err}"
        client.close()
        return
    try:
        response = await client.data(letter.data)
    except aiosmtplib.SMTPResponseException as err:
        letter.outcome, letter.reply = "refused", f"{err.code} {err.message}"
    except (aiosmtplib.SMTPException, OSError) as err:
        letter.outcome = "uncertain"  # the final dot may have been sent
        letter.reply = f"{type(err).__name__}: {err}"
    else:
        letter.outcome, letter.reply = "acked", f"{response.code} {response.message}"
        found = REFERENCE.search(response.message)
        letter.reference = found.group(0) if found else None
    client.close()


# ---------------------------------------------------------------------------------------------
# What reached the next hops


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    at: float  # time.monotonic() of its arrival


class MailSink:
    """The smarthost: accepts and records every message.

    Hooks for fault points: `on_data(mail)` runs before each 250, `on_quit()` when a client
    says QUIT (the gateway then has read our 250 and goes on to record the outcome).
    """

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.on_data: Callable[[Mail], Awaitable[None]] | None = None
        self.on_quit: Callable[[], Awaitable[None]] | None = None
        self.port = 0
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        if not isinstance(content, bytes):
            return "554 5.6.0 expected bytes"
        mail = Mail(envelope.mail_from or "", tuple(envelope.rcpt_tos), content, time.monotonic())
        self.mails.append(mail)
        if self.on_data is not None:
            await self.on_data(mail)
        return f"250 2.0.0 Ok: queued as C{len(self.mails)}"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.on_quit is not None:
            await self.on_quit()
        return "221 2.0.0 Bye"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


class SmsSink:
    """The SMS provider: records every (number, text, Idempotency-Key) it answers 200 to.

    Hook for fault points: `on_sms(number)` runs before each 200.
    """

    def __init__(self) -> None:
        self.sms: list[tuple[str, str, str]] = []
        self.on_sms: Callable[[str], Awaitable[None]] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            key = request.headers.get("Idempotency-Key", "")
            self.sms.append((str(body["to"]), str(body["text"]), key))
            if self.on_sms is not None:
                await self.on_sms(str(body["to"]))
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/sms", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/sms"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ---------------------------------------------------------------------------------------------
# The gateway process


class GatewayProcess:
    """`lre-gateway serve` in its own process group; SIGKILL takes it and all it forked."""

    def __init__(self, workdir: Path, config: Path, port: int, web_port: int) -> None:
        self.workdir = workdir
        self.config = config
        self.port = port
        self.web_port = web_port
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.kills = 0

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gateway", "--config", str(self.config), *args]

    def start(self) -> None:
        with (self.workdir / "gateway.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command("serve"), stdout=log, stderr=log, start_new_session=True
            )
        self.started_at = time.monotonic()

    async def ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        process = self.process
        if process is None:
            raise RuntimeError("the gateway was not started")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the gateway exited ({process.returncode}); its log ends: {self.log_end()}"
                )
            # the submission port accepts connections as soon as the main process binds it for
            # the SMTP processes, before one serves it: ready means its greeting, and the web
            if await _greets(self.port) and await _accepts(self.web_port):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the gateway's submission or web port did not open")

    def log_end(self, lines: int = 3) -> str:
        """The last lines of the gateway's log (what it said when it stopped)."""
        try:
            text = (self.workdir / "gateway.log").read_text(errors="replace")
        except OSError as err:
            return f"(no log: {err.strerror})"
        return " | ".join(text.strip().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL to the whole process group (the gateway and its certificate processes)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def write_config(
    workdir: Path, database: str, smarthost: int, sms_url: str, extra: str = ""
) -> tuple[Path, int, int]:
    """The gateway's configuration; `extra` is appended (TOML sections, e.g. [evidence])."""
    port, web_port = free_port(), free_port()
    config = workdir / "gateway.toml"
    config.write_text(f"""
[gateway]
data_dir = "{workdir / "var"}"
public_url = "http://127.0.0.1:{web_port}"
[database]
url = "{database}"
[smtp]
submission = "127.0.0.1:{port}"
submissions = ""
inbound = ""
[web]
listen = "127.0.0.1:{web_port}"
[delivery]
mode = "smarthost"
smarthost = "127.0.0.1:{smarthost}"
smarthost_tls = "none"
retry_base = "1s"
retry_max = "2s"
[sms]
provider = "http"
url = "{sms_url}"
retry_base = "1s"
{extra}""")
    return config, port, web_port


async def _greets(port: int, within: float = 1.0) -> bool:
    """Whether an SMTP server on 127.0.0.1:port sends its 220 greeting within `within` s."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        line = await asyncio.wait_for(reader.readline(), within)
    except (TimeoutError, OSError):
        line = b""
    writer.close()
    return line.startswith(b"220")


async def _accepts(port: int) -> bool:
    """Whether a server accepts connections on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh SQLite file or a new database on the local PostgreSQL (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/gateway.db"
        return
    name = f"lre_crash_{secrets.token_hex(5)}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# ---------------------------------------------------------------------------------------------
# The verdict


@dataclass
class Report:
    letters: Counter[str] = field(default_factory=Counter)
    mails: int = 0
    sms: int = 0
    resent_mails: int = 0  # byte-identical copies (same Message-ID)
    resent_sms: int = 0
    kills: int = 0
    recovery_seconds: float = 0.0  # from the last restart until all work was seen done
    first_notification_seconds: float = 0.0  # from the last restart to the first notification
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        outcome = ", ".join(f"{n} {k}" for k, n in sorted(self.letters.items()))
        lines = [
            f"{self.kills} kills (SIGKILL); letters: {outcome}",
            f"mails at the smarthost: {self.mails} ({self.resent_mails} byte-identical resends);"
            f" SMS: {self.sms} ({self.resent_sms} identical resends, same Idempotency-Key)",
            f"after the last restart: first notification out in"
            f" {self.first_notification_seconds:.1f} s, all work done in"
            f" {self.recovery_seconds:.1f} s",
            "OK: every acknowledged letter has exactly one proof of deposit, notification"
            " and SMS per recipient; nothing for the others"
            if self.ok
            else f"FAILED ({len(self.failures)}):",
            *(f"  - {failure}" for failure in self.failures[:40]),
        ]
        return "\n".join(lines)


@dataclass
class Seen:
    """The sinks' records, sorted by recipient address (each letter's recipients are unique)."""

    proofs: dict[str, set[str]]  # recipient -> Message-IDs of proofs of deposit
    proof_facts: dict[str, list[tuple[str, str]]]  # recipient -> (reference, message sha256)
    notifications: dict[str, set[str]]  # recipient -> Message-IDs
    notices: dict[str, bytes]  # recipient -> the notification's bytes (its link)
    events: dict[str, Counter[str]]  # recipient -> proof mails (distinct) per evidence type
    sms: Counter[str]  # number -> distinct texts
    report: Report


def read_sinks(mails: list[Mail], sms: list[tuple[str, str, str]]) -> Seen:
    report = Report(mails=len(mails), sms=len(sms))
    by_id: dict[str, list[bytes]] = defaultdict(list)
    proofs: dict[str, set[str]] = defaultdict(set)
    facts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    notifications: dict[str, set[str]] = defaultdict(set)
    notices: dict[str, bytes] = {}
    events: dict[str, Counter[str]] = defaultdict(Counter)
    for mail in mails:
        message = email.message_from_bytes(mail.data, policy=policy.default)
        message_id = str(message.get("Message-ID", ""))
        by_id[message_id].append(mail.data)
        if len(by_id[message_id]) > 1:
            continue  # a resend: judged below
        if mail.rcpt_tos == (SENDER,):
            xml = _attachment(message, "evidence.xml")
            if xml is None:
                report.failures.append(f"proof mail {message_id} has no evidence.xml")
                continue
            record = from_xml(xml)
            events[record.recipient_address][record.event.value] += 1
            if record.event == EvidenceType.SubmissionAcceptance:
                proofs[record.recipient_address].add(message_id)
                facts[record.recipient_address].append(
                    (record.letter_reference, record.message_sha256)
                )
            continue
        for rcpt in mail.rcpt_tos:
            notifications[rcpt].add(message_id)
            notices[rcpt] = mail.data
    for message_id, copies in by_id.items():
        report.resent_mails += len(copies) - 1
        if any(copy != copies[0] for copy in copies):
            report.failures.append(f"{message_id} sent {len(copies)} times, not byte-identical")
    texts: Counter[str] = Counter()
    for (number, _text), keys in _group_sms(sms).items():
        texts[number] += 1
        report.resent_sms += len(keys) - 1
        if len(set(keys)) > 1 or not keys[0]:  # a resend must carry the first one's id
            report.failures.append(f"SMS to {number} sent {len(keys)} times with ids {keys}")
    for rcpt, counts in events.items():
        for event, count in counts.items():
            if count > 1:
                report.failures.append(f"{count} proofs {event} (distinct mails) for {rcpt}")
    return Seen(proofs, facts, notifications, notices, events, texts, report)


def _group_sms(sms: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    """(number, text) -> the Idempotency-Key of each copy received."""
    copies: dict[tuple[str, str], list[str]] = defaultdict(list)
    for number, text, key in sms:
        copies[number, text].append(key)
    return copies


def _attachment(message: Any, name: str) -> bytes | None:
    for part in message.walk():
        if part.get_filename() == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def judge(letters: list[Letter], seen: Seen) -> Report:
    report = seen.report
    report.letters = Counter(letter.outcome for letter in letters)
    known: set[str] = set()
    for letter in letters:
        for rcpt in letter.recipients:
            known.add(rcpt)
            counts = (len(seen.proofs[rcpt]), len(seen.notifications[rcpt]))
            phone = letter.phones.get(rcpt)
            texts = seen.sms[phone] if phone else 0
            what = f"letter {letter.client}-{letter.number} ({letter.outcome}) to {rcpt}"
            if letter.outcome == "acked":
                if counts != (1, 1) or (phone and texts != 1):
                    report.failures.append(
                        f"{what}: {counts[0]} proofs of deposit, {counts[1]} notifications,"
                        f" {texts} SMS (expected exactly one each)"
                    )
                expected = (letter.reference, hashlib.sha256(letter.data).hexdigest())
                if any(fact != expected for fact in seen.proof_facts[rcpt]):
                    report.failures.append(
                        f"{what}: proof states {seen.proof_facts[rcpt]}, expected {expected}"
                    )
            elif letter.outcome == "uncertain":
                if counts not in ((0, 0), (1, 1)) or (phone and texts > 1):
                    report.failures.append(f"{what}: {counts} proofs/notifications, {texts} SMS")
            elif counts != (0, 0) or texts:
                report.failures.append(f"{what}: produced {counts} proofs/notifications")
    strangers = (set(seen.proofs) | set(seen.notifications)) - known
    if strangers:
        report.failures.append(f"mail for recipients nobody wrote to: {sorted(strangers)[:5]}")
    return report


def complete(letters: list[Letter], seen: Seen) -> bool:
    """Every acknowledged letter's mails and SMS have arrived."""
    for letter in letters:
        if letter.outcome != "acked":
            continue
        for rcpt in letter.recipients:
            if not seen.proofs[rcpt] or not seen.notifications[rcpt]:
                return False
            phone = letter.phones.get(rcpt)
            if phone and not seen.sms[phone]:
                return False
    return True


# ---------------------------------------------------------------------------------------------
# The run


class CrashRun:
    """A gateway, its sinks and its clients on one work directory; see `run` for a use."""

    def __init__(
        self, workdir: Path, database_url: str, *, clients: int = 8, extra_config: str = ""
    ) -> None:
        self.extra_config = extra_config
        self.workdir = workdir
        self.database_url = database_url
        self.clients = clients
        self.mails = MailSink()
        self.sms = SmsSink()
        self.letters: list[Letter] = []
        self._gateway: GatewayProcess | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def gateway(self) -> GatewayProcess:
        if self._gateway is None:
            raise RuntimeError("call setup() first")
        return self._gateway

    async def setup(self) -> GatewayProcess:
        """Start the sinks; initialise, add the sender and start the gateway. When that fails,
        what was started is stopped (the sinks' sockets left open would fail a later test)."""
        try:
            await self.mails.start()
            await self.sms.start()
            config, port, web_port = write_config(
                self.workdir, self.database_url, self.mails.port, self.sms.url, self.extra_config
            )
            self._gateway = gateway = GatewayProcess(self.workdir, config, port, web_port)
            # `sender add` initialises the data directory and the database first, as `init` does
            await asyncio.to_thread(
                subprocess.run,
                gateway.command("sender", "add", SENDER, "--name", "Crash", "--password-stdin"),
                input=PASSWORD.encode(),
                check=True,
                capture_output=True,
            )
            gateway.start()
            await gateway.ready()
        except BaseException:
            if self._gateway is not None:
                await asyncio.to_thread(self._gateway.stop)
            await self.mails.close()
            await self.sms.close()
            raise
        return gateway

    async def send(self, letter: Letter) -> Letter:
        """Deposit one letter now (it is judged with the others)."""
        self.letters.append(letter)
        await deposit(self.gateway.port, letter)
        return letter

    def start_clients(self) -> None:
        for client in range(self.clients):
            self._tasks.append(asyncio.create_task(self._client(client)))

    async def stop_clients(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks.clear()

    async def _client(self, client: int) -> None:
        number = 0
        while not self._stop.is_set():
            letter = await self.send(make_letter(client, number))
            number += 1
            if letter.outcome != "acked":
                await asyncio.sleep(0.2)  # the gateway is down or refusing: try again soon

    async def kill_loop(self, rounds: int, low: float, high: float, rng: random.Random) -> None:
        """`rounds` times: wait low..high seconds of service, SIGKILL everything, restart."""
        for _ in range(rounds):
            await asyncio.sleep(rng.uniform(low, high))
            await self.restart()

    async def restart(self) -> None:
        """SIGKILL the gateway and all it forked, start it again, wait until it listens."""
        self.gateway.kill()
        self.gateway.start()
        await self.gateway.ready()

    def seen(self) -> Seen:
        return read_sinks(self.mails.mails, self.sms.sms)

    def complete(self) -> bool:
        """Every acknowledged letter's mails and SMS have arrived."""
        return complete(self.letters, self.seen())

    async def wait(self, condition: Callable[[], bool], what: str, within: float = 60) -> None:
        """Poll `condition` until it holds; TimeoutError naming `what` after `within` s."""
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {within} s")
            await asyncio.sleep(0.05)

    async def finish(self, within: float = 180) -> Report:
        """Wait for the acknowledged letters' mails (settling a little), stop, judge."""
        restarted = self.gateway.started_at
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if complete(self.letters, self.seen()):
                break
            await asyncio.sleep(0.2)
        done = time.monotonic()
        await asyncio.sleep(2)  # anything sent twice would come now
        # in a thread: the sinks on this loop answer the gateway's last QUIT while it stops
        # (waiting here, the loop left that QUIT to time out: 5 s of every run)
        await asyncio.to_thread(self.gateway.stop)
        await self.mails.close()
        await self.sms.close()
        report = judge(self.letters, self.seen())
        report.kills = self.gateway.kills
        report.recovery_seconds = done - restarted
        after = [m.at - restarted for m in self.mails.mails if m.rcpt_tos != (SENDER,)]
        report.first_notification_seconds = min((a for a in after if a > 0), default=0.0)
        return report


async def run(args: argparse.Namespace, workdir: Path, database_url: str) -> Report:
    crash = CrashRun(workdir, database_url, clients=args.clients)
    await crash.setup()
    crash.start_clients()
    schedule = random.Random(args.seed)  # noqa: S311 - when to kill, not a secret
    await crash.kill_loop(args.rounds, args.min, args.max, schedule)
    await asyncio.sleep(args.min)  # deposits under no kill, then the drain
    await crash.stop_clients()
    return await crash.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="kills (default 8)")
    parser.add_argument("--clients", type=int, default=8, help="depositing clients (default 8)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--min", type=float, default=2.0, help="least seconds between kills")
    parser.add_argument("--max", type=float, default=6.0, help="most seconds between kills")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    failed = False
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        workdir = Path(tempfile.mkdtemp(prefix=f"lre-crash-{kind}-"))
        with database(kind, workdir) as url:
            report = asyncio.run(run(args, workdir, url))
        print(f"== {kind}: {args.rounds} rounds, {args.clients} clients ({workdir})")
        print(report.summary())
        failed = failed or not report.ok
        if not args.keep and report.ok:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
