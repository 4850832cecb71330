"""When a sealed PDF's last timestamp stops being verifiable on its own (pure).

Read from the bytes directly: the latest signature is the one whose /ByteRange covers the most
of the file, its CMS sits in the gap of that range. (pyHanko's reader took ~20 ms per proof for
the same answer; tests/unit/test_pdf_seal.py checks the two agree.)
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import Final

from asn1crypto import cms, x509

from gateway.errors import EvidenceError
from gateway.evidence.cms import signer_names

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def renewal_due(pdf: bytes) -> datetime:
    """The earliest expiry of the certificates behind the PDF's latest timestamp and signer.

    For a signature, that is its signer and the TSA of its signature timestamp; for a document
    timestamp, its TSA. An archive timestamp must be added before this moment.

    It depends only on what the signature says of its signer (`signer_names`): remembered by
    that (a new document timestamp of the same TSA, as every proof has, is not parsed again).
    """
    der = latest_signature(pdf)
    try:
        key: tuple[bytes, bytes, bytes] | None = signer_names(der)
    except (ValueError, IndexError):
        key = None  # read by asn1crypto, which says what is wrong
    due = _DUE.get(key) if key is not None else None
    if due is None:
        due = _renewal_due(der)
        if key is not None:
            if len(_DUE) >= MAX_READ:
                _DUE.clear()
            _DUE[key] = due
    return due


def _renewal_due(der: bytes) -> datetime:
    try:
        signed = cms.ContentInfo.load(der, strict=False)["content"]
        signer_info = signed["signer_infos"][0]
        expiries = [_not_after(_signer(signed, signer_info))]
        for attr in signer_info["unsigned_attrs"] or ():
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]["content"]
                for choice in token["certificates"] or ():
                    ca, not_after = _read(choice.chosen)
                    if not ca:
                        expiries.append(not_after)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise EvidenceError(f"cannot read the PDF's signatures: {exc}") from exc
    return min(expiries)


def latest_signature(pdf: bytes) -> bytes:
    """The DER of the signature (or document timestamp) that covers the most of `pdf`."""
    ranges = [tuple(int(n) for n in m.groups()) for m in _BYTE_RANGE.finditer(pdf)]
    if not ranges:
        raise EvidenceError("the PDF is not signed")
    start, length, after, _ = max(ranges, key=lambda r: r[2] + r[3])
    contents = pdf[start + length : after].strip()
    if not (contents.startswith(b"<") and contents.endswith(b">")):
        raise EvidenceError("the PDF's latest signature has no /Contents where its range says")
    try:
        return binascii.unhexlify(contents[1:-1])
    except binascii.Error as exc:
        raise EvidenceError(f"cannot read the PDF's signatures: {exc}") from exc


def _signer(signed: cms.SignedData, signer_info: cms.SignerInfo) -> x509.Certificate:
    """The certificate in `signed` that `signer_info` names."""
    sid = signer_info["sid"]
    for choice in signed["certificates"] or ():
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            issuer = sid.chosen["issuer"]
            if cert.serial_number == sid.chosen["serial_number"].native and (
                # the same DER (as the gateway writes it) spares asn1crypto's comparison, which
                # prepares every attribute's string (~0.4 ms per certificate)
                cert.issuer.dump() == issuer.dump() or cert.issuer == issuer
            ):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise KeyError("the signer's certificate is not in the signature")


def _not_after(cert: x509.Certificate) -> datetime:
    return _read(cert)[1]


def _read(cert: x509.Certificate) -> tuple[bool, datetime]:
    """Whether `cert` is a CA's, and when it expires: read once per certificate (the same
    seal and TSA certificates come back in every proof; asn1crypto parses each afresh)."""
    der = cert.dump()
    found = _READ.get(der)
    if found is None:
        value: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
        found = (bool(cert.ca), value.astimezone(UTC))
        if len(_READ) >= MAX_READ:
            _READ.clear()
        _READ[der] = found
    return found


MAX_READ: Final = 64  # certificates remembered (the gateway's seal and TSA certificates)
_READ: dict[bytes, tuple[bool, datetime]] = {}
_DUE: dict[tuple[bytes, bytes, bytes], datetime] = {}  # by `signer_names`
