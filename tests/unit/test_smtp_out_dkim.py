"""DKIM signatures made by the gateway, checked by dkimpy's own verifier."""

from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest
from dkim.canonicalization import CanonicalizationPolicy
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.smtp_out.dkim import (
    DkimSigner,
    header_fields,
    new_key_pem,
    relaxed_body,
    signed_headers,
    split_message,
    without_b,
)

DOMAIN = "lre.localhost"
MESSAGE = (
    b"From: LRE Gateway <noreply@lre.localhost>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: =?utf-8?q?Lettre_recommand=C3=A9e?= waiting for you\r\n"
    b"Date: Fri, 01 Mar 2024 12:00:00 +0000\r\n"
    b"Message-ID: <n1@lre.localhost>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Received: from somewhere\r\n"
    b"\r\n"
    b"A registered letter is waiting for you.\r\n"
    b"Open: http://127.0.0.1:8080/l/abc\r\n"
)


@pytest.fixture(scope="module")
def key_pem():
    return new_key_pem()


@pytest.fixture
def signer(key_pem):
    return DkimSigner(domain=DOMAIN, selector="lre", key_pem=key_pem)


def dns_for(signer: DkimSigner) -> Callable[..., bytes | None]:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return signer.dns_record().encode() if name == b"lre._domainkey.lre.localhost." else None

    return dnsfunc


def test_signature_verifies_with_the_published_record(signer):
    """dkimpy accepts our signature when DNS returns dns_record()."""
    signed = signer.sign(MESSAGE)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=lre.")
    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


def test_modified_body_fails(signer):
    """Changing one character of the body breaks the signature."""
    signed = signer.sign(MESSAGE).replace(b"waiting for you.", b"waiting for you!")
    assert not dkim.verify(signed, dnsfunc=dns_for(signer))


def test_modified_subject_fails(signer):
    """Changing a signed header field breaks the signature."""
    signed = signer.sign(MESSAGE).replace(b"Subject: =?utf-8", b"Subject: =?UTF-8")
    assert not dkim.verify(signed, dnsfunc=dns_for(signer))


def test_added_from_field_fails(signer):
    """A second From: added in transit breaks the signature (From is signed twice)."""
    signed = signer.sign(MESSAGE).replace(b"To:", b"From: mallory@example.org\r\nTo:", 1)
    assert not dkim.verify(signed, dnsfunc=dns_for(signer))


def test_signed_fields_are_the_recommended_ones(signer):
    """h= lists the RFC 6376 fields present, singletons twice, and never Received."""
    signed = signer.sign(MESSAGE)
    name, value = dkim.rfc822_parse(signed)[0][0]
    assert name == b"DKIM-Signature"
    tags = dkim.util.parse_tag_value(value)
    names = [n.strip() for n in tags[b"h"].split(b":")]
    assert names[:7] == [
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"mime-version",
        b"content-type",
    ]
    assert names.count(b"from") == 2
    assert b"received" not in names


def test_signature_time_comes_from_the_argument(signer):
    """t= is the injected time, so signing is reproducible in tests."""
    signed = signer.sign(MESSAGE, now=datetime(2024, 3, 1, 12, 0, tzinfo=UTC))
    assert b" t=1709294400;" in signed


def test_lf_only_message_keeps_its_line_endings(signer):
    """A message with bare LF line ends gets an LF-folded field, and still verifies."""
    message = MESSAGE.replace(b"\r\n", b"\n")
    signed = signer.sign(message)
    assert b"\r" not in signed
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


def test_message_without_from_is_refused(signer):
    """RFC 6376 requires From to be signed, so a message without one cannot be."""
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"To: bob@example.org\r\n\r\nhi\r\n")


def test_dns_record_shape(signer):
    """The TXT value names version and key type and carries the public key."""
    assert signer.dns_record().startswith("v=DKIM1; k=rsa; p=MII")


def test_from_file_reads_the_key(tmp_path, key_pem):
    """A signer loaded from a PEM file signs like one built from bytes."""
    path = tmp_path / "dkim.pem"
    path.write_bytes(key_pem)
    signer = DkimSigner.from_file(DOMAIN, "lre", path)
    assert dkim.verify(signer.sign(MESSAGE), dnsfunc=dns_for(signer))


def test_missing_key_file_is_a_config_error(tmp_path):
    """A missing key file names the path."""
    with pytest.raises(ConfigError, match=r"nope\.pem"):
        DkimSigner.from_file(DOMAIN, "lre", tmp_path / "nope.pem")


def test_non_rsa_key_is_a_config_error():
    """An EC key cannot make rsa-sha256 signatures."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="RSA"):
        DkimSigner(domain=DOMAIN, selector="lre", key_pem=pem)


def test_garbage_key_is_a_config_error():
    """Bytes that are no PEM key are refused at construction, not at the first signature."""
    with pytest.raises(ConfigError, match="PEM"):
        DkimSigner(domain=DOMAIN, selector="lre", key_pem=b"not a key")


WHITESPACE_BODIES = [
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"no line end",
    b"trailing spaces  \r\n\tand tabs\t \r\n",
    b"runs  of \t spaces\r\ninside\r\n\r\n\r\n",
    b"last line with spaces  ",
    b"  \r\n \t \r\nx\r\n",
    b"lone\rcarriage\r\r\nreturn \r\r\n",
    b"lone\nline feed \n\r\n",
    b"=C3=A9t=C3=A9 =\r\n    indented\r\n-- \r\nsignature\r\n",
]


@pytest.mark.parametrize("body", WHITESPACE_BODIES)
def test_relaxed_body_is_dkimpys(body):
    """The body's canonical form is byte for byte the one dkimpy computes (and verifies)."""
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    assert relaxed_body(body) == policy.canonicalize_body(body)


@pytest.mark.parametrize("chunk", [1, 2, 5, 16])
@pytest.mark.parametrize("body", WHITESPACE_BODIES)
def test_relaxed_body_in_small_pieces_is_dkimpys(body, chunk):
    """Looking at the body piece by piece (clean pieces kept as they are) changes nothing."""
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    assert relaxed_body(body, chunk=chunk) == policy.canonicalize_body(body)


BODY_BYTES = st.sampled_from([b"a", b"=", b" ", b"  ", b"\t", b"\r", b"\n", b"\r\n", b"\r\n"])


@given(st.lists(BODY_BYTES, max_size=200).map(b"".join), st.integers(1, 64))
@settings(max_examples=500, deadline=None)
def test_relaxed_body_of_any_whitespace_is_dkimpys(body, chunk):
    """Spaces, tabs, lone CR and LF anywhere, any piece size: the same bytes as dkimpy."""
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    assert relaxed_body(body, chunk=chunk) == policy.canonicalize_body(body)


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        MESSAGE.replace(b"\r\n", b"\n"),  # LF only
        MESSAGE + b"a lone\nline feed\r\n",
        b"\r\nno header at all\r\n",
        b"From: a@b\r\nTo: c@d\r\n",  # no body
        b"From: a@b\r\n folded\r\nTo: c@d\r\n\r\n\r\nbody\r\n\r\n",
    ],
)
def test_split_message_is_dkimpys(message):
    """Header fields and body come out as dkimpy's own parser gives them."""
    assert split_message(message) == dkim.rfc822_parse(message)


@pytest.mark.parametrize("body", WHITESPACE_BODIES[3:])
def test_bodies_with_whitespace_verify(signer, body):
    """A body with spaces and tabs to canonicalise still verifies with dkimpy."""
    message = MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    signed = signer.sign(message, now=datetime(2024, 3, 1, tzinfo=UTC))
    assert dkim.verify(signed, dnsfunc=dns_for(signer))


# header fields: names the gateway signs (any case) and others, some with bytes dkimpy's parser
# refuses or reads differently; values with runs of spaces and tabs, folds, colons, odd bytes
FIELD_NAMES = st.sampled_from(
    [b"From", b"to", b"SUBJECT", b"Date", b"Message-ID", b"Reply-To", b"X-Tag", b"Received"]
)
VALUE_BYTES = st.sampled_from(
    [
        b"a",
        b"<b@c>",
        b" ",
        b"  ",
        b"\t",
        b":",
        b"=?utf-8?q?x?=",
        b"\r\n ",
        b"\r\n\t",
        b"\x0b",
        b"\r",
    ]
)
FIELD = st.tuples(FIELD_NAMES, st.lists(VALUE_BYTES, max_size=12).map(b"".join)).map(
    lambda field: field[0] + b":" + field[1]
)


class _Recorder:
    """A hasher that keeps what it is fed."""

    def __init__(self) -> None:
        self.fed = b""

    def update(self, data: bytes) -> None:
        self.fed += data


@given(st.lists(FIELD, min_size=1, max_size=8))
@settings(max_examples=400, deadline=None)
def test_header_fields_are_read_as_dkimpy_reads_them(fields):
    """Each field's name and value (its folds, colons and odd bytes kept) as dkimpy's parser
    gives them; a block it reads otherwise is read by it."""
    head = b"\r\n".join(fields)
    assert header_fields(head) == dkim.rfc822_parse(head + b"\r\n\r\n")[0]


@pytest.mark.parametrize(
    "head",
    [b" starts folded", b"no colon here", b"bad name: x", b"From: a\r\n\tmore\r\nTo b", b"From "],
)
def test_a_header_dkimpy_reads_otherwise_is_read_by_dkimpy(head):
    try:
        expected = dkim.rfc822_parse(head + b"\r\n\r\n")[0]
    except Exception as err:  # noqa: BLE001 - the same error either way
        with pytest.raises(type(err)):
            header_fields(head)
        return
    assert header_fields(head) == expected


@given(
    st.lists(FIELD, min_size=1, max_size=8),
    st.lists(st.sampled_from([b"from", b"to", b"subject", b"date", b"reply-to"]), max_size=8),
    st.lists(VALUE_BYTES, max_size=10).map(b"".join),
)
@settings(max_examples=400, deadline=None)
def test_the_header_is_hashed_as_dkimpy_hashes_it(fields, include, unsigned):
    """The signed fields, chosen from the bottom, relaxed, then the signature's own field
    relaxed without its line end: the bytes dkimpy's hash_headers feeds its hasher."""
    headers = dkim.rfc822_parse(b"\r\n".join(fields) + b"\r\n\r\n")[0]
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    recorder = _Recorder()
    dkim.hash_headers(
        recorder,
        policy,
        policy.canonicalize_headers(headers),
        include,
        (b"DKIM-Signature", b" " + unsigned),
        None,
    )
    assert signed_headers(headers, include, unsigned) == recorder.fed


@given(
    st.lists(st.sampled_from([b"from", b"to", b"subject", b"message-id"]), min_size=1),
    st.sampled_from([b"lre.localhost", b"a-much-longer-provider-domain.example.ma", b"x.ma"]),
    st.integers(0, 2**40),
    st.sampled_from([b"\r\n", b"\n"]),
)
def test_the_signatures_b_value_is_taken_out_as_dkimpy_takes_it(names, domain, time, linesep):
    """However the field folds (long h= lists, long domains), the placeholder b= value comes
    out as dkimpy's expression takes it out."""
    tags = [
        (b"v", b"1"),
        (b"d", domain),
        (b"t", str(time).encode()),
        (b"h", b" : ".join(names)),
        (b"bh", b"x" * 44),
        (b"b", b"0" * 60),
    ]
    field = dkim.fold(b"; ".join(b"=".join(tag) for tag in tags), namelen=14, linesep=linesep)
    assert without_b(field) == dkim.RE_BTAG.sub(b"\\1", field)


@given(st.lists(FIELD, max_size=6))
@settings(max_examples=30, deadline=None)  # dkimpy's verification: ~60 ms a message
def test_a_message_with_any_fields_verifies(key_pem, fields):
    """Whatever white space the fields hold (relaxed the quick way or dkimpy's way), dkimpy
    verifies the signature."""
    signer = DkimSigner(domain=DOMAIN, selector="lre", key_pem=key_pem)
    head = MESSAGE.split(b"\r\n\r\n")[0]
    message = head + b"".join(b"\r\n" + field for field in fields) + b"\r\n\r\nBody.\r\n"
    try:
        dkim.rfc822_parse(message)
    except dkim.MessageFormatError:
        return  # not a message
    signed = signer.sign(message, now=datetime(2024, 3, 1, tzinfo=UTC), crlf_throughout=True)
    assert dkim.verify(signed, dnsfunc=dns_for(signer))
