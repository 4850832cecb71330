"""CMS SignedData (RFC 5652) for evidence seals (CAdES-BES, then CAdES-T) and timestamp tokens.

Signing is the hot path of every deposit, so a `CmsSigner` DER-encodes everything that does not
change between signatures once (certificates, signer identifier, algorithms, the ESS
signing-certificate-v2 and content-type attributes) and each signature only concatenates bytes
around two fresh attributes and one call into `cryptography`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.errors import EvidenceError, SignatureError
from gateway.evidence.pki import PrivateKey, load_certificate, load_private_key

SIGNATURE_TIMESTAMP_TOKEN: Final = "1.2.840.113549.1.9.16.2.14"  # noqa: S105 - an OID: id-aa-signatureTimeStampToken
DIGEST_SIZE: Final = 32  # SHA-256
_DER: Final = serialization.Encoding.DER


def der_tlv(tag: int, content: bytes) -> bytes:
    """DER tag-length-value for a one-byte tag."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _attribute(kind: str, value: core.Asn1Value) -> bytes:
    der: bytes = cms.CMSAttribute({"type": kind, "values": [value]}).dump()
    return der


def _time_attribute(when: datetime) -> bytes:
    """signingTime: UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5652 §11.3)."""
    when = when.astimezone(UTC)
    if 1950 <= when.year < 2050:
        value = der_tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    else:
        value = der_tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())
    return der_tlv(0x30, _SIGNING_TIME_OID + der_tlv(0x31, value))


_SIGNING_TIME_OID: Final = cms.CMSAttributeType("signing_time").dump()
_MESSAGE_DIGEST_PREFIX: Final = _attribute("message_digest", core.OctetString(bytes(DIGEST_SIZE)))[
    :-DIGEST_SIZE
]
_SIGNED_DATA_OID: Final = cms.ContentType("signed_data").dump()
_SHA256: Final = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_VERSION_1: Final = core.Integer(1).dump()
_VERSION_3: Final = core.Integer(3).dump()


class CmsSigner:
    """One signing key and its certificates, ready to emit SignedData quickly (internal helper)."""

    def __init__(
        self,
        key: PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(_DER, spki) != cert.public_key().public_bytes(_DER, spki):
            raise SignatureError(f"the private key does not match {cert.subject.rfc4514_string()}")
        self.certificate = cert
        self._key = key
        cert_der = cert.public_bytes(_DER)
        parsed = asn1_x509.Certificate.load(cert_der)
        every_der = [cert_der, *(c.public_bytes(_DER) for c in chain if c != cert)]
        self._certificates = der_tlv(0xA0, b"".join(sorted(every_der)))  # DER SET OF order
        self._sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": parsed.issuer, "serial_number": parsed.serial_number},
        ).dump()
        self._ess = _attribute(
            "signing_certificate_v2",
            tsp.SigningCertificateV2(
                {
                    "certs": [
                        {
                            "cert_hash": hashlib.sha256(cert_der).digest(),
                            "issuer_serial": {
                                "issuer": [
                                    asn1_x509.GeneralName(
                                        name="directory_name", value=parsed.issuer
                                    )
                                ],
                                "serial_number": parsed.serial_number,
                            },
                        }
                    ]
                }
            ),
        )
        self._content_types = {
            name: (cms.ContentType(name).dump(), _attribute("content_type", cms.ContentType(name)))
            for name in ("data", "tst_info")
        }
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._signature_algorithm = algos.SignedDigestAlgorithm(
                {"algorithm": "sha256_ecdsa"}
            ).dump()
        else:
            self._signature_algorithm = algos.SignedDigestAlgorithm(
                {"algorithm": "sha256_rsa", "parameters": core.Null()}
            ).dump()

    def without_certificates(self) -> CmsSigner:
        """The same signer emitting no certificates (a TSA answering certReq=False)."""
        clone = copy.copy(self)
        clone._certificates = b""
        return clone

    def signed_data(
        self,
        *,
        content_type: str,
        digest: bytes,
        signing_time: datetime | None,
        econtent: bytes | None = None,
    ) -> tuple[bytes, bytes]:
        """Return (ContentInfo DER, signature value) for content whose SHA-256 is `digest`.

        `econtent` is embedded when given (timestamp tokens); seals are detached. Without a
        `signing_time` the signingTime attribute is left out (PAdES: the time is the PDF's /M).
        """
        if len(digest) != DIGEST_SIZE:
            raise SignatureError("the content digest must be SHA-256")
        oid, content_type_attr = self._content_types[content_type]
        attrs = [content_type_attr, _MESSAGE_DIGEST_PREFIX + digest, self._ess]
        if signing_time is not None:
            attrs.append(_time_attribute(signing_time))
        attrs.sort()  # DER SET OF order
        signed = b"".join(attrs)
        signature = self._sign(der_tlv(0x31, signed))
        signer_info = der_tlv(
            0x30,
            _VERSION_1
            + self._sid
            + _SHA256
            + der_tlv(0xA0, signed)
            + self._signature_algorithm
            + der_tlv(0x04, signature),
        )
        if econtent is None:
            encap = der_tlv(0x30, oid)
        else:
            encap = der_tlv(0x30, oid + der_tlv(0xA0, der_tlv(0x04, econtent)))
        body = der_tlv(
            0x30,
            (_VERSION_1 if content_type == "data" else _VERSION_3)  # RFC 5652 §5.1
            + der_tlv(0x31, _SHA256)
            + encap
            + self._certificates
            + der_tlv(0x31, signer_info),
        )
        return der_tlv(0x30, _SIGNED_DATA_OID + der_tlv(0xA0, body)), signature

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        raise SignatureError(f"unsupported key type {type(self._key).__name__}")


class Sealer:
    """Seals evidence: a detached CAdES-BES signature (CMS SignedData, SHA-256, DER)."""

    def __init__(
        self, key: PrivateKey, cert: x509.Certificate, chain: Sequence[x509.Certificate] = ()
    ) -> None:
        self._signer = CmsSigner(key, cert, chain)

    @classmethod
    def from_files(cls, cert: Path, key: Path, chain: Sequence[Path] = ()) -> Sealer:
        return cls(
            load_private_key(key), load_certificate(cert), [load_certificate(p) for p in chain]
        )

    @property
    def certificate(self) -> x509.Certificate:
        return self._signer.certificate

    def sign(self, content: bytes, *, signing_time: datetime) -> bytes:
        """Return the DER ContentInfo of a detached signature over `content`."""
        return self.sign_with_value(content, signing_time=signing_time)[0]

    def sign_with_value(self, content: bytes, *, signing_time: datetime) -> tuple[bytes, bytes]:
        """Like `sign`, also returning the signature value (what a timestamp must cover)."""
        return self._signer.signed_data(
            content_type="data",
            digest=hashlib.sha256(content).digest(),
            signing_time=signing_time,
        )


def _signer_info(p7s: bytes) -> tuple[cms.ContentInfo, cms.SignerInfo]:
    try:
        info = cms.ContentInfo.load(p7s)
        if info["content_type"].native != "signed_data":
            raise EvidenceError("not a CMS SignedData")
        signer_infos = info["content"]["signer_infos"]
        if len(signer_infos) != 1:
            raise EvidenceError(f"expected one signer, found {len(signer_infos)}")
        return info, signer_infos[0]
    except (ValueError, TypeError, KeyError) as exc:
        raise EvidenceError(f"not a CMS SignedData: {exc}") from exc


def signature_value(p7s: bytes) -> bytes:
    """Return the signature octets of the (single) SignerInfo: what a CAdES-T timestamp covers."""
    value: bytes = _signer_info(p7s)[1]["signature"].native
    return value


def add_timestamp(p7s: bytes, token: bytes) -> bytes:
    """Return `p7s` with `token` as unsigned id-aa-signatureTimeStampToken: CAdES-T."""
    info, signer_info = _signer_info(p7s)
    try:
        parsed_token = cms.ContentInfo.load(token)
        if parsed_token["content_type"].native != "signed_data":
            raise EvidenceError("the timestamp token is not a CMS SignedData")
        attribute = _attribute("signature_time_stamp_token", parsed_token)
        if not signer_info["unsigned_attrs"]:
            # Fast path, no re-encoding: SignerInfo is the last element of every enclosing
            # structure, so the attribute is appended and the five enclosing lengths grow.
            return _append_innermost(p7s, der_tlv(0xA1, attribute), depth=5)
        kept = [
            attr
            for attr in (signer_info["unsigned_attrs"] or ())
            if attr["type"].dotted != SIGNATURE_TIMESTAMP_TOKEN
        ]
        signer_info["unsigned_attrs"] = [
            *kept,
            cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [parsed_token]}),
        ]
        result: bytes = info.dump()
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"cannot attach the timestamp token: {exc}") from exc
    return result


_SIGNATURE_TIMESTAMP_OID: Final = cms.CMSAttributeType("signature_time_stamp_token").dump()


def append_timestamp(p7s: bytes, token: bytes) -> bytes:
    """`add_timestamp` for a SignedData just made by `CmsSigner` (no unsigned attribute yet).

    Nothing is parsed: the caller vouches for both structures (its own signer and TSA client).
    """
    attribute = der_tlv(0x30, _SIGNATURE_TIMESTAMP_OID + der_tlv(0x31, token))
    return _append_innermost(p7s, der_tlv(0xA1, attribute), depth=5)


def _after_content(signed_data: bytes) -> tuple[int, int]:
    """Where a ContentInfo SignedData's fields after its encapContentInfo start, and its end."""
    content_at, _ = _header(signed_data, 0)
    oid_end = _header(signed_data, content_at)[1]
    sequence_at, _ = _header(signed_data, oid_end)  # [0] EXPLICIT content
    at, end = _header(signed_data, sequence_at)
    for _ in range(3):  # version, digestAlgorithms, encapContentInfo
        at = _header(signed_data, at)[1]
    return at, end


def certificates_of(signed_data: bytes) -> list[bytes]:
    """The DER certificates of a ContentInfo SignedData (a timestamp token's), unparsed."""
    at, end = _after_content(signed_data)
    if at >= end or signed_data[at] != 0xA0:
        return []  # no certificates
    found = []
    child, stop = _header(signed_data, at)
    while child < stop:
        next_child = _header(signed_data, child)[1]
        if signed_data[child] == 0x30:  # a Certificate (not an attribute certificate)
            found.append(signed_data[child:next_child])
        child = next_child
    return found


def signer_names(signed_data: bytes) -> tuple[bytes, bytes, bytes]:
    """What a ContentInfo SignedData says about its first signer beyond its signature, as
    written: its certificates field, the signer's identifier and the signer's unsigned
    attributes (empty bytes where absent). Two signatures with the same three have the same
    signer certificate and carry the same timestamp tokens' certificates."""
    at, end = _after_content(signed_data)
    certificates = b""
    if at < end and signed_data[at] == 0xA0:
        after = _header(signed_data, at)[1]
        certificates, at = signed_data[at:after], after
    if at < end and signed_data[at] == 0xA1:  # crls
        at = _header(signed_data, at)[1]
    if at >= end or signed_data[at] != 0x31:
        raise ValueError("no signerInfos")
    signer_at, _ = _header(signed_data, at)  # the first SignerInfo
    child, stop = _header(signed_data, signer_at)
    child = _header(signed_data, child)[1]  # version
    sid_end = _header(signed_data, child)[1]
    sid = signed_data[child:sid_end]
    unsigned = b""
    child = sid_end
    while child < stop:
        next_child = _header(signed_data, child)[1]
        if signed_data[child] == 0xA1:
            unsigned = signed_data[child:next_child]
        child = next_child
    if child != stop:
        raise ValueError("a SignerInfo longer than its length")
    return certificates, sid, unsigned


def _append_innermost(der: bytes, extra: bytes, *, depth: int) -> bytes:
    """Append `extra` inside the innermost of `depth` nested TLVs, each its parent's last child."""
    levels: list[tuple[int, int]] = []  # (tag offset, content offset) of each level
    start, end = 0, len(der)
    for _ in range(depth):
        content, stop = _header(der, start)
        if stop != end:
            raise ValueError("unexpected DER layout")
        levels.append((start, content))
        child = last = content
        while child < stop:  # walk to the last child
            last, child = child, _header(der, child)[1]
        start = last
    tag_at, content_at = levels[-1]
    result = der_tlv(der[tag_at], der[content_at:end] + extra)
    for (tag_at, content_at), (child_at, _) in zip(levels[-2::-1], levels[:0:-1], strict=True):
        result = der_tlv(der[tag_at], der[content_at:child_at] + result)
    return result


def _header(der: bytes, offset: int) -> tuple[int, int]:
    """Return (content offset, end offset) of the DER TLV at `offset` (one-byte tags)."""
    first = der[offset + 1]
    if first < 0x80:
        return offset + 2, offset + 2 + first
    count = first & 0x7F
    size = int.from_bytes(der[offset + 2 : offset + 2 + count], "big")
    return offset + 2 + count, offset + 2 + count + size


def timestamp_token(p7s: bytes) -> bytes | None:
    """Return the DER of the signature timestamp token in `p7s`, or None when it has none."""
    _, signer_info = _signer_info(p7s)
    for attr in signer_info["unsigned_attrs"] or ():
        if attr["type"].dotted == SIGNATURE_TIMESTAMP_TOKEN and len(attr["values"]):
            token: bytes = attr["values"][0].dump()
            return token
    return None
