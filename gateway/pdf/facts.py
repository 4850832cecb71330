"""What one certificate shows, as the main process hands it to a certificate process.

Apart from gateway.pdf.render so that the gateway's main process, which only hands certificates
over (gateway.pdf.maker), imports neither fpdf2 nor fontTools.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.core.evidence import EvidenceRecord
from gateway.evidence.xml import from_xml


@dataclass(frozen=True)
class CertificateFacts:
    """What one certificate shows, besides the evidence record itself."""

    record: EvidenceRecord
    xml: bytes
    p7s: bytes
    provider_name: str
    public_url: str
    zone: ZoneInfo
    language: str

    @property
    def verify_url(self) -> str:
        return verify_url(self.public_url, self.record.evidence_id)

    @property
    def log_url(self) -> str:
        return log_url(self.public_url, self.record.evidence_id)


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
        return CertificateFacts(
            record=from_xml(self.xml),
            xml=self.xml,
            p7s=self.p7s,
            provider_name=self.provider_name,
            public_url=self.public_url,
            zone=self.zone,
            language=self.language,
        )


def verify_url(public_url: str, evidence_id: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{evidence_id}"


def log_url(public_url: str, evidence_id: str) -> str:
    """Where the inclusion proof of this evidence in the public evidence log is served."""
    return f"{public_url.rstrip('/')}/log/proof/{evidence_id}"
