"""DKIM signatures (RFC 6376) for the mail the gateway sends: rsa-sha256, relaxed/relaxed.

The signature is dkimpy's (`DKIM.sign`'s layout: its tags, its folding, its choice of the
signed fields), so `dkim.verify` accepts what we produce; the RSA signature itself is made by
`cryptography` over the SHA-256 digest (dkimpy's pure-Python RSA costs ~20x more). What dkimpy
does with regular expressions over every line and field (reading the header, the relaxed forms
of the body and of the fields, taking the b= value out) is done here with byte operations for
the plain case, the gateway's own mail, and by dkimpy otherwise; the tests compare both on
random input. A proof mail's signature without its RSA: ~0.5 → ~0.3 ms.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
)

from gateway.errors import ConfigError

DEFAULT_SELECTOR = "lre"
MIN_KEY_BITS = 1024  # RFC 8301 §3.2: verifiers must accept 1024 bits and up; we make 2048
NEW_KEY_BITS = 2048

_HEADER = b"DKIM-Signature"
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_SIGNED = frozenset(dkim.DKIM.SHOULD)  # RFC 6376 §5.4.1: from, to, subject, date, message-id, ...
# Signed once more than they occur, so nobody can add a second one (RFC 6376 §8.15).
_OVERSIGNED = frozenset({b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to"})
_WSP = re.compile(b"[\t ]+")  # dkimpy's compress_whitespace
_B_PLACEHOLDER = b"0" * 60  # as dkimpy: forces b= onto its own folded line before hashing
CHUNK = 4096  # bytes of body checked at once for whitespace to canonicalise (relaxed_body)


def new_key_pem(bits: int = NEW_KEY_BITS) -> bytes:
    """A fresh RSA private key as PKCS#8 PEM (for `lre-gateway init` and tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class DkimSigner:
    """Signs messages for one domain and selector with one RSA key, loaded once."""

    def __init__(self, *, domain: str, selector: str = DEFAULT_SELECTOR, key_pem: bytes) -> None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"DKIM key: not an unencrypted PEM private key ({err})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError("DKIM key: must be an RSA key (rsa-sha256)")
        if key.key_size < MIN_KEY_BITS:
            raise ConfigError(f"DKIM key: {key.key_size} bits is too short (RFC 8301)")
        self.domain = domain
        self.selector = selector
        self._key = key
        self._d = domain.encode("ascii")
        self._s = selector.encode("ascii")

    @classmethod
    def from_file(cls, domain: str, selector: str, path: Path) -> DkimSigner:
        try:
            key_pem = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"DKIM key {path}: {err.strerror}") from None
        try:
            return cls(domain=domain, selector=selector, key_pem=key_pem)
        except ConfigError as err:
            raise ConfigError(f"{err} in {path}") from None

    def dns_record(self) -> str:
        """The TXT value to publish at <selector>._domainkey.<domain>."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"

    def sign(
        self, message: bytes, *, now: datetime | None = None, crlf_throughout: bool = False
    ) -> bytes:
        """The message with a DKIM-Signature field on top; `now` gives t= (default: the clock).

        `crlf_throughout`: the caller made every line end in CRLF (gateway.compose's mails, as
        tests/unit/test_compose_proof.py checks), so it is not looked for again: two scans of
        the whole message, ~0.1 ms for a proof mail with its PDF."""
        linesep = b"\n" if b"\n" in message and b"\r\n" not in message else b"\r\n"
        headers, body = split_message(message, crlf_throughout=crlf_throughout)
        include = _signed_names(headers)
        body_hash = hashlib.sha256(relaxed_body(body)).digest()
        signed_at = int((now or datetime.now(UTC)).timestamp())
        tags = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", _POLICY.to_c_value()),
            (b"d", self._d),
            (b"q", b"dns/txt"),
            (b"s", self._s),
            (b"t", str(signed_at).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", base64.b64encode(body_hash)),
        ]
        unsigned = without_b(_fold([*tags, (b"b", _B_PLACEHOLDER)], b"\r\n"))
        digest = hashlib.sha256(signed_headers(headers, include, unsigned)).digest()
        signature = self._key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        value = _fold([*tags, (b"b", base64.b64encode(signature))], linesep)
        return _HEADER + b": " + value + linesep + message


def signed_headers(headers: list[list[bytes]], include: list[bytes], unsigned: bytes) -> bytes:
    """What the signature hashes of the header (RFC 6376 §3.7), byte for byte as dkimpy's
    `hash_headers` feeds its hasher: the fields named in `include` (`dkim.select_headers`:
    from the bottom, one occurrence each time a name is listed) in relaxed form, then the
    DKIM-Signature field, `unsigned` (its value with an empty b=), relaxed, without its CRLF.

    dkimpy makes every field relaxed with three regular expressions (~8 µs a field); a value
    whose only white space is spaces, tabs and CRLF folds (the gateway's own fields) is made
    relaxed by splitting it on white space (`_relaxed`)."""
    wanted = set(include)
    canonical = [_relaxed(name, value) for name, value in headers if name.lower() in wanted]
    selected = dkim.select_headers(canonical, include)
    name, value = _relaxed(_HEADER, b" " + unsigned)
    return b"".join([*(n + b":" + v for n, v in selected), name, b":", value.rstrip()])


_ODD_SPACE = (b"\r", b"\n", b"\x0b", b"\x0c")  # white space bytes.split() takes, dkimpy not


def _relaxed(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A header field in relaxed form, as dkimpy's `Relaxed.canonicalize_headers` makes it:
    its name in lower case, its value unfolded, each run of spaces and tabs one space, none at
    either end, then CRLF."""
    unfolded = value.replace(b"\r\n", b"")
    if any(odd in unfolded for odd in _ODD_SPACE):
        relaxed: tuple[bytes, bytes] = _POLICY.canonicalize_headers([(name, value)])[0]
        return relaxed
    return name.lower().rstrip(), b" ".join(unfolded.split()) + b"\r\n"


def without_b(field: bytes) -> bytes:
    """The DKIM-Signature field's value `field`, folded, its b= value (the placeholder, last)
    taken out, as dkimpy's `RE_BTAG` takes it out (looked for in the whole value: ~18 µs)."""
    cut = field.rfind(b"b=")
    if (
        cut > 0
        and field[cut - 1 : cut] in (b";", b" ", b"\t", b"\n")
        and field[cut + 2 :].replace(b"\r\n ", b"") == _B_PLACEHOLDER
    ):
        return field[: cut + 2]
    unsigned: bytes = dkim.RE_BTAG.sub(b"\\1", field)
    return unsigned


def relaxed_body(body: bytes, *, chunk: int = CHUNK) -> bytes:
    """The body in relaxed canonical form (RFC 6376 §3.4.4), byte for byte as dkimpy makes it.

    dkimpy runs two regular expressions over the whole body (~1 ms each for a proof with its
    PDF). Here the body is looked at in pieces of about `chunk` bytes cut after a CRLF: a piece
    with no tab, no run of spaces and no space before a CRLF (the base64 of the PDF, most of a
    proof, which has no space at all: looked for first, a single byte is found fastest) is kept
    as it is; the others are made relaxed with a few replacements of the whole piece
    (`_relaxed_lines`).
    """
    lines_end = body.rfind(b"\r\n") + 2  # body[:lines_end]: the lines that end in CRLF
    if lines_end < 2:
        lines_end = 0
    parts: list[bytes] = []
    pos = 0
    while pos < lines_end:
        found = body.find(b"\r\n", pos + chunk, lines_end) if pos + chunk < lines_end else -1
        stop = found + 2 if found >= 0 else lines_end
        piece = body[pos:stop]
        # no space at all (base64): nothing to change, found at memchr's speed
        if (b" " in piece or b"\t" in piece) and (
            b"\t" in piece or b"  " in piece or b" \r\n" in piece
        ):
            piece = _relaxed_lines(piece)
        parts.append(piece)
        pos = stop
    last = body[lines_end:]  # not followed by CRLF: its trailing spaces stay (as in dkimpy)
    parts.append(_WSP.sub(b" ", last) if b"\t" in last or b"  " in last else last)
    canonical: bytes = correct_empty_body(strip_trailing_lines(b"".join(parts)))
    return canonical


def _relaxed_lines(piece: bytes) -> bytes:
    """Whole lines, each ending in CRLF, in relaxed form: tabs as spaces, each run of spaces as
    one, none before a CRLF (what dkimpy's two expressions make of them; a notification's body
    in ~0.01 ms, line by line ~0.05)."""
    if b"\t" in piece:
        piece = piece.replace(b"\t", b" ")
    while b"  " in piece:
        piece = piece.replace(b"  ", b" ")
    return piece.replace(b" \r\n", b"\r\n")


def split_message(
    message: bytes, *, crlf_throughout: bool = False
) -> tuple[list[list[bytes]], bytes]:
    """(header fields, body) as `dkim.rfc822_parse` returns them.

    rfc822_parse splits the whole message into lines (a regular expression over every byte of
    a 70 KB proof); a message whose every line ends in CRLF (looked for unless the caller says
    so: `crlf_throughout`) only needs its header lines split.
    """
    head, blank, body = message.partition(b"\r\n\r\n")
    if (
        not blank
        or message.startswith(b"\r\n")
        or (not crlf_throughout and message.count(b"\n") != message.count(b"\r\n"))
    ):
        parsed: tuple[list[list[bytes]], bytes] = dkim.rfc822_parse(message)
        return parsed
    return header_fields(head), body


_PRINTABLE = bytes(range(0x21, 0x7F))  # what a field name is made of, for dkimpy's parser


def header_fields(head: bytes) -> list[list[bytes]]:
    """`dkim.rfc822_parse(head + b"\\r\\n\\r\\n")[0]` for header lines `head` (CRLF between them,
    none empty): each field as [name, the rest after its colon with its CRLF], a line that
    starts with a space or a tab added to the field above. Each line is cut at its first colon
    (dkimpy matches an expression on each: ~4 µs a line); dkimpy's parser reads a header with
    any other line (a name with other bytes than printable ones, no colon, a first line that
    continues) and says what is wrong with it."""
    fields: list[list[bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += line + b"\r\n"
            continue
        colon = line.find(b":")
        if colon < 1 or line[:colon].translate(None, _PRINTABLE):
            parsed: list[list[bytes]] = dkim.rfc822_parse(head + b"\r\n\r\n")[0]
            return parsed
        fields.append([line[:colon], line[colon + 1 :] + b"\r\n"])
    return fields


def _signed_names(headers: list[list[bytes]]) -> list[bytes]:
    names = [name.lower() for name, _ in headers if name.lower() in _SIGNED]
    if b"from" not in names:
        raise ValueError("a message must have a From: field to be DKIM-signed (RFC 6376 §5.4)")
    return names + [name for name in dict.fromkeys(names) if name in _OVERSIGNED]


def _fold(tags: list[tuple[bytes, bytes]], linesep: bytes) -> bytes:
    value: bytes = dkim.fold(
        b"; ".join(b"=".join(tag) for tag in tags), namelen=len(_HEADER), linesep=linesep
    )
    return value
