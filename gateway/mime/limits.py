"""A bounded pre-scan of a submitted message, run before any full MIME parse (pure, no I/O).

CPython's email package is quadratic on some hostile headers (an 80 kB Content-Type of `;`
parameters took 79 s), recurses once per nesting level and builds one object per part. This
scan reads the message once, line by line where it must (header blocks) and by `bytes.find`
elsewhere (bodies), follows the MIME structure as `email.feedparser` does (boundaries of every
enclosing multipart end a part; message/* holds a message; multipart/digest's parts default to
message/rfc822) and refuses (`MessageBeyondLimit`) whatever is beyond the limits, so the parser
that runs afterwards only ever sees bounded input. Its cost is linear in the message size.
Where the scan and the email package would read a boundary differently, the parser's backstop
(`message._BoundedParser`, the same limits on the structure it builds) still bounds the work.

The limits follow Postfix where it has one (header_size_limit, header_address_token_limit,
mime_nesting_limit) and are tighter where CPython is slower than Postfix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gateway.errors import ContentReason, MessageBeyondLimit, UnreadableMessage


@dataclass(frozen=True, kw_only=True)
class MimeLimits:
    """The `[mime]` settings: what one message may hold before it is refused at DATA."""

    max_header_block: int = 512_000  # octets in all header blocks together (message and parts)
    max_header_size: int = 64_000  # octets in one header, folded lines included (Postfix: 102400)
    max_header_tokens: int = 2048  # separators in one header (Postfix header_address_token_limit)
    max_total_tokens: int = 8192  # separators in all headers together (message and parts)
    max_parameters: int = 100  # parameters of one Content-Type or Content-Disposition
    max_addresses: int = 1000  # addresses in one From/To/Cc/Bcc/Reply-To/Sender header
    max_parts: int = 1000  # MIME parts in the whole message
    max_depth: int = 32  # MIME nesting (Postfix mime_nesting_limit = 100); real mail nests 3 or 4


MAX_DEPTH_ALLOWED: Final = 100  # the scan and the parser recurse once per level: keep it shallow

_CRLF: Final = b"\r\n"
# email.feedparser's headerRE: a header line, a continuation line, or an mbox "From " line
_HEADER_LINE: Final = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
# The separators the header parser makes tokens of (its cost grows with their square).
_SEPARATORS: Final = b'"\\(),;:<>@[]='
_ADDRESS_HEADERS: Final = frozenset(
    {b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc"}
    | {b"resent-" + name for name in (b"from", b"sender", b"to", b"cc", b"bcc")}
)
_PARAMETER_HEADERS: Final = frozenset({b"content-type", b"content-disposition"})
_COMMENT: Final = re.compile(rb"\([^()]*\)")
_PARAMETER: Final = re.compile(rb';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_ESCAPE: Final = re.compile(rb"\\(.)")

_Hit = tuple[int, bool]  # (index of the enclosing boundary met, whether it closes)


Span = tuple[int, int]  # [start, end) of one part in the message: its headers and body


@dataclass(frozen=True)
class Scanned:
    """What the pre-scan saw of a message within its limits."""

    # where each leaf part lies, in document order: the parts the email package gives as
    # leaves (an attached message is one leaf), so a part can later be read on its own
    leaves: tuple[Span, ...]
    # the bodies of the parts that are neither multipart nor message/* and lie in no attached
    # message, [start, end): from after their header block to the CRLF before the boundary
    # that ends them (included), or to the end
    bodies: tuple[Span, ...]


def check_limits(content: bytes, limits: MimeLimits) -> tuple[Span, ...]:
    """Refuse a message beyond limits (`MessageBeyondLimit`, or `UnreadableMessage`).

    Returns where each leaf part lies (`Scanned.leaves`).
    """
    return scan_message(content, limits).leaves


def scan_message(content: bytes, limits: MimeLimits) -> Scanned:
    """check_limits, with the bodies of the message's plain parts (`Scanned.bodies`)."""
    scan = _Scan(content, limits)
    scan.entity(0, 0, (), b"text/plain", record=True)
    return Scanned(tuple(scan.leaves), tuple(scan.bodies))


class HeaderBudget:
    """The header limits of one message, shared by the pre-scan and the parser's backstop."""

    def __init__(self, limits: MimeLimits) -> None:
        self._limits = limits
        self._octets = 0  # in every header block read so far
        self._tokens = 0  # separators in every header read so far

    def line(self, octets: int) -> None:
        """One more header line (with its CRLF) in some header block."""
        self._octets += octets
        if self._octets > self._limits.max_header_block:
            raise MessageBeyondLimit(ContentReason.MAX_HEADER_BLOCK, self._limits.max_header_block)

    def header(self, label: bytes, lines: list[bytes]) -> bytes:
        """Check one header (its lines as received, without CRLF); its unfolded value."""
        limits, name, text = self._limits, label.strip().lower(), _text(label.strip())
        if sum(len(line) + 2 for line in lines) > limits.max_header_size:
            raise MessageBeyondLimit(ContentReason.MAX_HEADER_SIZE, limits.max_header_size, text)
        value = b"".join(lines).split(b":", 1)[-1]
        if name in _PARAMETER_HEADERS and value.count(b";") > limits.max_parameters:
            raise MessageBeyondLimit(ContentReason.MAX_PARAMETERS, limits.max_parameters, text)
        if name in _ADDRESS_HEADERS and value.count(b"@") > limits.max_addresses:
            raise MessageBeyondLimit(ContentReason.MAX_ADDRESSES, limits.max_addresses, text)
        tokens = len(value) - len(value.translate(None, _SEPARATORS))
        if tokens > limits.max_header_tokens:
            raise MessageBeyondLimit(
                ContentReason.MAX_HEADER_TOKENS, limits.max_header_tokens, text
            )
        self._tokens += tokens
        if self._tokens > limits.max_total_tokens:
            raise MessageBeyondLimit(ContentReason.MAX_TOTAL_TOKENS, limits.max_total_tokens)
        return value


@dataclass(frozen=True)
class _ContentType:
    maintype: bytes
    subtype: bytes
    boundary: bytes | None


class _Scan:
    def __init__(self, content: bytes, limits: MimeLimits) -> None:
        self._content = content
        self._limits = limits
        self._parts = 0
        self._budget = HeaderBudget(limits)
        self.leaves: list[Span] = []
        self.bodies: list[Span] = []

    def entity(
        self,
        pos: int,
        depth: int,
        boundaries: tuple[bytes, ...],
        default: bytes,
        *,
        record: bool,
        in_message: bool = False,
    ) -> tuple[int, _Hit | None]:
        """Scan one entity (headers and body) from pos; stop at an enclosing boundary or the end.

        Returns where it stopped (the start of the boundary line) and which boundary it met;
        records the entity's span when it is a leaf (and record is set), and its body when it
        is plain and not `in_message` (inside a message/* part).
        """
        if depth > self._limits.max_depth:
            raise MessageBeyondLimit(ContentReason.MAX_DEPTH, self._limits.max_depth)
        start = pos
        content_type, pos, hit = self._headers(pos, boundaries)
        if hit is None:
            kind = _content_type(content_type, default)
            if kind.maintype == b"multipart" and kind.boundary is not None:
                child = b"message/rfc822" if kind.subtype == b"digest" else b"text/plain"
                return self._multipart(
                    pos, depth, boundaries, kind.boundary, child, record, in_message
                )
            if kind.maintype == b"message" and kind.subtype != b"delivery-status":
                # the top message's payload is read through; an attached message is one leaf
                inner = record and depth == 0
                pos, hit = self.entity(
                    pos, depth + 1, boundaries, b"text/plain", record=inner, in_message=True
                )
                if inner:
                    return pos, hit
            else:
                body = pos
                pos, hit = self._skip(pos, boundaries)
                if kind.maintype != b"message" and not in_message:
                    self.bodies.append((body, pos))
        if record:
            end = pos - 2 if hit is not None and pos - 2 >= start else pos  # CRLF: the boundary's
            self.leaves.append((start, max(start, end)))
        return pos, hit

    def _multipart(
        self,
        pos: int,
        depth: int,
        outer: tuple[bytes, ...],
        boundary: bytes,
        child: bytes,
        record: bool,
        in_message: bool,
    ) -> tuple[int, _Hit | None]:
        boundaries = (*outer, boundary)
        own = len(outer)
        pos, hit = self._skip(pos, boundaries)  # the preamble
        while hit is not None:
            level, closing = hit
            if level != own:  # an enclosing multipart's boundary ends this one too
                return pos, hit
            pos = self._next_line(pos)
            if closing:
                return self._skip(pos, outer)  # the epilogue
            pos = self._repeated(pos, boundaries)  # as feedparser: no part between two delimiters
            self._parts += 1
            if self._parts > self._limits.max_parts:
                raise MessageBeyondLimit(ContentReason.MAX_PARTS, self._limits.max_parts)
            pos, hit = self.entity(
                pos, depth + 1, boundaries, child, record=record, in_message=in_message
            )
        return pos, None

    def _headers(
        self, pos: int, boundaries: tuple[bytes, ...]
    ) -> tuple[bytes | None, int, _Hit | None]:
        """Check one header block; (first Content-Type value, where the body starts, hit)."""
        content, limits = self._content, self._limits
        end = len(content)
        content_type: bytes | None = None
        label = b""
        lines: list[bytes] = []
        size = 0
        while pos < end:
            stop = content.find(_CRLF, pos)
            stop = end if stop < 0 else stop
            line = content[pos:stop]
            hit = _boundary(line, boundaries) if line.startswith(b"--") else None
            folded = bool(line) and line[:1] in b" \t" and bool(lines)
            if hit is not None or not folded:
                if lines:
                    value = self._budget.header(label, lines)
                    if label.strip().lower() == b"content-type" and content_type is None:
                        content_type = value
                lines, size = [], 0
            if hit is not None:
                return content_type, pos, hit
            if not line:  # the blank line before the body
                return content_type, min(stop + 2, end), None
            if not _HEADER_LINE.match(line):  # no separator: the body starts here
                return content_type, pos, None
            self._budget.line(len(line) + 2)
            if not folded:
                label = line.split(b":", 1)[0]
            size += len(line) + 2
            if size > limits.max_header_size:  # before the header grows further in memory
                raise MessageBeyondLimit(
                    ContentReason.MAX_HEADER_SIZE, limits.max_header_size, _text(label.strip())
                )
            lines.append(line)
            pos = stop + 2
        if lines:
            value = self._budget.header(label, lines)
            if label.strip().lower() == b"content-type" and content_type is None:
                content_type = value
        return content_type, end, None

    def _skip(self, pos: int, boundaries: tuple[bytes, ...]) -> tuple[int, _Hit | None]:
        """Skip body lines to the next line that is an enclosing boundary (or to the end)."""
        content = self._content
        if not boundaries:
            return len(content), None
        while True:
            if content.startswith(b"--", pos):
                stop = content.find(_CRLF, pos)
                hit = _boundary(content[pos : len(content) if stop < 0 else stop], boundaries)
                if hit is not None:
                    return pos, hit
            found = content.find(b"\r\n--", pos)
            if found < 0:
                return len(content), None
            pos = found + 2

    def _repeated(self, pos: int, boundaries: tuple[bytes, ...]) -> int:
        """Past the lines right after a delimiter that are this multipart's delimiters too."""
        content = self._content
        while content.startswith(b"--", pos):
            stop = content.find(_CRLF, pos)
            hit = _boundary(content[pos : len(content) if stop < 0 else stop], boundaries)
            if hit is None or hit[0] != len(boundaries) - 1:
                break
            pos = self._next_line(pos)
        return pos

    def _next_line(self, pos: int) -> int:
        stop = self._content.find(_CRLF, pos)
        return len(self._content) if stop < 0 else stop + 2


def _boundary(line: bytes, boundaries: tuple[bytes, ...]) -> _Hit | None:
    """Whether line is a delimiter (or close delimiter) of an enclosing multipart.

    As email.feedparser's boundary regex, "--" boundary ["--"] [ \\t]*, and its precedence:
    a multipart reads its lines through its parents' end-of-part checks, so when several
    levels share a boundary the outermost one wins.
    """
    rest = line[2:].rstrip(b" \t")
    for level in range(len(boundaries)):
        boundary = boundaries[level]
        if rest == boundary:
            return level, False
        if rest == boundary + b"--":
            return level, True
    return None


def _content_type(value: bytes | None, default: bytes) -> _ContentType:
    """The media type and boundary, read the way the email package reads them (no parse)."""
    if value is None:
        maintype, _, subtype = default.partition(b"/")
        return _ContentType(maintype, subtype, None)
    unfolded = value.replace(_CRLF, b"")
    head, _, _ = unfolded.partition(b";")
    media = b"".join(_COMMENT.sub(b"", head).split()).lower()
    if media.count(b"/") != 1:  # the email package reads a broken type as text/plain
        return _ContentType(b"text", b"plain", None)
    maintype, _, subtype = media.partition(b"/")
    boundary = None
    for match in _PARAMETER.finditer(unfolded):
        name = match[1].lower()
        if name.startswith(b"boundary*"):  # RFC 2231 form: never written by mail programs
            raise UnreadableMessage(ContentReason.RFC2231_BOUNDARY)
        if name == b"boundary" and boundary is None:
            raw = match[2].strip()
            if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) > 1:
                raw = _ESCAPE.sub(rb"\1", raw[1:-1])
            boundary = raw.rstrip()
    return _ContentType(maintype, subtype, boundary or None)


def _text(name: bytes) -> str:
    return name.decode("ascii", "replace")[:76]
