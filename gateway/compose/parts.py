"""MIME bodies written directly as bytes (RFC 2045/2046), for the mails the gateway sends often.

The `email` package builds a message as a tree of header objects and flattens it through its
generator: about 3 ms for a proof mail with its PDF, and as much again to parse it back for the
S/MIME signature. Our bodies have a fixed shape (text parts, attachments with fixed ASCII
names), so they are written here as bytes in one pass: base64 and quoted-printable come from
`binascii` (C); so are their header fields (gateway/compose/headers.py).

A boundary is "----=_<kind>_<random>": "=_" cannot occur in base64 nor in quoted-printable
(where "=" is always followed by two hex digits or a line break), and `multipart` checks
every part for it anyway, so no part can end the multipart early (RFC 2046 §5.1.1).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import secrets
import struct
from collections.abc import Sequence
from typing import Final

from pybase64 import b64encode

from gateway.compose.mail import MAX_LINE

CRLF: Final = b"\r\n"
BASE64_LINE: Final = 76  # characters of a base64 line (RFC 2045 §6.8)


def whole_message(head: bytes, content_type: bytes, language: str, body: bytes) -> bytes:
    """A mail: its header fields (`headers.header_fields`), MIME-Version, the body's
    Content-Type, its language(s), its body."""
    return b"".join(
        [
            head,
            b"MIME-Version: 1.0\r\n",
            content_type,
            b"Content-Language: " + language.encode("ascii") + b"\r\n",
            b"\r\n",
            body,
        ]
    )


def new_boundary(kind: str) -> bytes:
    return f"----=_{kind}_{secrets.token_hex(12)}".encode("ascii")


def text_part(text: str, subtype: str = "plain", *, seven_bit: bool = False) -> bytes:
    """A text/<subtype> UTF-8 part with CRLF line ends: 8bit (links stay greppable in the raw
    mail) unless a line is too long for SMTP or `seven_bit` asks for quoted-printable."""
    lines = text.encode("utf-8").splitlines()
    body = CRLF.join(lines) + CRLF
    long_line = max(map(len, lines), default=0) > MAX_LINE
    if seven_bit or long_line:
        cte = b"quoted-printable"
        body = binascii.b2a_qp(body, istext=True)
        if not body.endswith(CRLF):
            body += CRLF
    else:
        cte = b"8bit"
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + cte + CRLF + CRLF + body
    )


def attachment_part(data: bytes, content_type: str, filename: str) -> bytes:
    """A base64 attachment; `filename` is one of ours (ASCII, no quote)."""
    if not filename.isascii() or '"' in filename or "\\" in filename:
        raise ValueError(f"attachment name {filename!r} needs RFC 2231 encoding")
    return (
        b"Content-Type: " + content_type.encode("ascii") + CRLF
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="' + filename.encode("ascii") + b'"\r\n'
        + CRLF
        + base64_lines(data)
    )  # fmt: skip


def base64_lines(data: bytes) -> bytes:
    """`data` in base64, 76 characters a line, each ended by CRLF (RFC 2045 §6.8), as
    base64.encodebytes writes it, but encoded at once (encodebytes encodes each 57 bytes in a
    call: a certificate's thousand lines cost it a third more) and by pybase64 (SIMD: a 58 KB
    certificate in ~6 µs here against 65 to 100 with binascii; the tests compare it with the
    standard library), then cut into lines by one `struct` unpacking (a slice per line cost as
    much again as the encoding).

    The last large data encoded is remembered with its lines: a proof mail's PDF is encoded
    where the mail is composed, then looked for in the signed mail (`without_attachment`)."""
    last = _last_encoded[0]  # a tuple: read whole, whatever another thread stores meanwhile
    if last[0] is data:
        return last[1]
    encoded = b64encode(data)
    whole, rest = divmod(len(encoded), BASE64_LINE)
    lines = [*_line_cutter(whole).unpack_from(encoded), *([encoded[-rest:]] if rest else [])]
    made = CRLF.join(lines) + CRLF if lines else b""
    # bytes only: immutable, so the same object always has the same lines
    if len(data) >= REMEMBERED and type(data) is bytes:
        _last_encoded[0] = (data, made)
    return made


REMEMBERED: Final = 4096  # bytes of data from which its base64 lines are remembered
# the last such data (the object itself, kept alive: `is` cannot mistake another) and its lines
_last_encoded: list[tuple[bytes, bytes]] = [(b"", b"")]


@functools.lru_cache(maxsize=64)
def _line_cutter(lines: int) -> struct.Struct:
    """Unpacks so many base64 lines of BASE64_LINE characters each."""
    return struct.Struct(f"{BASE64_LINE}s" * lines)


# Where a stored mail's attachment stood (`without_attachment`): a NUL byte, which no mail holds
# (RFC 5322 §2.3, and the composed mails are 7-bit), then the attachment's SHA-256.
_HOLE: Final = b"\x00attachment sha256="


def without_attachment(message: bytes, data: bytes) -> bytes:
    """`message` with the base64 body of `data`, an attachment it carries once, replaced by a
    reference to `data`: what to store of a mail whose attachment is stored already (a proof
    mail and its PDF). `with_attachment(stored, data)` gives `message` back byte for byte, so
    a signed mail stays signed. A message that does not carry `data` once is kept whole; one
    that holds a NUL byte is refused (ValueError): the reference starts with one, and a mail
    composed here is 7-bit, so a NUL in it would be a bug, and its stored form ambiguous."""
    if b"\x00" in message:
        raise ValueError("a mail holding a NUL byte is not stored without its attachment")
    lines = base64_lines(data)
    at = _found(message, lines, 0)
    if not lines or at < 0 or _found(message, lines, at + 1) >= 0:
        return message
    hole = _HOLE + hashlib.sha256(data).hexdigest().encode("ascii") + b"\x00"
    return message[:at] + hole + message[at + len(lines) :]


def _found(message: bytes, lines: bytes, start: int) -> int:
    """message.find(lines, start), looked for by its first line, then compared whole: finding
    ~100 KB of base64 as such costs ~0.15 ms (the search first studies the whole needle)."""
    head = lines[: BASE64_LINE + 2]
    last = len(message) - len(lines) + len(head)  # where a whole occurrence's head can end
    at = message.find(head, start, last)
    while at >= 0 and message[at : at + len(lines)] != lines:
        at = message.find(head, at + 1, last)
    return at


def with_attachment(stored: bytes, data: bytes | None) -> bytes:
    """The mail `without_attachment` stored, whole again with `data`; ValueError when `data`
    is not the attachment it stood for (a mail is never sent with another one)."""
    at = stored.find(_HOLE)
    if at < 0:
        return stored
    end = stored.index(b"\x00", at + len(_HOLE))
    digest = stored[at + len(_HOLE) : end].decode("ascii")
    if data is None or hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"the stored mail's attachment (SHA-256 {digest}) is not at hand")
    lines = base64_lines(data)
    whole = WholeMail(stored[:at] + lines + stored[end + 1 :])
    whole.base64_span = (at, at + len(lines))
    return whole


def as_whole(message: bytes, stored: bytes, data: bytes) -> WholeMail | None:
    """`message` as `with_attachment(stored, data)` gives it back, its attachment's span noted,
    where `stored` is `without_attachment(message, data)`; None when `stored` is `message`
    itself (it did not carry `data` once). For the process that made both: the one that hands
    the mail over need not encode `data` again."""
    at = stored.find(_HOLE)
    if at < 0:
        return None
    whole = WholeMail(message)
    whole.base64_span = (at, at + len(base64_lines(data)))
    return whole


class WholeMail(bytes):
    """A mail `with_attachment` made whole: its bytes, and where in them its attachment's
    base64 lines are (`base64_span`): characters of base64 only, each line ending in CRLF,
    which the hand-over need not look at (gateway.smtp_out.transport.dot_stuffed)."""

    base64_span: tuple[int, int]


def multipart(subtype: str, parts: Sequence[bytes], boundary: bytes) -> tuple[bytes, bytes]:
    """(its Content-Type field, its body) for parts each ending in CRLF; that CRLF stays the
    part's, and another one, belonging to the next delimiter, follows it (RFC 2046 §5.1.1)."""
    for part in parts:
        if b"--" + boundary in part:
            raise ValueError("a part contains the multipart's boundary")
    field = (
        b"Content-Type: multipart/" + subtype.encode("ascii") + b';\r\n boundary="' + boundary
        + b'"\r\n'
    )  # fmt: skip
    body = b"".join(b"--" + boundary + CRLF + part + CRLF for part in parts)
    return field, body + b"--" + boundary + b"--\r\n"
