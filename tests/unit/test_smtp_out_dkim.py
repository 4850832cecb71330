"""DKIM signatures made by the gateway, checked by dkimpy's own verifier."""

from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest
from dkim.canonicalization import CanonicalizationPolicy
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.smtp_out.dkim import DkimSigner, new_key_pem, relaxed_body, split_message

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
