"""Long bodies left out of the email package's parse and put back: the same message as parsing it
whole (gateway.mime.message._parse; the email package itself is the reference)."""

from __future__ import annotations

import base64
from email.message import Message
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import ContentRefused
from gateway.mime import message as reading
from gateway.mime.limits import MimeLimits, scan_message
from tests.support.mime_strategies import letters

LIMITS = MimeLimits()


def shape(message: Message) -> Any:
    """Everything the parse gives of a message: headers as read, defects, preamble, epilogue,
    default type, and the payload (text, or the parts' shapes)."""
    payload = message._payload  # type: ignore[attr-defined]
    return (
        [(name, str(value)) for name, value in message._headers],  # type: ignore[attr-defined]
        [type(defect).__name__ for defect in message.defects],
        message.preamble,
        message.epilogue,
        message.get_default_type(),
        [shape(part) for part in payload] if isinstance(payload, list) else payload,
    )


def both(content: bytes, elided_from: int = 1) -> tuple[Any, Any, int]:
    """(the parse with the long bodies left out, the whole parse, how many were left out)."""
    bodies = scan_message(content, LIMITS).bodies
    whole = reading._parse_text(content.decode("ascii", "surrogateescape"), LIMITS)
    fast = reading._parse(content, LIMITS, bodies, elided_from=elided_from)
    left_out = reading._elidable(
        content, content.decode("ascii", "surrogateescape"), bodies, elided_from
    )
    return shape(fast), shape(whole), len(left_out[0]) if left_out else 0


LINES = st.sampled_from(
    [
        b"Madame, Monsieur,",
        b"YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=",
        b"-- ",  # a signature's separator: a line starting with "--"
        b"--b",
        b"--b--",
        b"--q 1",
        b"",
        b"   ",
        b"x\ny",  # bare line ends: the email package splits there, the pre-scan does not
        b"x\ry",
        b"Subject: not a header here",
        b"From nobody",
        b"\x1a",
        b"caf\xc3\xa9 \xff",
    ]
)


@st.composite
def leaves(draw: st.DrawFn) -> bytes:
    head = draw(
        st.sampled_from(
            [
                b"Content-Type: text/plain\r\n\r\n",
                b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                b"Content-Type: message/delivery-status\r\n\r\n",
                b"Content-Type: multipart/mixed\r\n\r\n",  # no boundary: read as text
                b"Content-Type: text/plain\r\n",  # no blank line: the body starts at once
                b"",
            ]
        )
    )
    lines = draw(st.lists(LINES, max_size=8))
    ending = draw(st.sampled_from([b"\r\n", b"\r\n", b""]))
    return head + b"\r\n".join(lines) + ending


@st.composite
def trees(draw: st.DrawFn, level: int = 0) -> bytes:
    """MIME trees of multiparts, attached messages, digests and leaves of any kind of line."""
    kind = draw(st.sampled_from(["leaf", "multipart", "message"] if level < 4 else ["leaf"]))
    if kind == "leaf":
        return draw(leaves())
    if kind == "message":
        return b"Content-Type: message/rfc822\r\n\r\nFrom: x@example.com\r\n" + draw(
            trees(level + 1)
        )
    # (the boundary parameter, the boundary its delimiters use): "d x" is "d x" to the
    # pre-scan and "d" to the email package, which then read the parts differently
    boundary, plain = draw(
        st.sampled_from(
            [
                (b"b", b"b"),
                (b"b%d" % level, b"b%d" % level),
                (b'"q %d"' % level, b"q %d" % level),
                (b"b; x=1", b"b"),
                (b"d x", b"d"),
                (b"d x", b"d x"),
            ]
        )
    )
    children = draw(st.lists(trees(level + 1), max_size=4))
    delimiter = draw(st.sampled_from([b"\r\n--" + plain + b"\r\n", b"\r\n--" + plain + b" \r\n"]))
    body = b"".join(delimiter + child for child in children)
    close = draw(st.sampled_from([b"\r\n--" + plain + b"--\r\nepilogue\r\n", b"\r\n", b""]))
    subtype = draw(st.sampled_from([b"mixed", b"digest", b"alternative"]))
    preamble = draw(st.sampled_from([b"preamble", b"", b"-- sig"]))
    return b"".join(
        [b"Content-Type: multipart/", subtype, b"; boundary=", boundary, b"\r\n\r\n", preamble]
    ) + (body + close)


@given(trees())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_mime_tree_parses_the_same_with_its_bodies_left_out(tree: bytes) -> None:
    content = b"From: a@example.com\r\n" + tree
    try:
        fast, whole, _ = both(content)
    except ContentRefused:
        return
    assert fast == whole


@given(letters(), st.integers(1, 400))
@settings(max_examples=150, deadline=None)
def test_letters_parse_the_same_with_their_bodies_left_out(letter: Any, elided_from: int) -> None:
    fast, whole, _ = both(letter.content, elided_from)
    assert fast == whole


def test_a_long_letter_is_parsed_without_its_body_and_reads_the_same() -> None:
    line = b"Madame, Monsieur, veuillez trouver ci-joint notre lettre recommandee.\r\n"
    pdf = b"%PDF-1.7 " + bytes(range(256)) * 40
    attachment = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    content = (
        b"From: Alice <alice@example.org>\r\nSubject: Lettre\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + line * 60 + b"-- \r\nAlice\r\n"
        b"\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="lettre.pdf"\r\n\r\n'
        + attachment
        + b"\r\n--b--\r\n"
    )
    fast, whole, left_out = both(content, reading.ELIDED_FROM)
    assert left_out == 1  # the PDF; the text holds a signature's "-- " line: parsed whole
    assert fast == whole
    parsed = reading.parse_message(content)
    assert [(a.name, a.size) for a in parsed.attachments] == [("lettre.pdf", len(pdf))]
    assert parsed.text.startswith("Madame, Monsieur")
    assert parsed.text.rstrip().endswith("Alice")
    # a download reads the attachment's part alone: its body ends with the part, not a CRLF
    start, end = parsed.attachment_spans[0]
    fast, whole, left_out = both(content[start:end], reading.ELIDED_FROM)
    assert left_out == 1
    assert fast == whole
    assert reading.attachment_in_span(content, (start, end), 0, parsed.attachments[0]) == pdf
    assert reading.attachment_bytes(content, 0) == (parsed.attachments[0], pdf)


def test_a_mark_found_where_no_body_was_left_out_parses_the_whole_message() -> None:
    """A body the email package reads otherwise than the pre-scan (its Content-Type read
    differently: here a message/rfc822 the pre-scan takes for text) is not left out."""
    tag_free = b"From: a@example.com\r\nContent-Type: text/plain\r\n\r\n" + b"line\r\n" * 600
    marks, skeleton = reading._elidable(
        tag_free,
        tag_free.decode("ascii"),
        scan_message(tag_free, LIMITS).bodies,
        reading.ELIDED_FROM,
    ) or ({}, "")
    assert len(marks) == 1
    (mark,) = marks
    as_message = skeleton.replace("text/plain", "message/rfc822")
    parsed = reading._parse_text(as_message, LIMITS)
    assert not reading._put_back(parsed, marks)  # the mark lies inside an attached message
    assert reading._put_back(reading._parse_text(skeleton, LIMITS), marks)
    assert mark not in skeleton.replace(mark, "")


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from([b"-", b"--", b"\r", b"\n", b"a"]), max_size=10).map(b"".join),
    st.data(),
)
def test_a_line_starting_with_two_dashes_is_found_as_by_searching_each_line_end(
    content: bytes, data: st.DataObject
) -> None:
    """`_dashes_start_a_line` (the dashes looked for, then what comes before them) finds what
    looking for "\\n--" and "\\r--" finds, in any slice."""
    start = data.draw(st.integers(0, len(content)))
    end = data.draw(st.integers(start, len(content)))
    expected = content.find(b"\n--", start, end) >= 0 or content.find(b"\r--", start, end) >= 0
    assert reading._dashes_start_a_line(content, start, end) == expected
