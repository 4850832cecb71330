"""proof.pdf, verified offline: pyHanko for the PAdES seal, verify.py for the embedded evidence.

The seal's signature must be intact, made by a certificate chaining to the anchors, carry a
trusted RFC 3161 signature timestamp, and cover the whole document but for PAdES-LTA updates
(validation data and document timestamps). Certificates are checked at the signature
timestamp's time against the CRLs in the PDF's Document Security Store (no fetching); each
archive (document) timestamp is checked now with the same embedded data. The associated files
evidence.xml and evidence.xml.p7s must verify on their own and be the proof the PDF states.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from gateway.evidence.verify import Verdict, verify_evidence

EVIDENCE_XML: Final = "evidence.xml"
EVIDENCE_P7S: Final = "evidence.xml.p7s"
SIGNATURE_TIMESTAMP: Final = "signature_time_stamp_token"
# what may follow the seal: validation data and document timestamps (PAdES-LTA), nothing else
ARCHIVE_UPDATES: Final = frozenset({ModificationLevel.NONE, ModificationLevel.LTA_UPDATES})

log = logging.getLogger(__name__)


def verify_pdf(data: bytes, anchors: Sequence[x509.Certificate], *, source: str) -> Verdict:
    """Verify a proof certificate; never raises. Not to be called from a running event loop."""
    problems: list[str] = []
    try:
        reader = PdfFileReader(io.BytesIO(data))
        signatures = reader.embedded_regular_signatures
        stamps = reader.embedded_timestamp_signatures
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is a verdict
        return _invalid(source, f"{source} is damaged and cannot be read as a PDF ({exc})")
    if len(signatures) != 1:
        return _invalid(source, f"{source} is not signed (it carries no seal)")
    roots = [_asn1(cert) for cert in anchors]
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # noqa: BLE001 - no DSS: validation below reports the missing data
        dss = None
    seal = signatures[0]
    facts = _check_seal(seal, dss, roots, problems, source)
    archived = tuple(
        at for stamp in stamps if (at := _check_archive(stamp, dss, roots, problems)) is not None
    )
    files, file_problem = _associated_files(reader)
    record = None
    if file_problem:
        problems.append(file_problem)
    else:
        inner = verify_evidence(
            files[EVIDENCE_XML], files[EVIDENCE_P7S], anchors, source=f"{source} → {EVIDENCE_XML}"
        )
        problems += [f"the embedded {EVIDENCE_XML}: {problem}" for problem in inner.problems]
        record = inner.record
    return Verdict(
        source=source,
        valid=not problems,
        problems=tuple(problems),
        record=record,
        signer=facts.get("signer"),
        signed_at=facts.get("signed_at"),
        timestamped_at=facts.get("timestamped_at"),
        tsa=facts.get("tsa"),
        kind="pdf",
        archived=archived,
    )


def _invalid(source: str, problem: str) -> Verdict:
    return Verdict(source, False, (problem,), None, None, None, None, None, kind="pdf")


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _context(
    dss: DocumentSecurityStore | None, roots: list[asn1_x509.Certificate], at: datetime | None
) -> ValidationContext:
    """Offline: the anchors, the PDF's own certificates and CRLs, revocation data required."""
    kwargs: dict[str, Any] = {
        "trust_roots": roots,
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
        "moment": at,
        "retroactive_revinfo": True,
    }
    return dss.as_validation_context(kwargs) if dss else ValidationContext(**kwargs)


def _timestamp_time(seal: EmbeddedPdfSignature) -> datetime | None:
    for attr in seal.signer_info["unsigned_attrs"] or ():
        if attr["type"].native == SIGNATURE_TIMESTAMP:
            token = attr["values"][0]
            info = token["content"]["encap_content_info"]["content"].parsed
            at: datetime = info["gen_time"].native
            return at
    return None


def _check_seal(
    seal: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[asn1_x509.Certificate],
    problems: list[str],
    source: str,
) -> dict[str, Any]:
    try:
        at = _timestamp_time(seal)
        context = _context(dss, roots, at)
        status = asyncio.run(
            async_validate_pdf_signature(
                seal, signer_validation_context=context, ts_validation_context=context
            )
        )
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many kinds on hostile input
        log.debug("PDF seal validation failed: %s", exc)
        problems.append(f"the seal of {source} is damaged and cannot be checked ({exc})")
        return {}
    facts: dict[str, Any] = {
        "signer": status.signing_cert.subject.native.get("common_name"),
        "signed_at": status.signer_reported_dt,
    }
    if not status.intact or not status.valid:
        problems.append(
            f"{source} was modified after sealing: its seal signature does not match its content"
        )
    elif not status.trusted:
        problems.append(
            f"the seal of {source} is not issued by a trusted authority, or its certificate "
            "was revoked or not valid when it was timestamped"
        )
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and not (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.docmdp_ok
        and status.modification_level in ARCHIVE_UPDATES
    ):
        problems.append(
            f"{source} was modified after sealing: content was added that the seal does not cover"
        )
    stamp = status.timestamp_validity
    if at is None or stamp is None:
        problems.append(f"the seal of {source} carries no timestamp")
    else:
        facts["timestamped_at"] = stamp.timestamp
        facts["tsa"] = stamp.signing_cert.subject.native.get("common_name")
        if not (stamp.intact and stamp.valid and stamp.trusted):
            problems.append(f"the timestamp of the seal of {source} is invalid or not trusted")
    return facts


def _check_archive(
    stamp: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[asn1_x509.Certificate],
    problems: list[str],
) -> datetime | None:
    try:
        status = asyncio.run(
            async_validate_pdf_timestamp(stamp, validation_context=_context(dss, roots, None))
        )
    except Exception as exc:  # noqa: BLE001
        problems.append(f"an archive timestamp is damaged and cannot be checked ({exc})")
        return None
    if not (status.intact and status.valid):
        problems.append("an archive timestamp does not match the document: it was modified")
    elif not status.trusted:
        problems.append("an archive timestamp is not issued by a trusted authority")
    at: datetime = status.timestamp
    return at


def _associated_files(reader: PdfFileReader) -> tuple[dict[str, bytes], str | None]:
    """evidence.xml and evidence.xml.p7s as embedded in the PDF, or a problem."""
    found: dict[str, bytes] = {}
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for index in range(0, len(names) - 1, 2):
            name = str(names[index])
            if name in (EVIDENCE_XML, EVIDENCE_P7S):
                found[name] = bytes(names[index + 1]["/EF"]["/F"].data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return found, f"the PDF's attached {EVIDENCE_XML} cannot be read ({exc})"
    missing = [name for name in (EVIDENCE_XML, EVIDENCE_P7S) if name not in found]
    if missing:
        return found, f"the PDF lacks its attached {' and '.join(missing)} (not found)"
    return found, None
