"""Reading submitted messages: line ends, From:, body text and attachments (pure, no I/O)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gateway.errors import ContentReason, MessageBeyondLimit, UnreadableMessage
from gateway.mime.message import (
    MAX_DEPTH,
    attachment_bytes,
    check_line_endings,
    html_to_text,
    parse_message,
)

PDF = b"%PDF-1.7 not really a pdf \x00\xff\xfe" * 20
PNG = b"\x89PNG\r\n\x1a\n fake image"


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


NESTED = crlf(
    "From: =?utf-8?q?Alice_M=C3=A9ric?= <alice@example.org>\n"
    "To: bob@example.com\n"
    "Subject: =?utf-8?q?Mise_en_demeure_n=C2=B01?=\n"
    "Message-ID: <m1@example.org>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="outer"\n'
    "\n"
    "--outer\n"
    'Content-Type: multipart/related; boundary="related"\n'
    "\n"
    "--related\n"
    'Content-Type: multipart/alternative; boundary="alt"\n'
    "\n"
    "--alt\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Bonjour, voici la lettre =C3=A0 signer.\n"
    "--alt\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<p>Bonjour, voici la lettre</p>\n"
    "--alt--\n"
    "--related\n"
    "Content-Type: image/png\n"
    "Content-ID: <logo>\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    f"{b64(PNG)}"
    "--related--\n"
    "--outer\n"
    "Content-Type: application/pdf\n"
    "Content-Disposition: attachment; filename*=utf-8''lettre%20sign%C3%A9e.pdf\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    f"{b64(PDF)}"
    "--outer\n"
    'Content-Type: text/plain; charset=utf-8; name="notes.txt"\n'
    "\n"
    "plain text attachment\n"
    "--outer--\n"
)


def test_bare_lf_is_refused() -> None:
    """A LF without CR before it is SMTP-smuggling material and refused with 550 5.6.0."""
    with pytest.raises(UnreadableMessage) as refused:
        check_line_endings(b"Subject: x\r\n\r\nbody\n.\r\n")
    assert refused.value.reason is ContentReason.BARE_LINE_ENDING


@pytest.mark.parametrize(
    "content",
    [b"a\rb\r\n", b"a\r\r\n", b"\n", b"a\x00b\r\n", b"end with bare cr\r"],
    ids=["bare-cr", "cr-cr-lf", "lone-lf", "nul", "trailing-cr"],
)
def test_bare_cr_and_nul_are_refused(content: bytes) -> None:
    """Bare CR (also CR CR LF) and NUL are refused like a bare LF."""
    with pytest.raises(UnreadableMessage) as refused:
        check_line_endings(content)
    assert refused.value.reason is ContentReason.BARE_LINE_ENDING


def test_crlf_only_is_accepted() -> None:
    """CRLF line ends, 8-bit bytes and an empty message pass."""
    check_line_endings(b"Subject: caf\xc3\xa9\r\n\r\nbody\r\n")
    check_line_endings(b"")


def test_nested_multiparts_yield_every_attachment_in_order() -> None:
    """Attachments are found at any depth, in document order, hashed over decoded bytes."""
    parsed = parse_message(NESTED)
    assert [(a.name, a.content_type, a.size, a.sha256) for a in parsed.attachments] == [
        ("attachment-1.png", "image/png", len(PNG), digest(PNG)),
        ("lettre signée.pdf", "application/pdf", len(PDF), digest(PDF)),
        (
            "notes.txt",
            "text/plain",
            len(b"plain text attachment"),
            digest(b"plain text attachment"),
        ),
    ]


def test_headers_are_decoded() -> None:
    """From:, its display name, Subject and Message-ID are read and RFC 2047-decoded."""
    parsed = parse_message(NESTED)
    assert parsed.from_addresses == ("alice@example.org",)
    assert parsed.from_display == "Alice Méric"
    assert parsed.subject == "Mise en demeure n°1"
    assert parsed.message_id == "<m1@example.org>"


def test_plain_text_is_preferred_to_html() -> None:
    """In multipart/alternative the text/plain part is the body; the HTML is kept beside it."""
    parsed = parse_message(NESTED)
    assert parsed.text.strip() == "Bonjour, voici la lettre à signer."
    assert parsed.html is not None
    assert "<p>Bonjour" in parsed.html


def test_attachment_bytes_match_the_digests() -> None:
    """attachment_bytes returns each attachment's decoded bytes, matching its recorded digest."""
    parsed = parse_message(NESTED)
    for index, expected in enumerate(parsed.attachments):
        attachment, data = attachment_bytes(NESTED, index)
        assert attachment == expected
        assert digest(data) == attachment.sha256
    assert attachment_bytes(NESTED, 1)[1] == PDF


def test_attachment_index_out_of_range() -> None:
    """Asking for an attachment that does not exist raises IndexError."""
    with pytest.raises(IndexError):
        attachment_bytes(NESTED, 3)


def test_html_only_message_gets_a_text_body() -> None:
    """With only text/html, the text is derived from it: tags, scripts and styles dropped."""
    content = crlf(
        "From: alice@example.org\n"
        "Content-Type: text/html; charset=utf-8\n"
        "\n"
        "<html><head><style>p{}</style><title>t</title></head><body>"
        "<p>Hello&nbsp;&amp; welcome</p><script>alert(1)</script><div>Second</div></body></html>\n"
    )
    parsed = parse_message(content)
    assert parsed.text == "Hello & welcome\n\nSecond"
    assert parsed.attachments == ()


def test_unknown_charset_is_read_as_utf8() -> None:
    """An unknown or non-text charset does not fail: the body is read as UTF-8, errors replaced."""
    for charset in ("x-no-such-charset", "base64", "rot13"):
        content = crlf(f"From: alice@example.org\nContent-Type: text/plain; charset={charset}\n\n")
        parsed = parse_message(content + b"caf\xc3\xa9 \xff\r\n")
        assert parsed.text.startswith("café \ufffd")


def test_undecodable_bytes_in_declared_charset_are_replaced() -> None:
    """Bytes invalid in the declared charset become U+FFFD instead of raising."""
    content = crlf("From: alice@example.org\nContent-Type: text/plain; charset=utf-8\n\n")
    assert parse_message(content + b"\xff\xfe ok\r\n").text.startswith("\ufffd\ufffd ok")


def test_non_mime_message_is_its_text() -> None:
    """A message without MIME headers is text/plain in US-ASCII."""
    parsed = parse_message(b"From: alice@example.org\r\nSubject: hi\r\n\r\nHello\r\n")
    assert parsed.text == "Hello\r\n"
    assert parsed.html is None
    assert parsed.message_id is None


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: no sender\n",
        "From:\n",
        "From: not an address\n",
        "From: undisclosed-recipients:;\n",
        "From: alice@\n",
        "From: alice@example.org\nFrom: mallory@example.org\n",
    ],
    ids=["missing", "empty", "no-address", "empty-group", "no-domain", "two-fields"],
)
def test_missing_or_invalid_from_is_refused(headers: str) -> None:
    """Without exactly one From: field holding a valid address, the message is refused 5.6.0."""
    with pytest.raises(UnreadableMessage) as refused:
        parse_message(crlf(headers + "\nbody\n"))
    assert refused.value.reason is ContentReason.NO_FROM


def test_several_from_addresses_are_all_reported() -> None:
    """A From: with two mailboxes reports both (the handler requires every one to match)."""
    parsed = parse_message(b"From: alice@example.org, Eve <eve@example.net>\r\n\r\nx\r\n")
    assert parsed.from_addresses == ("alice@example.org", "eve@example.net")


def test_a_message_id_the_header_parser_fails_on_is_read_as_written() -> None:
    """Python 3.11.2's header parser raises UnboundLocalError on "<a@[" (an unclosed domain
    literal; found by the property test of tests/unit/test_mime_message_properties.py): the
    raw value is read instead, as for the parser's other failures."""
    parsed = parse_message(crlf("From: alice@example.org\nMessage-ID: <a@[\n\nx\n"))
    assert parsed.message_id == "<a@["


def test_encoded_line_breaks_in_subject_become_spaces() -> None:
    """Encoded CR, LF or NUL in Subject do not survive into the result."""
    content = crlf("From: alice@example.org\nSubject: =?utf-8?q?a=0D=0Ab=00c?=\n\nx\n")
    assert parse_message(content).subject == "a b c"


def test_encoded_line_break_in_from_is_refused() -> None:
    """An encoded LF in the From: display name (the email package raises) is refused 5.6.0."""
    content = crlf("From: =?utf-8?q?Ali=0Ace?= <alice@example.org>\n\nx\n")
    with pytest.raises(UnreadableMessage) as refused:
        parse_message(content)
    assert refused.value.reason is ContentReason.NO_FROM


@pytest.mark.parametrize(
    "body",
    [
        'Content-Type: multipart/mixed; boundary="never-closed"\n\n--never-closed\n'
        "Content-Type: text/plain\n\nhello\n",
        "Content-Type: multipart/mixed\n\nno boundary parameter at all\n",
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: application/pdf\n'
        "Content-Transfer-Encoding: base64\n\n!!!not base64@@@\n--b--\n",
        'Content-Type: text/plain; charset="\n\nunterminated quote\n',
        "Content-Type: /\nContent-Disposition: attachment; filename*=bogus''%ZZ\n\nx\n",
        "Content-Type: message/rfc822\n\nFrom: inner@example.org\nSubject: inner\n\ninner\n",
        "Content-Type: multipart/alternative; boundary=b\n\n--b\n\n--b--\n",
    ],
    ids=[
        "unclosed",
        "no-boundary",
        "bad-base64",
        "bad-param",
        "bad-type",
        "top-rfc822",
        "empty-part",
    ],
)
def test_malformed_mime_does_not_raise(body: str) -> None:
    """Broken MIME still parses into a result; the parser's exceptions never leak."""
    content = crlf("From: alice@example.org\nMIME-Version: 1.0\n" + body)
    parsed = parse_message(content)
    for index in range(len(parsed.attachments)):
        attachment, data = attachment_bytes(content, index)
        assert attachment.sha256 == digest(data)


def test_attached_message_is_one_attachment() -> None:
    """A forwarded message (message/rfc822) is one .eml attachment, not its inner parts."""
    content = crlf(
        "From: alice@example.org\n"
        'Content-Type: multipart/mixed; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "see attached\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: bob@example.com\n"
        "Subject: original\n"
        'Content-Type: multipart/mixed; boundary="inner"\n'
        "\n"
        "--inner\n"
        "Content-Type: application/pdf\n"
        "\n"
        "pdf\n"
        "--inner--\n"
        "--b--\n"
    )
    parsed = parse_message(content)
    assert [(a.name, a.content_type) for a in parsed.attachments] == [
        ("attachment-1.eml", "message/rfc822")
    ]
    _, data = attachment_bytes(content, 0)
    assert data.startswith(b"From: bob@example.com\r\nSubject: original\r\n")
    assert parsed.text == "see attached"


def test_excessive_nesting_is_refused() -> None:
    """MIME nested deeper than the limits is refused (554 5.6.0) by the parser, not recursed."""
    depth = MAX_DEPTH + 5
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(depth)
    )
    tail = "".join(f"--b{n}--\n" for n in reversed(range(depth)))
    content = crlf("From: alice@example.org\n" + head + "Content-Type: text/plain\n\nx\n" + tail)
    with pytest.raises(MessageBeyondLimit) as refused:
        parse_message(content)
    assert (refused.value.reason, refused.value.limit) == (ContentReason.MAX_DEPTH, 32)


def test_inline_image_without_name_counts_as_attachment() -> None:
    """A non-text leaf without a file name is an attachment with a generated name."""
    content = crlf(
        "From: alice@example.org\nContent-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n\n" + b64(b"\x00\x01")
    )
    [attachment] = parse_message(content).attachments
    assert (attachment.name, attachment.size) == ("attachment-1.bin", 2)


def test_html_to_text_keeps_block_structure() -> None:
    """Block elements start new lines; runs of whitespace collapse."""
    assert html_to_text("<h1>Title</h1>\n<p>one   two</p><ul><li>a</li><li>b</li></ul>") == (
        "Title\n\none two\n\na\n\nb"
    )


def test_binary_garbage_does_not_raise() -> None:
    """Random bytes after a valid From: never make the parser raise."""
    garbage = bytes(range(256)) * 8
    parse_message(
        b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" + garbage
    )


@pytest.mark.parametrize("junk", ["<a", "<!--", "</", "<?", "<![CDATA[", "<a b='", "<script>", "<"])
def test_html_to_text_reads_hostile_markup_once(junk: str) -> None:
    """200,000 repetitions of an unclosed tag or comment (minutes in HTMLParser) end the text."""
    assert html_to_text("<p>Hello &amp; welcome</p>" + junk * 200_000).startswith("Hello & welcome")


def test_raw_utf8_headers_are_read_as_utf8_and_stray_bytes_replaced() -> None:
    """Headers in raw UTF-8 (RFC 6532, or a client that skips RFC 2047): name, subject and file
    name come out as written; a byte that is not UTF-8 becomes U+FFFD, never a surrogate."""
    raw = crlf(
        'From: "Ministère de la Justice" <demo@example.ma>\n'
        "To: bob@example.com\n"
        "Subject: Convocation — été\n"
        'Content-Type: multipart/mixed; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Bonjour\n"
        "--b\n"
        "Content-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="pièce signée.pdf"\n'
        "\n"
        "x\n"
        "--b--\n"
    ).replace("été".encode(), b"\xe9t\xc3\xa9")
    parsed = parse_message(raw)
    assert parsed.from_display == "Ministère de la Justice"
    assert parsed.subject == "Convocation — \ufffdté"
    assert [attachment.name for attachment in parsed.attachments] == ["pièce signée.pdf"]
