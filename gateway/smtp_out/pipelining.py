"""A mail handed to the next hop with MAIL, RCPT and DATA in one write (RFC 2920 PIPELINING).

Without pipelining each of the three commands waits for its reply: four round trips a mail
with the content's, two with it. On loopback that is four wake-ups of the gateway's main
process and of the next hop instead of eight for every letter (a notification and a proof
mail); towards a smarthost or an MX across a network it halves a mail's time on a connection,
so the smarthost's pool hands over about twice as many.

aiosmtplib (which opens, secures, authenticates and closes the connections) reads one reply at
a time and drops what arrives while a reply waits to be picked up, so it cannot read the three
replies of a pipelined group. For the transaction the connection's transport is given to a
`ReplyReader` (`transport.set_protocol`, as `loop.start_tls` does), which parses every reply as
it arrives, as aiosmtplib parses one (`replies_in`, compared with it by the tests); aiosmtplib's
protocol gets the connection back afterwards, and is told if it was lost meanwhile.

The content is written only after the 354 to DATA, so a mail can have been taken only from then
on (`Pipelined.content`); a refusal of MAIL or RCPT raises the error aiosmtplib's `mail` and
`rcpt` raise. A server that answers 354 although it refused the sender or the recipient gets no
content: the connection is closed instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

import aiosmtplib
from aiosmtplib.protocol import MAX_LINE_LENGTH, MAX_RESPONSE_LENGTH, SMTPProtocol
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

INVALID: Final = SMTPStatus.invalid_response.value


def replies_in(buffer: bytearray) -> list[SMTPResponse]:
    """The whole replies at the start of `buffer`, taken out of it; a reply not yet whole stays.

    Each reply as aiosmtplib's `SMTPProtocol._read_response_from_buffer` makes one: its code
    that of its last line, its text the lines' texts (after the code and its separator, spaces,
    tabs and line ends stripped) joined by newlines, an empty first text not followed by one;
    a line over MAX_LINE_LENGTH, or that does not start with a number, raises
    SMTPResponseException with aiosmtplib's code and words."""
    found: list[SMTPResponse] = []
    taken = offset = 0
    message = bytearray()
    while (end := buffer.find(b"\n", offset)) != -1:
        line = bytes(buffer[offset : end + 1])
        if len(line) > MAX_LINE_LENGTH:
            raise aiosmtplib.SMTPResponseException(INVALID, "Response too long")
        try:
            code = int(line[:3])
        except ValueError:
            text = line.decode("utf-8", errors="ignore")
            raise aiosmtplib.SMTPResponseException(
                INVALID, f"Malformed SMTP response line: {text}"
            ) from None
        offset = end + 1
        if message:
            message += b"\n"
        message += line[4:].strip(b" \t\r\n")
        if line[3:4] != b"-":
            found.append(SMTPResponse(code, bytes(message).decode("utf-8", "surrogateescape")))
            message = bytearray()
            taken = offset
    del buffer[:taken]
    return found


class ReplyReader(asyncio.Protocol):
    """The protocol of a connection while a pipelined transaction runs on it: every reply
    parsed as it arrives and kept in order until read (`reply`)."""

    def __init__(self, owner: SMTPProtocol, timeout: float | None) -> None:
        self._owner = owner  # aiosmtplib's protocol: the connection goes back to it
        self._timeout = timeout
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._error: aiosmtplib.SMTPException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return
        self._buffer += data
        try:
            self._replies.extend(replies_in(self._buffer))
            if len(self._buffer) > MAX_RESPONSE_LENGTH:
                raise aiosmtplib.SMTPResponseException(INVALID, "Response too long")
        except aiosmtplib.SMTPResponseException as err:
            self._error = err
        self._wake()

    def eof_received(self) -> bool:
        self._failed(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # the transport closes: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        error = aiosmtplib.SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._failed(error)
        self._owner.connection_lost(exc)  # aiosmtplib learns it too: no longer connected

    def pause_writing(self) -> None:
        self._owner.pause_writing()

    def resume_writing(self) -> None:
        self._owner.resume_writing()

    async def reply(self) -> SMTPResponse:
        """The next reply, once it has arrived; SMTPServerDisconnected when the connection
        ended before it, SMTPReadTimeoutError after the client's timeout."""
        while not self._replies:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._waiter
            except TimeoutError as err:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for server response"
                ) from err
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _failed(self, error: aiosmtplib.SMTPException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Pipelined:
    """One transaction on `client`'s connection with MAIL, RCPT and DATA pipelined:

        with Pipelined(client) as pipelined:
            await pipelined.envelope(mail_from, rcpt, b"<a@b>", b"<c@d>", [b"SIZE=123"])
            response = await pipelined.content(payload)

    Only for a client whose server offered PIPELINING (`offered`)."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        owner = client.protocol
        if owner is None or owner.transport is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._owner = owner
        self._transport: asyncio.Transport = owner.transport  # type: ignore[assignment]
        self._reader = ReplyReader(owner, client.timeout)

    @staticmethod
    def offered(client: aiosmtplib.SMTP) -> bool:
        return client.last_ehlo_response is not None and client.supports_extension("pipelining")

    def __enter__(self) -> Pipelined:
        self._transport.set_protocol(self._reader)
        return self

    def __exit__(self, *_: object) -> None:
        self._transport.set_protocol(self._owner)

    async def envelope(
        self, mail_from: str, rcpt: str, sender: bytes, recipient: bytes, options: list[bytes]
    ) -> None:
        """MAIL FROM:`sender` with `options`, RCPT TO:`recipient` and DATA in one write (each
        as aiosmtplib's execute_command writes it); returns once DATA has its 354. A refused
        sender or recipient raises SMTPSenderRefused or SMTPRecipientRefused (the first refusal
        heard, even if the connection then ended), another reply to DATA SMTPDataError."""
        mail = b" ".join([b"MAIL", b"FROM:" + sender, *options])
        self._write(mail + b"\r\nRCPT TO:" + recipient + b"\r\nDATA\r\n")
        heard: list[SMTPResponse] = []
        try:
            for _ in range(3):
                heard.append(await self._reader.reply())
        except aiosmtplib.SMTPException:  # the connection ended, a timeout, a malformed reply
            if not _refusal(heard):
                raise
        if len(heard) == 3 and heard[2].code == 354 and _refusal(heard):
            self._transport.close()  # it waits for a content we will not send
        match heard:
            case [first, *_] if first.code != 250:
                raise aiosmtplib.SMTPSenderRefused(first.code, first.message, mail_from)
            case [_, second, *_] if second.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(second.code, second.message, rcpt)
            case [_, _, third] if third.code != 354:
                raise aiosmtplib.SMTPDataError(third.code, third.message)

    async def content(self, payload: bytes) -> SMTPResponse:
        """The dot-stuffed content and its end (`payload`), after the 354: the reply to it,
        250 or SMTPDataError."""
        self._write(payload)
        response = await self._reader.reply()
        if response.code != 250:
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        return response

    def _write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._transport.write(data)


def _refusal(heard: list[SMTPResponse]) -> bool:
    """Whether MAIL's or RCPT's reply among those heard refuses."""
    return (len(heard) > 0 and heard[0].code != 250) or (
        len(heard) > 1 and heard[1].code not in (250, 251)
    )
