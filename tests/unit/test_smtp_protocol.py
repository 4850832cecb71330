"""What aiosmtpd's per-connection set-up and argument parsing are spared, and that it loses
nothing: the short dir() of the protocol class and of the handlers (aiosmtpd still finds every
command, hook and AUTH method), and `_getaddr`'s fast path for a plain `<local@domain>`."""

import asyncio
import socket
from typing import Any

from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.settings import SmtpSettings
from gateway.smtp_in.handler import SubmissionHandler
from gateway.smtp_in.inbound import InboundHandler
from gateway.smtp_in.server import _PLAIN_ADDRESS, _Protocol, listening_sockets


class _FullDirSubmission(SubmissionHandler):
    def __dir__(self) -> list[str]:
        return list(object.__dir__(self))


class _FullDirInbound(InboundHandler):
    def __dir__(self) -> list[str]:
        return list(object.__dir__(self))


def _submission(cls: type[SubmissionHandler] = SubmissionHandler) -> SubmissionHandler:
    return cls(None, None, max_recipients=10, max_message_size=1000)  # type: ignore[arg-type]


def _inbound(cls: type[InboundHandler] = InboundHandler) -> InboundHandler:
    none: Any = None
    return cls(registry=none, bounces=none, resolver=none, domain="lre.localhost",
               trusted_relays=(), max_recipients=10, max_message_size=1000)  # fmt: skip


async def test_the_protocol_finds_the_same_commands_hooks_and_auth_methods_as_aiosmtpd():
    """Listing only the auth_/smtp_/handle_ names for aiosmtpd's per-connection look-up loses
    none: compared with aiosmtpd's own class over handlers showing their whole dir()."""
    for ours_handler, full_handler in (
        (_submission(), _submission(_FullDirSubmission)),
        (_inbound(), _inbound(_FullDirInbound)),
    ):
        ours, theirs = _Protocol(ours_handler, hostname="x"), SMTP(full_handler, hostname="x")
        assert ours._smtp_methods.keys() == theirs._smtp_methods.keys()
        assert {"EHLO", "STARTTLS", "AUTH", "DATA", "QUIT"} <= ours._smtp_methods.keys()
        assert ours._auth_methods.keys() == theirs._auth_methods.keys()
        assert ours._handle_hooks.keys() == theirs._handle_hooks.keys()
        assert {"MAIL", "RCPT", "DATA"} <= ours._handle_hooks.keys()
    assert _Protocol(_submission(), hostname="x")._auth_methods.keys() == {"LOGIN", "PLAIN"}
    assert "max_message_size" not in dir(_submission())  # the short dir() is in force


_PLAIN = ["<bench@example.ma>", "<bench@example.ma> SIZE=1024", "<r7@example.com>",
          "<a.b+c@x-y.example> BODY=8BITMIME SIZE=12", "<o'neil@example.org>"]  # fmt: skip


async def test_a_plain_address_takes_the_fast_path_with_aiosmtpds_result():
    protocol, reference = _Protocol(_submission(), hostname="x"), SMTP(_submission())
    for arg in _PLAIN:
        assert _PLAIN_ADDRESS.match(arg), arg
        assert protocol._getaddr(arg) == reference._getaddr(arg)


# what makes an address argument interesting to the email parser
_PIECES = st.sampled_from(
    ["<", ">", "@", ".", "..", "(", ")", "(c)", '"', "\\", ",", ":", ";", "[", "]", "a", "Z", "0",
     "-", "_", "+", "'", "=", "~", "é", " ", "\t", "\x0b", "\n", "\r\n", " SIZE=10", "x" * 70,
     "bench", "example.ma", "@example.ma", "<bench@example.ma>"]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
@example("<bench@example.ma>  SIZE=1")
@example("<bench@example.ma> (comment) SIZE=1")
@example("<bench@example.ma>\n")
@example("<bench@example.ma> \x0bSIZE=1")
@example("<bench@example.ma>SIZE=1")
@example("<.bench@example.ma>")
@example("<be..nch@example.ma>")
@example("<bench@example..ma>")
@example("<bench@-example.ma>")
@example("<" + "x" * 65 + "@example.ma>")
@example("<" + "x" * 64 + "@example.ma>")
async def test_getaddr_gives_what_aiosmtpds_gives(arg: str) -> None:
    protocol, reference = _Protocol(_submission(), hostname="x"), SMTP(_submission())
    assert _outcome(protocol._getaddr, arg) == _outcome(reference._getaddr, arg)


def _outcome(getaddr: Any, arg: str) -> object:
    """The result, or the exception's type (aiosmtpd's raises IndexError for "<")."""
    try:
        return getaddr(arg)
    except Exception as error:  # noqa: BLE001 - compared
        return type(error)


async def test_every_connection_sends_its_replies_without_waiting_for_an_ack() -> None:
    """TCP_NODELAY on each accepted connection, also on the SMTP processes' listening sockets
    (`listening_sockets`: socket.create_server's, protocol number 0, where asyncio sets
    nothing). Without it, the lines of aiosmtpd's multi-line EHLO reply waited for the
    client's delayed ACK: 40 ms per EHLO, two per letter with STARTTLS."""
    smtp = SmtpSettings(submission=("127.0.0.1", 0), submissions=None, inbound=None)
    sock = listening_sockets(smtp, ["submission"])["submission"]
    assert sock.proto == 0  # asyncio's own TCP_NODELAY would skip these connections
    made: list[_Protocol] = []

    def factory() -> _Protocol:
        made.append(_Protocol(_submission(), hostname="x"))
        return made[-1]

    server = await asyncio.get_running_loop().create_server(factory, sock=sock)
    async with server:
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert (await reader.readline()).startswith(b"220 ")
        transport = made[0].transport
        assert transport is not None
        accepted = transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await writer.wait_closed()
