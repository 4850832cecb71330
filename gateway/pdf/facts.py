"""What one certificate shows, as the main process hands it to a certificate process.

Apart from gateway.pdf.render so that the gateway's main process, which only hands certificates
over (gateway.pdf.maker), imports neither fpdf2 nor fontTools.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo

from gateway.core.evidence import EvidenceRecord
from gateway.evidence.xml import from_xml


@dataclass(frozen=True)
class CertificateSources:
    """What the main process hands a certificate process: the sealed evidence record as stored,
    and the gateway's own words. The certificate process reads the record (`facts()`): the
    main process neither parses it (~0.3 ms) nor pickles it field by field."""

    xml: bytes
    p7s: bytes
    provider_name: str
    public_url: str
    zone: ZoneInfo
    language: str

    def facts(self) -> CertificateFacts:
        given = {field.name: getattr(self, field.name) for field in fields(CertificateSources)}
        return CertificateFacts(record=from_xml(self.xml), **given)


@dataclass(frozen=True)
class CertificateFacts(CertificateSources):
    """What one certificate shows: its sources and the evidence record read from them."""

    record: EvidenceRecord

    @property
    def verify_url(self) -> str:
        return verify_url(self.public_url, self.record.evidence_id)

    @property
    def log_url(self) -> str:
        return log_url(self.public_url, self.record.evidence_id)


def verify_url(public_url: str, evidence_id: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{evidence_id}"


def log_url(public_url: str, evidence_id: str) -> str:
    """Where the inclusion proof of this evidence in the public evidence log is served."""
    return f"{public_url.rstrip('/')}/log/proof/{evidence_id}"
