"""Reading a submitted message (RFC 5322 + MIME): pure functions, no I/O.

The parser runs on untrusted input and CPython's email package can be slow on hostile input
(quadratic cases), so callers run these functions in a thread, never on the event loop. No
exception from the email package leaks: what cannot be read is refused with a `ContentRefused`
(gateway.errors: a reason code and its facts; each door words it).
`gateway.mime.limits.check_limits` bounds the input before these functions see it.

What reaches evidence, proofs and pages is one line of bounded length: control characters
(folding, CR/LF smuggled in encoded words or file names) become spaces, and a subject, name
or file name longer than its limit is shortened with "…" (the full value stays in the
original message, whose SHA-256 the evidence carries).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.feedparser import FeedParser
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from html import unescape
from typing import Any, Final

from gateway.core.evidence import Attachment
from gateway.errors import ContentReason, ContentRefused, MessageBeyondLimit, UnreadableMessage
from gateway.mime.limits import MAX_DEPTH_ALLOWED, HeaderBudget, MimeLimits, Span, scan_message
from gateway.mime.policy import READING

MAX_DEPTH: Final = MAX_DEPTH_ALLOWED  # a backstop: check_limits applies mime.max_depth first
MAX_SUBJECT: Final = 998  # characters kept of the subject: one RFC 5322 line (§2.1.1)
MAX_NAME: Final = 200  # characters kept of the From: display name (letters.sender_name)
MAX_FILENAME: Final = 255  # characters kept of an attachment's name (a file name's usual limit)

# What the email package raises on hostile input besides its own MessageError (CPython bugs
# in _header_value_parser have raised IndexError, AttributeError, TypeError, ValueError...;
# 3.11.2's _get_ptext_to_endchars an UnboundLocalError on a Message-ID such as "<a@[").
_EMAIL_ERRORS: Final = (
    MessageError,
    LookupError,
    ValueError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    UnboundLocalError,
)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_LINE_BREAKS: Final = re.compile(r"[\r\n]")
# field values the email package's parse gives back as they are, but for their line breaks:
# an unstructured text of printable ASCII with no encoded word (=? is looked for apart), a
# msg-id of atext and dots between angle brackets
_ATEXT: Final = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.-"
_AS_IT_IS: Final = {
    "subject": re.compile(r"[\x20-\x7e\t\r\n]*"),
    "message-id": re.compile(rf"[ \t]*<[{_ATEXT}]+@[{_ATEXT}]+>[ \t]*"),
}
_SURROGATE: Final = re.compile("[\udc80-\udcff]")
_MARKUP: Final = re.compile(r"<(?:[A-Za-z!?]|/[A-Za-z])")  # a "<" before anything else is text
_TAG: Final = re.compile(r"(/?)([A-Za-z][A-Za-z0-9:-]*)")
_SKIP: Final = frozenset({"script", "style", "head", "title", "template"})
_BLOCK: Final = frozenset(
    {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}
)
_EXTENSIONS: Final = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
}


@dataclass(frozen=True)
class ParsedMessage:
    """What the gateway reads from a message: sender, subject, attachments and a body to show."""

    from_addresses: tuple[str, ...]
    from_display: str
    subject: str
    message_id: str | None
    attachments: tuple[Attachment, ...]
    text: str  # text/plain body, or text derived from text/html
    html: str | None
    # where each attachment lies in the message (headers and body), to read it again alone;
    # empty when the pre-scan and the parser do not see the same leaves
    attachment_spans: tuple[Span, ...] = ()


def check_line_endings(content: bytes) -> None:
    """Refuse a bare CR, a bare LF or a NUL: the material of SMTP smuggling (RFC 5321 §2.3.8).

    What is left once every CRLF is taken out holds no CR nor LF: a search for one byte runs
    at memory speed, where counting CRs and LFs went byte by byte (100 KB: 137 → 43 µs)."""
    if b"\x00" in content:
        raise UnreadableMessage(ContentReason.BARE_LINE_ENDING)
    rest = content.replace(b"\r\n", b"")
    if b"\r" in rest or b"\n" in rest:
        raise UnreadableMessage(ContentReason.BARE_LINE_ENDING)


def parse_message(content: bytes, limits: MimeLimits | None = None) -> ParsedMessage:
    """Read the message; `ContentRefused` when it has no usable From: or cannot be read at all.

    The bounded pre-scan (check_limits) runs first; the parser then enforces the same `limits`
    (default: MimeLimits()) on the structure it builds itself, a backstop wherever the two
    would read a boundary or a header differently.
    """
    return read_message(content, limits)[0]


def read_message(
    content: bytes, limits: MimeLimits | None = None
) -> tuple[ParsedMessage, EmailMessage]:
    """parse_message, and the message the email package parsed (its headers, read again by
    the phones and languages without parsing the bytes a second time)."""
    limits = limits or MimeLimits()
    scanned = scan_message(content, limits)
    spans = scanned.leaves
    message = _parse(content, limits, scanned.bodies)
    try:
        from_addresses, from_display = _from(message)
        subject = _shorten(_header_text(message, "Subject"), MAX_SUBJECT)
        message_id = _shorten(_header_text(message, "Message-ID"), MAX_SUBJECT) or None
        parts = _classify(message)
    except _EMAIL_ERRORS:
        raise UnreadableMessage(ContentReason.MALFORMED) from None
    plain = [_text(part) for part in parts.text]
    html = _text(parts.html[0]) if parts.html else None
    text = "\n\n".join(chunk for chunk in plain if chunk.strip())
    if not text and html:
        text = html_to_text(html)
    same = len(spans) == parts.leaves
    read = ParsedMessage(
        attachment_spans=tuple(spans[i] for i in parts.attachment_leaves) if same else (),
        from_addresses=from_addresses,
        from_display=from_display,
        subject=subject,
        message_id=message_id,
        attachments=tuple(attachment for attachment, _ in _attachments(parts.attachments)),
        text=text,
        html=html,
    )
    return read, message


def attachment_bytes(
    content: bytes, index: int, limits: MimeLimits | None = None
) -> tuple[Attachment, bytes]:
    """The index-th attachment (ParsedMessage.attachments order) and its decoded bytes."""
    message = _parse_scanned(content, limits)
    try:
        leaves = _classify(message).attachments
    except _EMAIL_ERRORS:
        raise UnreadableMessage(ContentReason.MALFORMED) from None
    if not 0 <= index < len(leaves):
        raise IndexError(f"the message has no attachment number {index}")
    return next(_attachments(leaves, start=index))


def attachment_in_span(
    content: bytes, span: Span, index: int, expected: Attachment, limits: MimeLimits | None = None
) -> bytes | None:
    """The decoded bytes of attachment `index` read from its span alone (no full parse).

    None unless it is exactly the attachment recorded at deposit (name, type, size, SHA-256):
    then the caller reads the whole message instead.
    """
    start, end = span
    if not 0 <= start <= end <= len(content):
        return None
    try:
        attachment, data = _attachment(_parse_scanned(content[start:end], limits), index + 1)
    except ContentRefused:
        return None
    return data if attachment == expected else None


def html_to_text(html: str) -> str:
    """Readable text from HTML: tags dropped, scripts and styles skipped, blocks on new lines.

    Linear in the length of the HTML (CPython's HTMLParser is quadratic on unclosed tags and
    comments: 200 kB of "<a" took 84 s): every search either moves past what it finds or ends
    the scan, so nothing is read twice. An unclosed tag or comment ends the text.
    """
    chunks: list[str] = []
    pos, end = 0, len(html)
    while pos < end:
        found = _MARKUP.search(html, pos)
        if found is None:
            chunks.append(unescape(html[pos:]))
            break
        chunks.append(unescape(html[pos : found.start()]))
        pos, block = _past_markup(html, found.start())
        if block:
            chunks.append("\n")
    lines = (" ".join(line.split()) for line in "".join(chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _past_markup(html: str, start: int) -> tuple[int, bool]:
    """Where the text resumes after the markup at start (len(html) when it never closes), and
    whether that markup was a block element's tag (the text goes on on a new line)."""
    if html.startswith("<!--", start):
        close = html.find("-->", start + 4)
        return (len(html) if close < 0 else close + 3), False
    if html.startswith(("<!", "<?"), start):  # doctype, CDATA, processing instruction
        close = html.find(">", start + 2)
        return (len(html) if close < 0 else close + 1), False
    tag = _TAG.match(html, start + 1)
    if tag is None:  # _MARKUP only finds "<" before a tag name
        return start + 1, False
    close = html.find(">", tag.end())
    if close < 0:
        return len(html), False
    name = tag[2].lower()
    if not tag[1] and name in _SKIP and html[close - 1] != "/":
        found = re.compile(rf"</{name}\b", re.IGNORECASE).search(html, close + 1)
        if found is None:
            return len(html), False
        close = html.find(">", found.end())
        return (len(html) if close < 0 else close + 1), False
    return close + 1, name in _BLOCK


# --- parsing ------------------------------------------------------------------------------


ELIDED_FROM: Final = 2048  # octets from which a plain part's body is left out of the parse


def _parse(
    content: bytes,
    limits: MimeLimits | None,
    bodies: tuple[Span, ...] = (),
    *,
    elided_from: int = ELIDED_FROM,
) -> EmailMessage:
    """The message as the email package parses it.

    `bodies` are the plain parts' bodies the pre-scan found (`Scanned.bodies`): the email
    package reads a body line by line in Python, only to join the lines again (a letter of
    1 MB: ~11 ms of its ~12; with its body left out ~3.5, 100 KB: 0.6-0.7 -> 0.3 ms). Such a
    body, when long, is parsed as one line (a mark) and put back in its part afterwards
    (`_put_back`), wherever the parse shows it could not have been read otherwise; else the
    whole message is parsed as it is (tests/unit/test_mime_elided_parse.py compares both).
    """
    decoded = content.decode("ascii", "surrogateescape")  # as BytesParser: other bytes kept
    elided = _elidable(content, decoded, bodies, elided_from)
    if elided:
        marks, skeleton = elided
        message = _parse_text(skeleton, limits)
        if _put_back(message, marks):
            return message
    return _parse_text(decoded, limits)


def _parse_scanned(content: bytes, limits: MimeLimits | None) -> EmailMessage:
    """`_parse`, with the bodies the pre-scan finds (none when it refuses the message: a
    letter kept under earlier limits is read as before, by the parser alone)."""
    try:
        bodies = scan_message(content, limits or MimeLimits()).bodies
    except ContentRefused:
        bodies = ()
    return _parse(content, limits, bodies)


def _parse_text(decoded: str, limits: MimeLimits | None) -> EmailMessage:
    parser = _BoundedParser(limits or MimeLimits())
    try:
        parser.feed(decoded)
        message = parser.close()
    except _EMAIL_ERRORS:
        raise UnreadableMessage(ContentReason.MALFORMED) from None
    assert isinstance(message, EmailMessage)  # noqa: S101 - the factory makes it so
    return message


# A body is left out of the parse when the email package can only have read it as lines
# joined: none of its lines starts with "--", wherever the email package cuts lines (at CRLF,
# CR or LF), so none can be a boundary, however either reads the enclosing boundaries; and it
# ends with CRLF, or with the message (a part read alone, `attachment_in_span`). A mark takes
# its place: a line that is no header line (the email package would end a header block
# there, as at the body's first line) and no boundary.
_MARK: Final = "\x1a{}-{}\x1a"
_Marks = dict[str, tuple[str, bool]]  # each mark: the body, whether it ends with CRLF


def _elidable(
    content: bytes, decoded: str, bodies: tuple[Span, ...], elided_from: int
) -> tuple[_Marks, str] | None:
    """(each mark with the body it stands for, the message with the marks in the bodies'
    places), or None when no body is left out."""
    chosen = [
        (start, end, crlf)
        for start, end in bodies
        if end - start >= elided_from
        and not content.startswith(b"--", start)
        and not _dashes_start_a_line(content, start, end)
        and (
            (crlf := content.endswith(b"\r\n", start, end))
            or (end == len(content) and not content.endswith((b"\r", b"\n")))
        )
    ]
    if not chosen:
        return None
    tag = secrets.token_hex(8)
    if tag in decoded:  # never in practice: then nothing is left out
        return None
    marks: _Marks = {}
    pieces: list[str] = []
    pos = 0
    for number, (start, end, crlf) in enumerate(chosen):
        mark = _MARK.format(tag, number)
        marks[mark] = (decoded[start:end], crlf)
        pieces += (decoded[pos:start], mark, "\r\n" if crlf else "")
        pos = end
    pieces.append(decoded[pos:])
    return marks, "".join(pieces)


def _dashes_start_a_line(content: bytes, start: int, end: int) -> bool:
    """Whether "--" follows a CR or an LF in content[start:end] (the body's first line aside):
    the two dashes looked for once, then what is before each, rather than a search for "\n--"
    and another for "\r--" (~0.07 ms each in a 100 KB letter; this one ~0.09 in all)."""
    at = content.find(b"--", start + 1, end)
    while at >= 0:
        if content[at - 1] in b"\r\n":
            return True
        at = content.find(b"--", at + 1, end)
    return False


def _put_back(message: Message, marks: _Marks) -> bool:
    """Put each body back in place of its mark; False (the parse is of no use) unless each
    mark is the whole payload of a part below multiparts only, found once, and nowhere else
    (not in a preamble or an epilogue, not in a part read otherwise)."""
    tag = next(iter(marks))[:17]  # "\x1a" and the token: what every mark starts with
    left = dict(marks)
    stack: list[tuple[Message, bool]] = [(message, True)]
    while stack:
        part, plain = stack.pop()
        for around in (part.preamble, part.epilogue):
            if around is not None and tag in around:
                return False
        payload = part._payload  # type: ignore[attr-defined]  # get_payload() without copies
        if isinstance(payload, list):
            inner = plain and part.get_content_maintype() == "multipart"
            stack.extend((child, inner) for child in payload if isinstance(child, Message))
            continue
        if not isinstance(payload, str) or tag not in payload:
            continue
        with_crlf = payload.endswith("\r\n")
        found = left.pop(payload[:-2] if with_crlf else payload, None)
        if found is None or not plain or (with_crlf and not found[1]):
            return False
        body, crlf = found
        # the email package takes the CRLF before a boundary away from the part before it
        part._payload = body[:-2] if crlf and not with_crlf else body  # type: ignore[attr-defined]
    return not left


class _BoundedParser(FeedParser):
    """email.feedparser with the [mime] limits applied to its own structure as it builds it.

    Its header blocks are checked (HeaderBudget) before any header value is parsed, and its
    parts and nesting are counted as they are created, so no divergence between check_limits
    and the email package (a boundary or a header read differently) lets unbounded work in.
    Overrides two internal hooks of CPython's FeedParser (stable since Python 3.3).
    """

    def __init__(self, limits: MimeLimits) -> None:
        super().__init__(_factory=EmailMessage, policy=READING)
        self._limits = limits
        self._budget = HeaderBudget(limits)
        self._parts = 0
        self._types: dict[int, tuple[Message, str]] = {}  # id → (message, its content type)

    def _new_message(self) -> None:
        """FeedParser._new_message, with the limits, and a parent's type parsed once (CPython
        re-parses it for every child: 1,000 parts under a costly Content-Type cost 60 s)."""
        stack: list[Message] = self._msgstack  # type: ignore[attr-defined]
        if len(stack) > self._limits.max_depth:
            raise MessageBeyondLimit(ContentReason.MAX_DEPTH, self._limits.max_depth)
        message = EmailMessage(policy=READING)
        if stack:
            parent = self._type(stack[-1])
            if not parent.startswith("message/") or parent == "message/delivery-status":
                self._parts += 1  # a part (an attached message's body is bounded by depth)
                if self._parts > self._limits.max_parts:
                    raise MessageBeyondLimit(ContentReason.MAX_PARTS, self._limits.max_parts)
            if parent == "multipart/digest":
                message.set_default_type("message/rfc822")
            stack[-1].attach(message)
        stack.append(message)
        self._cur = message
        self._last = message

    def _type(self, message: Message) -> str:
        known = self._types.get(id(message))
        if known is None:
            known = self._types[id(message)] = (message, message.get_content_type())
        return known[1]

    def _parse_headers(self, lines: list[str]) -> None:
        header: list[bytes] = []
        for line in lines:
            raw = line.rstrip("\r\n").encode("ascii", "surrogateescape")
            self._budget.line(len(raw) + 2)
            if header and raw[:1] in (b" ", b"\t"):
                header.append(raw)
                continue
            if header:
                self._budget.header(header[0].split(b":", 1)[0], header)
            header = [raw]
        if header:
            self._budget.header(header[0].split(b":", 1)[0], header)
        super()._parse_headers(lines)  # type: ignore[misc]


def _from(message: Message) -> tuple[tuple[str, ...], str]:
    try:
        values: list[Any] = message.get_all("From") or []  # header objects (READING)
        addresses: tuple[Address, ...] = tuple(values[0].addresses) if len(values) == 1 else ()
    except _EMAIL_ERRORS:
        raise UnreadableMessage(ContentReason.NO_FROM) from None
    specs = tuple(address.addr_spec for address in addresses)
    if not specs or not all(_is_address(address) for address in addresses):
        raise UnreadableMessage(ContentReason.NO_FROM)
    return specs, _shorten(_clean(addresses[0].display_name), MAX_NAME)


def _is_address(address: Address) -> bool:
    return bool(address.username) and bool(address.domain) and "@" in address.addr_spec


def _header_text(message: Message, name: str) -> str:
    """A header's decoded value on one line; the raw value when the parser chokes on it.

    A value the parser would give back as it is (`_AS_IT_IS`: each letter's new Message-ID,
    most subjects) is not parsed: the email package's parse of a new Message-ID is a quarter
    of a short letter's reading (0.16 -> 0.12 ms; tests/unit/test_mime_message_properties.py
    compares both ways on random values)."""
    plain = _AS_IT_IS.get(name.lower())
    if plain is not None:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        if raw is None:
            return ""
        if isinstance(raw, str) and plain.fullmatch(raw) and "=?" not in raw:
            return _clean(_LINE_BREAKS.sub("", raw))  # as policy.header_fetch_parse unfolds
    return _parsed_header_text(message, name)


def _parsed_header_text(message: Message, name: str) -> str:
    """`_header_text`, from the email package's parse of the field."""
    try:
        value = message.get(name)
        return _clean(str(value)) if value is not None else ""
    except _EMAIL_ERRORS:
        pass
    for key, raw in message.raw_items():
        if key.lower() == name.lower():
            try:
                return _clean(str(make_header(decode_header(str(raw)))))
            except _EMAIL_ERRORS:
                return _clean(str(raw))
    return ""


def _clean(text: str) -> str:
    """One line of text: control characters (folding, encoded CR/LF/NUL) become single spaces.

    Header bytes outside ASCII (raw UTF-8 as RFC 6532 allows, or a client that skips RFC 2047)
    reach here as surrogates, as the parser keeps them: read them as UTF-8, a byte that is not
    UTF-8 becoming U+FFFD, so no surrogate ever reaches a proof, a page or the database.
    """
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(" ", text).strip()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class _Parts:
    text: list[Message]
    html: list[Message]
    attachments: list[Message]
    attachment_leaves: list[int]  # the index of each attachment among the leaves
    leaves: int = 0


def _classify(message: Message) -> _Parts:
    parts = _Parts(text=[], html=[], attachments=[], attachment_leaves=[])
    for number, part in enumerate(_leaves(message)):
        parts.leaves = number + 1
        if _is_attachment(part):
            parts.attachments.append(part)
            parts.attachment_leaves.append(number)
        elif part.get_content_type() == "text/html":
            parts.html.append(part)
        elif part.get_content_type() == "text/plain":
            parts.text.append(part)
        # any other inline text/* (e.g. text/enriched) is neither body nor attachment
    return parts


def _leaves(message: Message) -> Iterator[Message]:
    """Leaf parts in document order; an attached message (message/rfc822) is one leaf."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnreadableMessage(ContentReason.MALFORMED)
        children = part.get_payload()
        if isinstance(children, list) and (
            part is message or part.get_content_maintype() == "multipart"
        ):
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
            )
        else:
            yield part


def _is_attachment(part: Message) -> bool:
    return (
        part.get_content_disposition() == "attachment"
        or bool(part.get_filename())
        or part.get_content_maintype() != "text"
    )


def _attachments(leaves: list[Message], start: int = 0) -> Iterator[tuple[Attachment, bytes]]:
    for number, part in enumerate(leaves[start:], start=start + 1):
        yield _attachment(part, number)


def _attachment(part: Message, number: int) -> tuple[Attachment, bytes]:
    """The number-th attachment (from 1): its description and decoded bytes."""
    try:
        data = _payload(part)
        content_type = part.get_content_type()
        name = _shorten(_clean(part.get_filename() or ""), MAX_FILENAME)
    except _EMAIL_ERRORS:
        raise UnreadableMessage(ContentReason.MALFORMED) from None
    if not name:
        name = f"attachment-{number}{_EXTENSIONS.get(content_type, '.bin')}"
    attachment = Attachment(
        name=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return attachment, data


def _payload(part: Message) -> bytes:
    """The decoded bytes of a leaf (base64 and quoted-printable undone)."""
    if part.is_multipart():  # an attached message: its bytes, serialised the same way each time
        inner = part.get_payload(0)
        return inner.as_bytes(policy=policy.SMTP) if isinstance(inner, Message) else b""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _text(part: Message) -> str:
    """A text part decoded with its charset; unknown charsets read as UTF-8, errors replaced."""
    try:
        data = _payload(part)
        charset = part.get_content_charset() or "us-ascii"
    except _EMAIL_ERRORS:
        return ""
    try:
        return data.decode(charset, "replace")
    except LookupError:  # unknown or non-text codec (e.g. "x-unknown", "base64", "rot13")
        return data.decode("utf-8", "replace")
