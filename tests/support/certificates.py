"""Sealed proof certificates made as the PDF job makes them, without a running gateway.

`CertificateRenderer.render`, then `PdfSealer.seal` (PAdES-B-LT) and `PdfSealer.archive`
(PAdES-LTA document timestamp), with the development PKI, its CRL and the built-in TSA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography import x509

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.evidence.cms import Sealer
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    anchors_pem,
    ensure_dev_pki,
    load_certificate,
    load_certificates,
    load_private_key,
)
from gateway.evidence.tsa import LocalTimestamper, TimestampAuthority, seal
from gateway.evidence.xml import to_xml
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.render import CertificateRenderer
from gateway.pdf.seal import PdfSealer

PROVIDER = "LRE Gateway <Test> & Co"  # XML and PDF string specials on purpose


def record(
    *, sender_name: str = "Maître Dupont", subject: str = "Mise en demeure"
) -> EvidenceRecord:
    when = datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)
    return EvidenceRecord(
        evidence_id="3b0d2f4e-8a61-4c7e-9d35-0c1b2a3f4e5d",
        event=EvidenceType.SubmissionAcceptance,
        event_time=when,
        letter_id="letter-1",
        letter_reference="LRE-20260302-K7Q2M9XW",
        delivery_id="delivery-1",
        provider_name=PROVIDER,
        provider_domain="lre.localhost",
        policy_id="1.3.6.1.4.1.99999.2.1",
        sender_account="alice",
        sender_address="alice@example.ma",
        sender_name=sender_name,
        sender_authentication="smtp-auth-plain+starttls",
        recipient_address="bob@example.ma",
        submission_time=when,
        subject=subject,
        message_size=20480,
        message_sha256="a" * 64,
        attachments=(Attachment("contrat.pdf", "application/pdf", 10000, "b" * 64),),
        acceptance_deadline=datetime(2026, 3, 17, 22, 59, 59, tzinfo=UTC),
    )


@dataclass(frozen=True)
class CertificateKit:
    """A renderer and a sealer over a fresh development PKI, and its trust anchors."""

    renderer: CertificateRenderer
    sealer: PdfSealer
    evidence_sealer: Sealer
    timestamper: LocalTimestamper
    anchors: list[x509.Certificate]
    clock: Callable[[], datetime]

    def facts(self, language: str, evidence: EvidenceRecord | None = None) -> CertificateFacts:
        evidence = evidence or record()
        xml = to_xml(evidence)
        p7s = asyncio.run(
            seal(self.evidence_sealer, self.timestamper, xml, signing_time=self.clock())
        )
        return CertificateFacts(
            record=evidence,
            xml=xml,
            p7s=p7s,
            provider_name=PROVIDER,
            public_url="https://lre.localhost",
            zone=ZoneInfo("Africa/Casablanca"),
            language=language,
        )

    def sealed(self, facts: CertificateFacts) -> bytes:
        """The certificate as the PDF job stores it: rendered, then sealed PAdES-B-LT."""
        return asyncio.run(self.sealer.seal(self.renderer.render(facts), reason="test"))

    def archived(self, pdf: bytes) -> bytes:
        """`pdf` with the PAdES-LTA document timestamp the archive job adds."""
        return asyncio.run(self.sealer.archive(pdf))


def certificate_kit(directory: Path, clock: Callable[[], datetime]) -> CertificateKit:
    paths = ensure_dev_pki(
        directory, "lre.localhost", crl_url="http://lre.localhost/pki/root-ca.crl"
    )
    timestamper = LocalTimestamper(
        TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key), clock
    )
    crl = CrlPublisher(paths, clock)
    anchors = load_certificates(anchors_pem(paths))
    sealer = PdfSealer(
        key=load_private_key(paths.seal_key),
        cert=load_certificate(paths.seal_cert),
        chain=[],
        anchors=anchors,
        timestamper=timestamper,
        crls=lambda: [crl.current()],
        provider_name=PROVIDER,
    )
    return CertificateKit(
        renderer=CertificateRenderer(),
        sealer=sealer,
        evidence_sealer=Sealer.from_files(paths.seal_cert, paths.seal_key),
        timestamper=timestamper,
        anchors=anchors,
        clock=clock,
    )
