"""SMTP listeners in the current event loop: submission (STARTTLS), submissions (implicit TLS)
and, when an inbound handler is given, the inbound (MX) port: STARTTLS offered, no AUTH.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any, AnyStr, Final, cast

from aiosmtpd.smtp import MISSING, SMTP, Session, TLSSetupException, syntax

from gateway.core.text import DOT_ATOM
from gateway.metrics import Metrics
from gateway.settings import SmtpSettings
from gateway.smtp_in import replies
from gateway.smtp_in.data import DataSection, Outcome
from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.session import HookNames
from gateway.smtp_in.tls import implicit_tls, start_tls
from gateway.startup import listen_refused

log = logging.getLogger(__name__)

SHUTDOWN_GRACE: Final = 5.0  # seconds given to deposits in flight when the gateway stops
READ_ALL: Final = 1 << 24  # bytes asked of the reader at once in DATA: all it holds
SESSION_TIMEOUT: Final = 300.0  # RFC 5321 §4.5.3.2.7: the server timeout is at least 5 minutes


class _Protocol(HookNames, SMTP):
    """aiosmtpd's SMTP with one change: its fixed replies carry enhanced status codes.

    aiosmtpd pushes a few replies itself, without a hook: "552 Error: Too much mail data" when
    DATA exceeds data_size_limit (the only way to bound memory while receiving), "530 Must
    issue a STARTTLS command first", the 552 to an oversized MAIL FROM SIZE=. `push` maps them
    to the catalogue. Everything else is handler hooks.

    With metrics, every reply is counted by code and the handling of DATA is timed.
    """

    metrics: Metrics | None = None
    listener = "submission"
    HOOK_PREFIXES = ("auth_", "smtp_")  # aiosmtpd's __init__ looks up its own with dir()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        no_delay(transport)
        super().connection_made(transport)

    def _create_session(self) -> Session:
        return _Session(self.loop)

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """aiosmtpd's STARTTLS, the TLS layer made as asyncio's `loop.start_tls` makes it, on
        either loop (smtp_in/tls.py: on uvloop, the SMTP processes', not uvloop's own TLS, which
        keeps memory for every connection). Then as aiosmtpd's `connection_made` after its
        handshake: a new session, the reader and writer on the TLS transport, the STARTTLS
        hook. What the client sent after STARTTLS in clear text is thrown away before the
        handshake (RFC 3207 §4.2, a command injected there never runs inside TLS); what it sends
        once the handshake is done, even before `start_tls` returns, is kept; a second
        STARTTLS is refused (aiosmtpd would layer TLS on TLS)."""
        if self._tls_protocol is not None:
            await self.push(replies.TLS_ACTIVE.line())
            return
        if arg or not self.tls_context:
            await super().smtp_STARTTLS(arg)  # its refusals, in its words
            return
        await self.push("220 Ready to start TLS")
        plain = cast(asyncio.WriteTransport | None, self.transport)  # uvloop's is not a subclass
        if plain is None:  # the client is gone already
            return
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        self._original_transport = plain  # closed when the connection is lost (aiosmtpd)
        try:
            tls = await start_tls(self.loop, plain, self, self.tls_context)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # aiosmtpd closes the connection on this one
            raise TLSSetupException() from error
        self._tls_protocol = _TlsInfo(tls)  # type: ignore[assignment]
        self._set_rset_state()  # type: ignore[no-untyped-call]
        self.session = self._create_session()
        self.session.peer = tls.get_extra_info("peername")
        self._reset_timeout()
        self._reader._transport = tls  # type: ignore[attr-defined]
        self._writer._transport = tls  # type: ignore[attr-defined]
        self.transport = tls
        self.session.ssl = self._tls_protocol._extra  # type: ignore[union-attr]
        hook = self._handle_hooks.get("STARTTLS")
        self._tls_handshake_okay = True if hook is None else hook(self, self.session, self.envelope)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, the section read in blocks (gateway.smtp_in.data), not by lines."""
        if self._decode_data:  # not ours: aiosmtpd's own
            await super().smtp_DATA(arg)
            return None
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return None
        if self.envelope is None or not self.envelope.rcpt_tos:
            return await self.push("503 Error: need RCPT command")
        if arg:
            return await self.push("501 Syntax: DATA")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        section = DataSection(size_limit=self.data_size_limit, line_limit=self.line_length_limit)
        while self.transport is not None:  # eof_received cancels this coroutine
            # the whole buffer: the transport stops reading past twice the reader's limit, so
            # it holds at most that and one receive (256 KiB)
            chunk = await self._reader.read(READ_ALL)
            if not chunk:  # the client went away (aiosmtpd's loop is cancelled then)
                return None
            end = section.feed(chunk)
            if end is not None:
                if end < len(chunk) and not self._reader.at_eof():
                    self._reader.feed_data(chunk[end:])  # the next command: back, in order
                break
        if section.outcome is Outcome.TOO_LONG:
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
        if section.outcome is Outcome.TOO_MUCH:
            await self.push("552 Error: Too much mail data")
        if section.outcome is not Outcome.NOMINAL:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return None
        self.envelope.content = self.envelope.original_content = section.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)
        return None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's, without its cost for a plain `<local@domain>`: (address, the rest).

        aiosmtpd's creates a typing.Protocol class on every call (MAIL and RCPT: two a letter)
        and parses with the email package's header parser (~0.1 ms each). A dot-atom local part
        and an LDH domain in angle brackets, followed by nothing or by a space and parameters,
        is read here with the result the parser gives it (tests/unit/test_smtp_protocol.py
        compares both on many arguments); everything else goes to aiosmtpd's."""
        plain = _PLAIN_ADDRESS.match(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, local = plain.group(1, 2)
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return address, arg[plain.end() :].lstrip(" \t")

    async def push(self, status: AnyStr) -> None:
        """aiosmtpd's, in the catalogue's words (`replies.native`), counted; the lines of a
        multi-line reply (EHLO's "250-…" lines, then its "250 …") are written together when
        its last one comes: one write (one TLS record, one send) and one reply counted, not
        seven."""
        if isinstance(status, str):
            status = replies.native(status, max_message_size=self.data_size_limit or 0)
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        continued: list[str | bytes] = self.__dict__.setdefault("_continued", [])
        if _CONTINUED.match(text):
            continued.append(status)
            return
        final: str | bytes = status
        if continued:
            lines = [*continued, status]
            continued.clear()
            texts = [line for line in lines if isinstance(line, str)]
            if len(texts) == len(lines):
                final = "\r\n".join(texts)
            else:  # not all alike: each line as it came
                for line in lines[:-1]:
                    await self._push_one(line)
        if self.metrics is not None:
            self.metrics.smtp_reply(self.listener, text[:3])
        await self._push_one(final)

    async def _push_one(self, line: str | bytes) -> None:
        if isinstance(line, str):
            await super().push(line)
        else:
            await super().push(line)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        if command != "DATA" or self.metrics is None:
            return await super()._call_handler_hook(command, *args)
        start = time.perf_counter()
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            self.metrics.data_answered(self.listener, time.perf_counter() - start)


_CONTINUED: Final = re.compile(r"\d{3}-")  # a line of a multi-line reply that more lines follow
# <dot-atom@LDH domain>, then the end, or blanks and then neither a blank nor a comment ("(",
# which the email parser would read as part of the address)
_PLAIN_ADDRESS: Final = re.compile(
    rf"<(({DOT_ATOM})@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?=\Z|[ \t]+[^\s(])"
)


class _Session(Session):
    """aiosmtpd's session without its deprecated `login_data` property, which logs a warning
    each time aiosmtpd sets it (on every successful AUTH): a plain attribute here (the handler
    keeps its login in `auth_data`), so no warning record is built at all."""

    login_data: Any = None


# name -> (settings attribute, implicit TLS)
LISTENERS: Final = {
    "submission": ("submission", False),
    "submissions": ("submissions", True),
    "inbound": ("inbound", False),
}
SUBMISSION: Final = ("submission", "submissions")  # the listeners `smtp.processes` serve
BACKLOG: Final = 511  # connections the kernel queues for a listener (nginx's default)


def no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a connection: aiosmtpd writes a multi-line reply (EHLO) line by line, and
    with Nagle's algorithm each line after the first waited for the client's delayed ACK, 40 ms
    per EHLO (two per letter with STARTTLS). asyncio sets it only on sockets whose protocol
    number says TCP; `socket.create_server`'s (`listening_sockets`) say 0, and their accepted
    connections inherit that."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer is gone already: aiosmtpd will see it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def listening_sockets(settings: SmtpSettings, names: Collection[str]) -> dict[str, socket.socket]:
    """Bound, listening sockets for the configured listeners among `names` (for SMTP processes
    of their own, see smtp_in/processes.py); a busy port is a ConfigError naming the key."""
    made: dict[str, socket.socket] = {}
    try:
        for name in names:
            key = LISTENERS[name][0]
            address: tuple[str, int] | None = getattr(settings, key)
            if address is None:
                continue
            try:
                made[name] = socket.create_server(address, backlog=BACKLOG)
            except OSError as err:
                raise listen_refused(f"smtp.{key}", address, err) from None
    except BaseException:
        for sock in made.values():
            sock.close()
        raise
    return made


@asynccontextmanager
async def serve(
    settings: SmtpSettings,
    handler: SubmissionHandler,
    tls: ssl.SSLContext,
    *,
    hostname: str,
    inbound: Any = None,
    metrics: Metrics | None = None,
    sockets: Mapping[str, socket.socket] | None = None,
    skip: Collection[str] = (),
) -> AsyncIterator[dict[str, tuple[str, int]]]:
    """Listen on every configured submission port; yield the bound (host, port) by name.

    With `sockets`, serve exactly those listeners on those (already listening) sockets: an SMTP
    process of its own. Listeners named in `skip` are served elsewhere (by those processes)."""
    loop = asyncio.get_running_loop()
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
    bound: dict[str, tuple[str, int]] = {}
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_close_sessions, sessions, handler)
        for name, (key, implicit) in LISTENERS.items():
            address: tuple[str, int] | None = getattr(settings, key)
            if address is None or (name == "inbound" and inbound is None) or name in skip:
                continue
            if sockets is not None and name not in sockets:
                continue
            if name == "inbound":
                made = _inbound_factory(inbound, tls, hostname=hostname, into=sessions)
            else:
                made = _factory(handler, tls, implicit=implicit, hostname=hostname, into=sessions)
            factory: Callable[[], asyncio.BaseProtocol] = _counted(made, name, metrics)
            if implicit:  # TLS from the first byte, by asyncio's TLS protocol (smtp_in/tls.py)
                factory = partial(_implicit_tls, loop, factory, tls)
            try:
                if sockets is not None:
                    server = await loop.create_server(factory, sock=sockets[name])
                else:
                    server = await loop.create_server(factory, *address, reuse_address=True)
            except OSError as err:
                raise listen_refused(f"smtp.{key}", address, err) from None
            stack.push_async_callback(_close_server, server)
            host, port = server.sockets[0].getsockname()[:2]
            bound[name] = (host, port)
            log.info("SMTP %s listening on %s:%d", name, host, port)
        yield bound


def _implicit_tls(
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], asyncio.BaseProtocol],
    context: ssl.SSLContext,
) -> asyncio.BaseProtocol:
    return implicit_tls(loop, cast(asyncio.Protocol, make()), context)


def _counted(
    make: Callable[[], SMTP], listener: str, metrics: Metrics | None
) -> Callable[[], SMTP]:
    """The protocol factory, its sessions reporting to `metrics` under the listener's name."""

    def counted() -> SMTP:
        protocol = make()
        if isinstance(protocol, _Protocol):
            protocol.metrics = metrics
            protocol.listener = listener
        return protocol

    return counted


def _factory(
    handler: SubmissionHandler,
    tls: ssl.SSLContext,
    *,
    implicit: bool,
    hostname: str,
    into: weakref.WeakSet[SMTP],
) -> Callable[[], SMTP]:
    common: dict[str, Any] = {
        "hostname": hostname,
        "ident": replies.GREETING_IDENT,
        "data_size_limit": handler.max_message_size,
        "timeout": SESSION_TIMEOUT,
        "enable_SMTPUTF8": False,
        "decode_data": False,
    }
    if implicit:
        # The socket is TLS from the first byte, but aiosmtpd only counts STARTTLS as TLS: with
        # auth_require_tls it would never offer AUTH, and auth_required without it warns (a
        # UserWarning, once per connection). So AUTH is offered here and the handler's hooks
        # require it (and check the transport really is TLS) before MAIL, RCPT and DATA.
        flags: dict[str, Any] = {"auth_required": False, "auth_require_tls": False}
    else:
        flags = {
            "tls_context": tls,
            "require_starttls": True,
            "auth_required": True,
            "auth_require_tls": True,
        }

    def make() -> SMTP:
        protocol = _Protocol(handler, loop=asyncio.get_running_loop(), **common, **flags)
        into.add(protocol)
        return protocol

    return make


def _inbound_factory(
    handler: Any, tls: ssl.SSLContext, *, hostname: str, into: weakref.WeakSet[SMTP]
) -> Callable[[], SMTP]:
    """The MX role: STARTTLS offered (never required, RFC 3207 §4), no AUTH at all."""

    def make() -> SMTP:
        protocol = _Protocol(
            handler,
            loop=asyncio.get_running_loop(),
            hostname=hostname,
            ident=replies.GREETING_IDENT,
            data_size_limit=handler.max_message_size,
            timeout=SESSION_TIMEOUT,
            enable_SMTPUTF8=False,
            decode_data=False,
            tls_context=tls,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )
        into.add(protocol)
        return protocol

    return make


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


async def _close_sessions(sessions: weakref.WeakSet[SMTP], handler: SubmissionHandler) -> None:
    """Let deposits in flight finish (briefly), then cut the remaining sessions."""
    await handler.drain(SHUTDOWN_GRACE)
    open_sessions = list(sessions)
    for session in open_sessions:
        if isinstance(session.transport, asyncio.Transport):
            session.transport.abort()
    for _ in range(100):  # connection_lost() cancels each session's task on a later loop turn
        if all(session.transport is None for session in open_sessions):
            break
        await asyncio.sleep(0.01)


class _TlsInfo:
    """What aiosmtpd reads of the TLS layer it would have made (its `_tls_protocol`): that
    there is one, and its `_extra`, the session's `ssl` (asyncio's SSLProtocol's keys)."""

    def __init__(self, tls: asyncio.BaseTransport) -> None:
        self._extra = {
            name: tls.get_extra_info(name)
            for name in ("sslcontext", "peercert", "cipher", "compression", "ssl_object")
        }
