"""The pipelined transaction's reply parsing, against aiosmtplib's own."""

import asyncio

import aiosmtplib
import pytest
from aiosmtplib.protocol import MAX_LINE_LENGTH, SMTPProtocol
from hypothesis import given
from hypothesis import strategies as st

from gateway.smtp_out.pipelining import replies_in

# a reply's lines: a code, then "-" on every line but the last, a text (spaces, tabs, empty
# texts and CR-less line ends among them)
_TEXT = st.text(alphabet=st.sampled_from("abc 2.1.0\t-é<>@"), max_size=30)
_REPLY = st.tuples(
    st.integers(min_value=200, max_value=599), st.lists(_TEXT, min_size=1, max_size=4)
)


def _written(code: int, texts: list[str], end: bytes) -> bytes:
    lines = [f"{code}-{text}".encode() for text in texts[:-1]] + [f"{code} {texts[-1]}".encode()]
    return b"".join(line + end for line in lines)


def _read_by_aiosmtplib(data: bytes) -> list[aiosmtplib.SMTPResponse]:
    """Each reply as aiosmtplib's protocol reads one from its buffer, until none is whole."""
    loop = asyncio.new_event_loop()
    try:
        protocol = SMTPProtocol(loop=loop)
        protocol._buffer = bytearray(data)
        found = []
        while (response := protocol._read_response_from_buffer()) is not None:
            found.append(response)
        return found
    finally:
        loop.close()


@given(st.lists(_REPLY, max_size=5), st.sampled_from([b"\r\n", b"\n"]), st.data())
def test_replies_are_read_as_aiosmtplib_reads_them_however_they_arrive(replies, end, data):
    """Several replies written together, then arriving in random pieces: each whole reply
    read once, in order, with the code and text aiosmtplib makes of it; a piece of the next
    one stays in the buffer until it is whole."""
    written = b"".join(_written(code, texts, end) for code, texts in replies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(written)), max_size=6)))
    buffer = bytearray()
    read = []
    for start, stop in zip([0, *cuts], [*cuts, len(written)], strict=True):
        buffer += written[start:stop]
        read += replies_in(buffer)
    assert read == _read_by_aiosmtplib(written)
    assert [response.code for response in read] == [code for code, _ in replies]
    assert buffer == b""


def test_a_reply_not_yet_whole_stays_in_the_buffer():
    buffer = bytearray(b"250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 mo")
    assert replies_in(buffer) == [aiosmtplib.SMTPResponse(250, "2.1.0 Ok")]
    assert buffer == b"250-2.1.5 Ok\r\n250 mo"
    buffer += b"re\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    assert replies_in(buffer) == [
        aiosmtplib.SMTPResponse(250, "2.1.5 Ok\nmore"),
        aiosmtplib.SMTPResponse(354, "End data with <CR><LF>.<CR><LF>"),
    ]
    assert buffer == b""


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello there\r\n", "Malformed SMTP response line: hello there"),
        (b"250 " + b"x" * MAX_LINE_LENGTH + b"\r\n", "Response too long"),
    ],
)
def test_a_line_that_is_no_reply_raises_as_aiosmtplib_does(data, words):
    with pytest.raises(aiosmtplib.SMTPResponseException) as ours:
        replies_in(bytearray(data))
    with pytest.raises(aiosmtplib.SMTPResponseException) as theirs:
        _read_by_aiosmtplib(data)
    assert (ours.value.code, ours.value.message) == (theirs.value.code, theirs.value.message)
    assert ours.value.message.strip() == words
