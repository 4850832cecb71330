"""Handing one message to the next hop: a local Maildir (development) or a smarthost (aiosmtplib).

A transport's `send` either returns a short description of the hand-over or raises RelayFailed
carrying an SmtpReply; `failure_from` is the pure mapping from aiosmtplib's errors to that reply.
Once the next hop has answered 250 to DATA the message is handed over: nothing after that point
(QUIT, closing the connection) may turn the send into a failure, or the queue would send it twice.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import re
import ssl
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings

from gateway.core.text import DOT_ATOM
from gateway.errors import ConfigError, RelayFailed, SmtpReply
from gateway.settings import DeliverySettings
from gateway.smtp_out.pipelining import Pipelined

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds per SMTP step; RFC 5321 §4.5.3.2 allows far longer, we retry
QUIT_TIMEOUT = 5.0  # seconds to wait for the reply to QUIT when closing a connection
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)")  # RFC 3463 §2
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.,:=-]{0,254}$")  # Maildir names incl. ":2,S"


@dataclass(frozen=True)
class Outgoing:
    """One message for one recipient; `id` is the stable outbound id (retries reuse it)."""

    mail_from: str
    rcpt: str
    message: bytes
    id: str


class Transport(Protocol):
    concurrency: int  # mails it takes at once (the scheduler's hand-overs at once)

    async def send(self, mail: Outgoing) -> str: ...

    def reserved(self, rcpt: str) -> contextlib.AbstractAsyncContextManager[object]:
        """A place for a mail to `rcpt` among those its destination takes at once, held by a
        caller that has limits of its own to wait for (the scheduler's hand-overs at once),
        so that it never holds one of those while the destination keeps it waiting; `send`
        within it takes no second place."""
        ...

    def crowded(self) -> Collection[str]:
        """The destinations (recipient domains, in lower case) holding as many mails as they
        take at once and as many again waiting for a place: a mail claimed for one now would
        only wait there, in the room a later mail to another destination needs (the
        scheduler claims none for them until one of theirs ends)."""
        ...


def unreserved(rcpt: str) -> contextlib.AbstractAsyncContextManager[object]:
    """`Transport.reserved` of a transport whose destination takes any number at once."""
    return contextlib.nullcontext()


def uncrowded() -> Collection[str]:
    """`Transport.crowded` of a transport whose destination takes any number at once."""
    return ()


# ---------------------------------------------------------------------------------------------
# Mapping aiosmtplib errors to replies (pure)


def parse_reply(code: int, text: str) -> SmtpReply:
    """The server's reply as an SmtpReply: its enhanced code when the text starts with one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    klass = str(code)[0]
    match = _ENHANCED.match(lines[0])
    if not match or match[1] != klass:
        return SmtpReply(code, f"{klass}.0.0", " ".join(lines))
    enhanced = f"{match[1]}.{match[2]}.{match[3]}"
    repeated = re.compile(rf"^{re.escape(enhanced)}(?:\s+|$)")
    sentences = [repeated.sub("", line, count=1) for line in lines]
    return SmtpReply(code, enhanced, " ".join(s for s in sentences if s))


def failure_from(err: Exception, where: str) -> RelayFailed:
    """RelayFailed for an error raised while talking to `where` (host:port)."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused) and err.recipients:
        err = err.recipients[0]
    if isinstance(err, aiosmtplib.SMTPAuthenticationError):
        # Our credentials are wrong: the letter is fine, so retry while the operator fixes them.
        return _temporary("4.7.0", f"{where} refused our credentials: {err.code} {err.message}")
    if isinstance(err, aiosmtplib.SMTPResponseException):
        if 400 <= err.code < 600:
            return RelayFailed(parse_reply(err.code, err.message))
        return _temporary("4.5.0", f"{where} answered an unexpected {err.code} {err.message}")
    if isinstance(err, aiosmtplib.SMTPServerDisconnected):
        return _temporary("4.4.2", f"{where} closed the connection: {err}")
    if isinstance(err, TimeoutError):
        return _temporary("4.4.1", f"no answer from {where} in time: {err}")
    if isinstance(err, aiosmtplib.SMTPNotSupported):
        return _temporary("4.7.0", f"{where} does not offer what we need: {err}")
    return _temporary("4.4.1", f"cannot talk to {where}: {err}")


def _temporary(enhanced: str, text: str) -> RelayFailed:
    return RelayFailed(SmtpReply(451, enhanced, text))


# ---------------------------------------------------------------------------------------------
# Smarthost

POOL_SIZE = 20  # idle connections kept open to the smarthost (its mails handed over at once)
IDLE_TIMEOUT = 5.0  # seconds an unused connection stays open (Postfix's cache keeps one 2 s)
REUSE_TIME_LIMIT = 300.0  # seconds; an older connection is closed after its mail (Postfix: 300 s)


@dataclass(eq=False)
class _Connection:
    """One open, greeted (EHLO, STARTTLS, AUTH) connection to the smarthost."""

    client: aiosmtplib.SMTP
    opened: float
    idle_since: float = 0.0


class _Stale(Exception):
    """A reused connection was found closed before this mail's content was sent (at MAIL or
    RCPT, or at DATA when pipelined)."""


class SmarthostTransport:
    """Relays each message through the configured smarthost over a small pool of connections.

    A connection is opened (EHLO, STARTTLS, AUTH) when no idle one is at hand and goes back to
    the pool after a mail the smarthost took with 250; the next mail starts its MAIL FROM on it
    (the end of DATA resets the transaction, RFC 5321 §4.1.1.4). At most `pool_size` connections
    wait, each for at most `idle_timeout` seconds, and none is reused after `REUSE_TIME_LIMIT`.
    After any error a connection is closed, never reused. A reused connection that turns out to
    be closed (the smarthost's own idle timeout: a lost connection or 421) before the mail's
    content was sent is replaced by a fresh one, once; from then on, nothing is retried here
    (the queue decides). MAIL, RCPT and DATA go in one write when the smarthost offers
    PIPELINING (gateway.smtp_out.pipelining).
    """

    def __init__(
        self,
        settings: DeliverySettings,
        *,
        local_hostname: str,
        timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        pool_size: int = POOL_SIZE,
        idle_timeout: float = IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`tls_context` replaces the system trust store when verifying (tests, private CAs);
        `clock` (seconds, monotonic) dates the pooled connections."""
        self._host, self._port = settings.smarthost
        self._where = f"{self._host}:{self._port}"
        self._tls = settings.smarthost_tls
        self._verify = settings.smarthost_verify_tls
        self._tls_context = tls_context if settings.smarthost_verify_tls else None
        self._local_hostname = local_hostname
        self._timeout = timeout
        self._user = settings.smarthost_user or None
        self._password = _read_password(settings) if self._user else None
        self._pool_size = pool_size
        self.concurrency = pool_size  # as many at once as connections wait in the pool
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._idle: list[_Connection] = []  # most recently used last
        self._closing: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._closed = False

    reserved = staticmethod(unreserved)  # the smarthost takes as many as the pool opens
    crowded = staticmethod(uncrowded)

    async def send(self, mail: Outgoing) -> str:
        connection = self._reusable()
        if connection is not None:
            try:
                return await self._transaction(connection, mail, reused=True)
            except _Stale:
                log.info("connection to %s closed while idle; sending on a new one", self._where)
        return await self._transaction(await self._connect(), mail, reused=False)

    async def close(self) -> None:
        """Close the idle connections (QUIT) and wait for those being closed; at shutdown."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        idle, self._idle = self._idle, []
        for connection in idle:
            self._retire(connection)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _connect(self) -> _Connection:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            use_tls=self._tls == "tls",
            start_tls=self._tls == "starttls",
            validate_certs=self._verify,
            tls_context=self._tls_context,
            username=self._user,
            password=self._password,
        )
        try:
            await client.connect()
            await greeted(client)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            client.close()
            raise failure_from(err, self._where) from err
        except BaseException:
            client.close()
            raise
        return _Connection(client, opened=self._clock())

    async def _transaction(self, connection: _Connection, mail: Outgoing, *, reused: bool) -> str:
        """The mail handed over on `connection` (`hand_over`); the connection goes back to the
        pool only after a 250 to DATA."""
        client = connection.client
        in_data = False  # once its content is sent, the mail may be taken: never retried here

        def sending() -> None:
            nonlocal in_data
            in_data = True

        try:
            response = await hand_over(client, mail, sending=sending)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            self._retire(connection)  # never reused after an error
            if reused and not in_data and _closed_connection(err):
                raise _Stale from err
            raise failure_from(err, self._where) from err
        except BaseException:  # cancelled: the connection is in an unknown state
            client.close()
            raise
        # Handed over: whatever happens to the connection now must not make the queue resend.
        self._release(connection)
        return f"{self._where} said: 250 {response.message}"

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection still open; the others' turn to be closed."""
        now = self._clock()
        while self._idle:
            connection = self._idle.pop()
            if connection.client.is_connected and now - connection.idle_since < self._idle_timeout:
                return connection
            self._retire(connection)
        return None

    def _release(self, connection: _Connection) -> None:
        now = self._clock()
        if (
            self._closed
            or len(self._idle) >= self._pool_size
            or now - connection.opened >= REUSE_TIME_LIMIT
            or not connection.client.is_connected
        ):
            self._retire(connection)
            return
        connection.idle_since = now
        self._idle.append(connection)
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().call_later(self._idle_timeout, self._reap)

    def _reap(self) -> None:
        """Close the connections idle for `idle_timeout`; look again when the next one is due."""
        self._reaper = None
        now = self._clock()
        expired = [c for c in self._idle if now - c.idle_since >= self._idle_timeout]
        self._idle = [c for c in self._idle if c not in expired]
        for connection in expired:
            self._retire(connection)
        if self._idle:
            due = self._idle[0].idle_since + self._idle_timeout - now
            self._reaper = asyncio.get_running_loop().call_later(max(due, 0.1), self._reap)

    def _retire(self, connection: _Connection) -> None:
        """Say QUIT and close, in the background: nobody waits for a connection to close."""
        if not connection.client.is_connected:
            connection.client.close()
            return
        task = asyncio.get_running_loop().create_task(self._quit(connection.client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _quit(self, client: aiosmtplib.SMTP) -> None:
        try:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit(timeout=min(self._timeout, QUIT_TIMEOUT))
        finally:
            client.close()


async def hand_over(
    client: aiosmtplib.SMTP, mail: Outgoing, *, sending: Callable[[], None] = lambda: None
) -> aiosmtplib.SMTPResponse:
    """MAIL, RCPT and DATA for `mail` on a greeted connection (`greeted`), then its content:
    the server's 250 to it, or the error aiosmtplib raises for a refusal. The three commands go
    in one write when the server offers PIPELINING and the mail is CRLF throughout with plain
    addresses, as the scheduler's mails are (gateway.smtp_out.pipelining: two round trips a
    mail instead of four). `sending()` is called once the mail may be taken: before its DATA
    command, or before its content when pipelined."""
    payload = dot_stuffed(mail.message)  # once for SIZE and DATA
    options = _size_option(client, mail.message, payload)
    sender, recipient = bracketed(mail.mail_from), bracketed(mail.rcpt)
    if payload is None or sender is None or recipient is None or not Pipelined.offered(client):
        await envelope(client, mail, options, sender, recipient)
        sending()
        return await data(client, mail.message, payload)
    with Pipelined(client) as pipelined:
        extra = [option.encode("ascii") for option in options]
        await pipelined.envelope(mail.mail_from, mail.rcpt, sender, recipient, extra)
        sending()
        return await pipelined.content(payload)


async def greeted(client: aiosmtplib.SMTP) -> None:
    """EHLO (HELO if it is refused) now, as aiosmtplib says it before the first MAIL when the
    connection did not need it (no STARTTLS, no AUTH): the first mail then knows whether it
    can be pipelined."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not client.is_connected:
                raise
            await client.helo()


def _size_option(client: aiosmtplib.SMTP, message: bytes, payload: bytes | None) -> list[str]:
    """RFC 1870 SIZE, when the server offers it; `payload` is `dot_stuffed(message)`."""
    if not client.supports_extension("size"):
        return []
    return [f"SIZE={len(message) if payload is not None else message_size(message)}"]


def message_size(message: bytes) -> int:
    """The octets DATA sends for `message` (line ends as CRLF, one at the end; RFC 1870 §3).

    Counted without copying when the message is CRLF throughout, as the scheduler's mails are.
    """
    if _crlf_throughout(message):
        return len(message)
    return len(normalize_message_line_endings(message))


def _crlf_throughout(message: bytes) -> bool:
    """Whether every line of `message` ends with CRLF, the last one included: no CR or LF is
    left once every CRLF is taken out. (Counting each byte instead, as before, walked the
    message three times at ~1 GB/s: `bytes.count` of a single byte is a plain loop, where the
    removal searches for the pair and the two looks are memchr's: 230 -> 55 µs for 100 KB.)"""
    if not message.endswith(b"\r\n"):
        return False
    rest = message.replace(b"\r\n", b"")
    return b"\r" not in rest and b"\n" not in rest


def dot_stuffed(message: bytes) -> bytes | None:
    """What DATA sends for a message that is CRLF throughout (RFC 5321 §4.5.2: a line that
    starts with a period gets a second one; the end-of-data line after it), else None.

    The same bytes as aiosmtplib's line-end normalisation and period regex make
    (tests/unit/test_smtp_out_transport.py compares them), by two byte scans instead of two
    regular-expression substitutions (~0.9 ms for a 80 KB proof mail).
    """
    span = getattr(message, "base64_span", None)  # gateway.compose.parts.WholeMail
    if span is not None and (span[0] == 0 or message.endswith(b"\r\n", 0, span[0])):
        return _stuffed_around(message, *span)
    if not _crlf_throughout(message):
        return None
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    return (b"." if stuffed.startswith(b".") else b"") + stuffed + b".\r\n"


def _stuffed_around(message: bytes, start: int, end: int) -> bytes | None:
    """dot_stuffed for a message whose [start, end) are base64 lines (each ending in CRLF,
    none starting with a period) after a line end: only the bytes around them are looked at
    (a proof mail's PDF is most of its ~100 KB: ~0.3 ms for two scans)."""
    head, lines, tail = message[:start], message[start:end], message[end:]
    if (head and not _crlf_throughout(head)) or (tail and not _crlf_throughout(tail)):
        return None
    stuffed_head = head.replace(b"\r\n.", b"\r\n..")
    lead = b"." if stuffed_head.startswith(b".") else b""
    # the tail starts a line (after the lines, or at the very start): a period there too
    stuffed_tail = (b"\r\n" + tail).replace(b"\r\n.", b"\r\n..")[2:]
    return lead + stuffed_head + lines + stuffed_tail + b".\r\n"


# an address aiosmtplib's quote_address gives back as it is, in angle brackets: a dot-atom
# local part and an LDH domain (tests/unit/test_smtp_out_transport.py compares them)
_PLAIN_ADDRESS = re.compile(rf"{DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def bracketed(address: str) -> bytes | None:
    """`quote_address(address)` for a plain address (else None), without its parser: the
    email package's parseaddr (~0.1 ms, twice a mail)."""
    if address and _PLAIN_ADDRESS.fullmatch(address) is None:
        return None
    return b"<" + address.encode("ascii") + b">"


async def envelope(
    client: aiosmtplib.SMTP,
    mail: Outgoing,
    options: list[str],
    sender: bytes | None,
    recipient: bytes | None,
) -> None:
    """MAIL FROM and RCPT TO as aiosmtplib's `mail` and `rcpt` send them, the same errors
    raised; the addresses written here when plain (`sender` and `recipient`: `bracketed`, None
    otherwise) once EHLO was said."""
    if sender is None or recipient is None or client.last_ehlo_response is None:
        await client.mail(mail.mail_from, options=options)
        await client.rcpt(mail.rcpt)
        return
    extra = [option.encode("ascii") for option in options]
    response = await client.execute_command(b"MAIL", b"FROM:" + sender, *extra)
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, mail.mail_from)
    response = await client.execute_command(b"RCPT", b"TO:" + recipient)
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, mail.rcpt)


async def data(
    client: aiosmtplib.SMTP, message: bytes, payload: bytes | None
) -> aiosmtplib.SMTPResponse:
    """DATA and the message (after MAIL and RCPT): aiosmtplib's `data`, but a message that is
    CRLF throughout, as the scheduler's mails are, is written as it is: `payload`, its
    `dot_stuffed` bytes (None for another message)."""
    protocol = client.protocol
    if payload is None or protocol is None:
        return await client.data(message)
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol.write(payload)  # read_response expects the reply before it first yields
    response = await protocol.read_response(timeout=client.timeout)
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def _closed_connection(err: Exception) -> bool:
    """Whether `err` says the connection was closed, not that the server refused the mail."""
    if isinstance(err, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return True
    return isinstance(err, aiosmtplib.SMTPResponseException) and err.code == 421  # closing


def _read_password(settings: DeliverySettings) -> str:
    path = settings.smarthost_password_file
    if path is None:
        raise ConfigError("delivery.smarthost_password_file: required with delivery.smarthost_user")
    try:
        return path.read_text(encoding="utf-8").strip("\r\n")
    except OSError as err:
        raise ConfigError(f"delivery.smarthost_password_file: {path}: {err.strerror}") from None


# ---------------------------------------------------------------------------------------------
# Outbox (Maildir)


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the outbox, as listed for people (the development web page)."""

    name: str
    mail_from: str
    to: str
    subject: str
    date: datetime
    size: int


class OutboxTransport:
    """Delivers into a Maildir (tmp/, new/, cur/) instead of the network; for development.

    Each message gets the name `<id>.eml` and two fields on top, as a local delivery agent adds
    them: `Return-Path: <mail_from>` and `Delivered-To: rcpt`. The same id is delivered once.
    """

    reserved = staticmethod(unreserved)
    crowded = staticmethod(uncrowded)
    concurrency = 20

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, mail: Outgoing) -> str:
        if not _SAFE_ID.match(mail.id):
            raise ValueError(f"outbound id {mail.id!r} cannot name a Maildir file")
        if any(c in address for address in (mail.mail_from, mail.rcpt) for c in "\r\n"):
            raise ValueError("an envelope address contains a line break")
        return await asyncio.to_thread(self._deliver, mail)

    def _deliver(self, mail: Outgoing) -> str:
        for sub in ("tmp", "new", "cur"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        name = f"{mail.id}.eml"
        existing = self._find(name)
        if existing is not None:
            return str(existing)
        tmp = self.directory / "tmp" / f"{name}.{os.getpid()}.{uuid.uuid4().hex}"
        final = self.directory / "new" / name
        eol = "\r\n" if b"\r\n" in mail.message else "\n"
        top = f"Return-Path: <{mail.mail_from}>{eol}Delivered-To: {mail.rcpt}{eol}"
        with tmp.open("wb") as out:
            out.write(top.encode("utf-8") + mail.message)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, final)  # Maildir delivery: link never replaces a file of the same name
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        _fsync_directory(final.parent)
        return str(final)

    def list(self) -> builtins.list[OutboxEntry]:
        """Every delivered message, newest first."""
        files = [
            path
            for sub in ("new", "cur")
            if (self.directory / sub).is_dir()
            for path in (self.directory / sub).iterdir()
            if path.is_file() and _SAFE_NAME.match(path.name)
        ]
        files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name), reverse=True)
        return [_entry(path) for path in files]

    def read(self, name: str) -> bytes:
        """The stored message called `name` (as listed); KeyError for any other name."""
        path = self._find(name) if _SAFE_NAME.match(name) else None
        if path is None:
            raise KeyError(name)
        return path.read_bytes()

    def _find(self, name: str) -> Path | None:
        stem = name.partition(":")[0]
        for path in (self.directory / "new" / name, self.directory / "new" / stem):
            if path.is_file():
                return path
        cur = self.directory / "cur"
        if cur.is_dir():
            for path in cur.iterdir():
                if path.name == name or path.name.partition(":")[0] == stem:
                    return path
        return None


def _entry(path: Path) -> OutboxEntry:
    with path.open("rb") as file:
        fields = BytesHeaderParser(policy=policy.default).parse(file)
    stat = path.stat()
    date = datetime.fromtimestamp(stat.st_mtime, UTC)
    with contextlib.suppress(TypeError, ValueError):
        parsed = parsedate_to_datetime(str(fields.get("Date", "")))
        date = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return OutboxEntry(
        name=path.name,
        mail_from=str(fields.get("Return-Path", "")).strip("<>"),
        to=str(fields.get("Delivered-To", "") or fields.get("To", "")),
        subject=str(fields.get("Subject", "")),
        date=date,
        size=stat.st_size,
    )


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
