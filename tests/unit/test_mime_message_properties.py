"""Property tests over generated MIME: what the DATA path reads never crashes and never guesses.

The DATA path is `check_line_endings`, then the bounded pre-scan `check_limits`, then
`parse_message` (see handler._read). Valid messages come from the email package's own
builder; hostile ones are arbitrary bytes and arbitrary MIME trees.
"""

from __future__ import annotations

import email.policy
import hashlib
from dataclasses import dataclass
from email.message import Message

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.content_replies import content_refused
from gateway.errors import ContentRefused, UnreadableMessage
from gateway.mime.limits import MimeLimits, check_limits
from gateway.mime.message import (
    ParsedMessage,
    _header_text,
    _parsed_header_text,
    attachment_in_span,
    check_line_endings,
    parse_message,
)
from tests.support.mime_strategies import SENDER, Generated, letters

LIMITS = MimeLimits()


def read(content: bytes) -> ParsedMessage:
    """The DATA path's reading of a message (handler._read without the phones)."""
    check_line_endings(content)
    check_limits(content, LIMITS)
    return parse_message(content)


@given(letters())
@settings(max_examples=150, deadline=None)
def test_a_valid_letter_is_read_with_its_text_and_attachments(letter: Generated) -> None:
    """Every well-formed letter passes the pre-scan and reads back its body and attachments."""
    parsed = read(letter.content)
    assert parsed.from_addresses == (SENDER,)
    assert " ".join(letter.body.split()) in " ".join(parsed.text.split())
    assert [(a.name, a.sha256) for a in parsed.attachments] == [
        (name, hashlib.sha256(data).hexdigest()) for name, data in letter.attachments
    ]
    assert len(parsed.attachment_spans) == len(parsed.attachments)
    for index, (span, (_, data)) in enumerate(
        zip(parsed.attachment_spans, letter.attachments, strict=True)
    ):  # each attachment reads back from its own span, as a download does
        assert attachment_in_span(letter.content, span, index, parsed.attachments[index]) == data


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_are_read_or_refused_never_crash(content: bytes) -> None:
    """Any bytes at all: the DATA path returns a reading or a ContentRefused, nothing else."""
    try:
        read(content)
    except ContentRefused as refused:
        code = content_refused(refused).code
        assert code >= 500


HEADER_LINES = st.sampled_from(
    [
        b"From: a@example.com",
        b"From: =?utf-8?q?A=0D=0AB?= <a@example.com>",
        b"To: b@example.com, =?utf-8?b?w6k=?= <c@example.com>",
        b"Subject: =?utf-8?q?x=0D=0ABcc:_e@x.y?=",
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: multipart/digest; boundary=b",
        b"Content-Type: message/rfc822",
        b'Content-Type: text/plain; charset="x-unknown"',
        b"Content-Type: text/html",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: quoted-printable",
        b'Content-Disposition: attachment; filename="=?utf-8?q?a=0D=0Ab?="',
        b"Content-Disposition: attachment; filename*=utf-8''%0D%0A",
        b" folded continuation",
        b"--b",
        b"--b--",
        b"",
        b"not a header",
        b"=?utf-8?q?=FF?=",
        b"<p>html<script>x</script>",
        b"YWJj",
    ]
)


@given(st.lists(HEADER_LINES, max_size=60))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_mime_shaped_lines_are_read_or_refused_never_crash(lines: list[bytes]) -> None:
    """MIME-shaped junk (boundaries, digests, encoded words, CRLF in names): read or refused."""
    try:
        parsed = read(b"\r\n".join(lines) + b"\r\n")
    except ContentRefused as refused:
        code = content_refused(refused).code
        assert code >= 500
        return
    for value in (parsed.subject, parsed.from_display, *(a.name for a in parsed.attachments)):
        assert "\r" not in value
        assert "\n" not in value


@dataclass(frozen=True)
class Tree:
    content: bytes
    parts: int  # multipart children, at every level
    depth: int  # nesting levels below the top


@st.composite
def trees(draw: st.DrawFn, level: int = 0) -> Tree:
    """A random MIME tree of multiparts, attached messages and leaves, up to 5 deep."""
    kind = draw(st.sampled_from(["leaf", "multipart", "message"] if level < 5 else ["leaf"]))
    if kind == "leaf":
        return Tree(
            b"Content-Type: text/plain\r\n\r\n" + draw(st.sampled_from([b"x", b"-- y"])), 0, 0
        )
    if kind == "message":
        inner = draw(trees(level + 1))
        return Tree(
            b"Content-Type: message/rfc822\r\n\r\nFrom: x@example.com\r\n" + inner.content,
            inner.parts,
            inner.depth + 1,
        )
    boundary = draw(st.sampled_from([b"b", b"b%d" % level, b'"q %d"' % level]))
    plain = boundary.strip(b'"')
    children = draw(st.lists(trees(level + 1), max_size=4))
    delimiter = b"\r\n--" + plain + b"\r\n"
    repeat = draw(st.sampled_from([1, 1, 2]))  # feedparser skips repeated delimiters
    body = b"".join(delimiter * repeat + child.content for child in children)
    close = draw(st.sampled_from([b"\r\n--" + plain + b"--\r\n", b"\r\n"]))  # or none
    subtype = draw(st.sampled_from([b"mixed", b"alternative"]))
    content = b"".join(
        [b"Content-Type: multipart/", subtype, b"; boundary=", boundary, b"\r\n\r\npreamble"]
    )
    content += body + close
    return Tree(
        content,
        len(children) + sum(c.parts for c in children),
        1 + max((c.depth for c in children), default=0),
    )


def parser_counts(message: Message) -> tuple[int, int]:
    """(multipart children, depth) as the email package parsed them."""
    payload = message.get_payload()
    if not isinstance(payload, list):
        return 0, 0
    counts = [parser_counts(child) for child in payload if isinstance(child, Message)]
    children = (
        len(payload)
        if message.is_multipart() and message.get_content_maintype() == "multipart"
        else 0
    )
    return children + sum(c for c, _ in counts), 1 + max((d for _, d in counts), default=0)


@given(trees())
@settings(max_examples=300, deadline=None)
def test_the_pre_scan_counts_parts_and_depth_as_the_parser_builds_them(tree: Tree) -> None:
    """At exactly the parser's part count and depth scan and parse pass; one part less: refused."""
    content = b"From: a@example.com\r\n" + tree.content
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    parts, depth = parser_counts(parsed)
    exact = MimeLimits(max_parts=max(parts, 1), max_depth=max(depth, 1))
    check_limits(content, exact)
    parse_message(content, exact)  # the parser's own count agrees: no refusal either
    if parts > 1:
        try:
            check_limits(content, MimeLimits(max_parts=parts - 1))
        except ContentRefused:
            pass
        else:
            raise AssertionError(f"{parts} parts passed a limit of {parts - 1}")


_FIELD_TEXT = st.text(
    st.sampled_from(
        "abcXYZ019 <>@.-_=?!#$%&'*+/^`{|}~;:,[]()\\\"\té" + "\udcc3\udca9"  # a raw UTF-8 é
    ),
    max_size=60,
)


@given(
    st.sampled_from(["Subject", "Message-ID", "message-id"]),
    st.one_of(
        _FIELD_TEXT,
        st.builds(lambda a, b: f"<{a}@{b}>", _FIELD_TEXT, _FIELD_TEXT),
        st.builds(lambda a, b: f" <{a}@{b}>\t", _FIELD_TEXT.filter(str.isalnum), _FIELD_TEXT),
        st.builds(lambda a, b: f"{a}\r\n {b}", _FIELD_TEXT, _FIELD_TEXT),
    ),
)
@settings(max_examples=2000, deadline=None)
def test_a_subject_and_a_message_id_read_as_the_email_package_parses_them(
    name: str, value: str
) -> None:
    """The subject and Message-ID a letter is read with are what the email package's parse of
    the field gives (cleaned to one line), whether or not the value is parsed: a plain value
    is taken as it is."""
    raw = f"From: {SENDER}\r\n{name}: {value}\r\nTo: b@example.org\r\n\r\nHello\r\n"
    message = email.message_from_bytes(
        raw.encode("utf-8", "surrogateescape"), policy=email.policy.default
    )
    assert _header_text(message, name) == _parsed_header_text(message, name)


@given(
    st.lists(
        st.sampled_from([b"\r\n", b"\r", b"\n", b"\x00", b"a", b"\xc3\xa9", b"\r\r\n"]), max_size=40
    )
)
@settings(max_examples=400, deadline=None)
def test_line_endings_are_refused_exactly_when_a_cr_or_lf_stands_alone(pieces: list[bytes]) -> None:
    """check_line_endings refuses a message exactly when it holds a NUL, or a CR or LF that
    is not part of a CRLF (the definition, read byte by byte)."""
    content = b"".join(pieces)
    alone = b"\x00" in content or any(
        (byte == 13 and content[i + 1 : i + 2] != b"\n")
        or (byte == 10 and (i == 0 or content[i - 1] != 13))
        for i, byte in enumerate(content)
    )
    try:
        check_line_endings(content)
    except UnreadableMessage:
        assert alone
    else:
        assert not alone
