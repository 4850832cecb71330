"""A real SMTP server for tests: aiosmtpd in the test's own event loop (Mailman testing/mta.py).

    async with SinkMTA(tls="starttls", auth=True) as sink:
        sink.inject("RCPT", "550 5.1.1 No such user", times=1)
        ...  # talk to sink.host, sink.port
        assert sink.messages[0].rcpt_tos == ("bob@example.org",)

It offers PIPELINING and counts the transactions a client pipelined. It records every
accepted message; `inject` makes the next N MAIL, RCPT or DATA commands answer
a chosen reply instead (or drop the connection, with SinkMTA.DROP); `reject` refuses given
recipients on every RCPT. TLS uses a trustme CA: `sink.client_context()` trusts it. It counts
connections, logins and QUITs, and `close_connections()` hangs up on every client as a server's
idle timeout does (421, then close).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
USER = "relay@lre.localhost"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Received:
    """One message the sink accepted, with how the client got there."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None


class _Handler:
    """aiosmtpd hooks: answer injected replies first, otherwise accept and record."""

    def __init__(self, sink: SinkMTA) -> None:
        self._sink = sink

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self._sink.pipelining:  # aiosmtpd reads commands one by one, written together or not
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # what the client wrote after MAIL and the sink has not read yet: RCPT and DATA when
        # the client pipelined them (RFC 2920)
        unread = bytes(server._reader._buffer)  # type: ignore[attr-defined]
        self._sink.pipelined += b"RCPT TO:" in unread and b"DATA\r\n" in unread
        injected = self._sink._injected("MAIL", server)
        if injected is not None:
            return injected
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        injected = self._sink._injected("RCPT", server) or self._sink.reject.get(address.lower())
        if injected is not None:
            return injected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        injected = self._sink._injected("DATA", server)
        if injected is not None:
            return injected
        assert isinstance(envelope.content, bytes)
        if self._sink.on_data is not None:
            await self._sink.on_data(envelope)
        if self._sink.data_delay:
            self._sink.in_data += 1
            self._sink.most_at_once = max(self._sink.most_at_once, self._sink.in_data)
            await asyncio.sleep(self._sink.data_delay)
            self._sink.in_data -= 1
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        self._sink.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.content,
                tls=server.transport is not None
                and server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return f"250 2.0.0 Ok: queued as S{len(self._sink.messages)}"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._sink.quits += 1
        return "221 2.0.0 Bye"


class SinkMTA:
    """An SMTP server on 127.0.0.1:<free port> that records what it accepts."""

    DROP = "<drop the connection>"

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "tls"] = "none",
        auth: bool = False,
        user: str = USER,
        password: str = PASSWORD,
        hostname: str = "sink.test",
        port: int = 0,
        reject: dict[str, str] | None = None,
        host: str = HOST,
        data_delay: float = 0.0,
        on_data: Callable[[Envelope], Awaitable[None]] | None = None,
        pipelining: bool = True,
    ) -> None:
        """`port` 0 picks a free one; `reject` maps recipients to a RCPT reply given every time.

        `host` may be any loopback address (127.0.0.2, ...: several MX hosts on the same port);
        `data_delay` holds each DATA that long, counting sessions in DATA at once (`most_at_once`);
        `on_data` runs on each message received, before the 250 to DATA; `pipelining` offers
        PIPELINING (RFC 2920) in the reply to EHLO, as Postfix does.
        """
        self.pipelining = pipelining
        self.pipelined = 0  # MAIL commands that arrived with their RCPT and DATA
        self.tls = tls
        self.auth = auth
        self.user = user
        self.password = password
        self.hostname = hostname
        self.host = host
        self.port = port
        self.data_delay = data_delay
        self.on_data = on_data
        self.in_data = 0
        self.most_at_once = 0
        self.reject = {address.lower(): reply for address, reply in (reject or {}).items()}
        self.messages: list[Received] = []
        self.logins = 0  # successful AUTH commands
        self.quits = 0  # QUIT commands
        self.ca = trustme.CA()
        self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(host, "localhost").configure_cert(self._server_context)
        self._replies: defaultdict[str, deque[str]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []
        self._connections: list[asyncio.BaseTransport] = []  # each session's socket transport

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this sink's certificate."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def inject(self, command: str, reply: str, *, times: int = 1) -> None:
        """Answer the next `times` MAIL, RCPT or DATA commands with `reply` (or SinkMTA.DROP)."""
        command = command.upper()
        if command not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"cannot inject a reply to {command}")
        self._replies[command].extend([reply] * times)

    def _injected(self, command: str, server: SMTP) -> str | None:
        queue = self._replies[command]
        if not queue:
            return None
        reply = queue.popleft()
        if reply == self.DROP:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 4.4.2 closing"  # never reaches the client
        return reply

    @property
    def connections(self) -> int:
        """How many connections clients have opened so far."""
        return len(self._sessions)

    def close_connections(self) -> None:
        """Hang up on every connected client, as a server's idle timeout does (Postfix: 421)."""
        for session in self._sessions:
            transport = session.transport
            if isinstance(transport, asyncio.Transport) and not transport.is_closing():
                transport.write(b"421 4.4.2 sink.test Error: timeout exceeded\r\n")
                transport.close()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.user.encode()
            and data.password == self.password.encode()
        )
        self.logins += ok
        return AuthResult(success=ok, handled=False, auth_data=data)

    def _protocol(self) -> SMTP:
        session = SMTP(
            _Handler(self),
            hostname=self.hostname,
            tls_context=self._server_context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            # aiosmtpd cannot tell an implicit-TLS socket from plain text: it only counts STARTTLS.
            auth_require_tls=self.tls == "starttls",
            authenticator=self._authenticate if self.auth else None,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.append(session)
        made = session.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            # the first, unless TLS is implicit: the socket's own (STARTTLS wraps it later)
            if session.transport is None and self.tls != "tls":
                self._connections.append(transport)
            made(transport)

        session.connection_made = connection_made  # type: ignore[method-assign]
        return session

    async def __aenter__(self) -> SinkMTA:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self.host,
            self.port,
            ssl=self._server_context if self.tls == "tls" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        pending = []
        for session in self._sessions:  # Python 3.11's wait_closed() leaves sessions running
            if session.transport is not None:
                session.transport.close()
            task = session._handler_coroutine
            if task is not None and not task.done():
                task.cancel()
                pending.append(task)
        await asyncio.gather(*pending, return_exceptions=True)
        # what closing left open (a TLS shutdown under way with a client that went away):
        # closed at once, so that no socket is left to the garbage collector after this loop
        # (a ResourceWarning in whichever test runs then)
        for transport in self._connections:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        await asyncio.sleep(0)
