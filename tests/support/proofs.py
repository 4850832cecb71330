"""Evidence records of every proof type for certificate tests and for the pages under docs/.

python -m tests.support.proofs docs/   # renders docs/proof-*.png (pdftoppm, poppler-utils)
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pikepdf

from gateway.core.event_reasons import default_reason_code
from gateway.core.evidence import PROOF_TYPES, Attachment, EvidenceRecord, EvidenceType
from gateway.core.identity import Identification
from gateway.core.records import LINK_HOLDER
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.render import CertificateRenderer

ZONE = ZoneInfo("Africa/Casablanca")
PUBLIC_URL = "https://lre.example.ma"
DEPOSITED = datetime(2026, 11, 14, 9, 30, 5, tzinfo=UTC)
CODE_CHECKED = datetime(2026, 11, 30, 1, 2, 12, tzinfo=UTC)
PHONE = "+212612345678"
MASKED_PHONE = "+212 6•• ••• •78"
PASSWORD_LOGIN = "SMTP AUTH PLAIN over STARTTLS (TLSv1.3)"
# in the order of DESIGN.md's table of proofs
ORDER = (
    EvidenceType.SubmissionAcceptance,
    EvidenceType.ConsignmentAcceptance,
    EvidenceType.ConsignmentRejection,
    EvidenceType.AcceptanceRejectionExpiry,
    EvidenceType.NotificationForAcceptanceFailure,
)
assert set(ORDER) == PROOF_TYPES
DOC_NAMES = {
    EvidenceType.SubmissionAcceptance: "deposit",
    EvidenceType.ConsignmentAcceptance: "acceptance",
    EvidenceType.ConsignmentRejection: "refusal",
    EvidenceType.AcceptanceRejectionExpiry: "negligence",
    EvidenceType.NotificationForAcceptanceFailure: "non-delivery",
}


def long_attachments(count: int) -> tuple[Attachment, ...]:
    """`count` attachments whose names are 70 characters or more."""
    return tuple(
        Attachment(
            f"Annexe {n:02d} - avenant au contrat de bail commercial signé par les deux "
            "parties.pdf",
            "application/pdf",
            48_000 * n + 731,
            f"{n:02x}{'9f3c' * 15}{n:02x}",
        )
        for n in range(1, count + 1)
    )


def proof_record(event: EvidenceType, attachments: int = 2) -> EvidenceRecord:
    """The evidence of `event` for one letter, as the gateway builds it (core.records' shapes)."""
    decided = event in (EvidenceType.ConsignmentAcceptance, EvidenceType.ConsignmentRejection)
    identification = Identification("sms", MASKED_PHONE, CODE_CHECKED)
    how = f"{identification.describe()}; {LINK_HOLDER}" if decided else "none"
    event_time = {
        EvidenceType.SubmissionAcceptance: DEPOSITED,
        EvidenceType.AcceptanceRejectionExpiry: datetime(2026, 11, 30, 23, 0, 0, tzinfo=UTC),
        EvidenceType.NotificationForAcceptanceFailure: DEPOSITED + timedelta(minutes=3),
    }.get(event, CODE_CHECKED + timedelta(seconds=40))
    failure = event is EvidenceType.NotificationForAcceptanceFailure
    return EvidenceRecord(
        evidence_id="0f8e3c1a-6d2b-4c59-9a7e-2b1d4e5f6a7b",
        event=event,
        event_time=event_time,
        letter_id="letter-1",
        letter_reference="LRE-2026-000042",
        delivery_id="delivery-1",
        provider_name="LRE Gateway",
        provider_domain="lre.example.ma",
        policy_id="1.3.6.1.4.1.99999.2.1",
        sender_account="alice",
        sender_address="alice@example.ma",
        sender_name="Alice Émile Benali",
        sender_authentication=PASSWORD_LOGIN,
        sender_ip="192.0.2.10",
        recipient_address="bob.martin@example.com",
        recipient_phone=PHONE,
        recipient_identification=how,
        submission_time=DEPOSITED,
        subject="Mise en demeure — contrat n° 42",
        message_size=187_342,
        message_sha256="5d" * 32,
        attachments=long_attachments(attachments),
        previous_evidence_sha256=None if event is EvidenceType.SubmissionAcceptance else "c4" * 32,
        acceptance_deadline=datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC),
        reason_code=default_reason_code(event),
        reason="550 5.1.1 <bob.martin@example.com>: Recipient address rejected: User unknown"
        if failure
        else None,
        extensions=identification.extensions() if decided else (),
    )


def render(renderer: CertificateRenderer, record: EvidenceRecord, language: str) -> bytes:
    """The certificate of `record` in `language` (unsealed: the layout is what is tested)."""
    return renderer.render(
        CertificateFacts(
            record=record,
            xml=b"<evidence/>",
            p7s=b"\x30\x00",
            provider_name="LRE Gateway",
            public_url=PUBLIC_URL,
            zone=ZONE,
            language=language,
        )
    )


def render_docs(target: Path) -> list[Path]:
    """docs/proof-*.png: each proof type (fr, en, ar mixed), Arabic, and one with 10 attachments."""
    renderer = CertificateRenderer()
    pages = [
        (DOC_NAMES[event], proof_record(event, 2), language)
        for event, language in zip(ORDER, ("fr", "fr", "en", "ar", "fr"), strict=True)
    ]
    pages.append(("acceptance-ar", proof_record(EvidenceType.ConsignmentAcceptance, 2), "ar"))
    pages.append(("deposit-10", proof_record(EvidenceType.SubmissionAcceptance, 10), "fr"))
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, record, language in pages:
            pdf = Path(tmp) / f"{name}.pdf"
            pdf.write_bytes(render(renderer, record, language))
            out = target / f"proof-{name}"
            subprocess.run(
                ["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(out)], check=True
            )
            written.append(out.with_suffix(".png"))
    return written


if __name__ == "__main__":
    for path in render_docs(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        sys.stdout.write(f"{path}\n")


def font_programs(pdf: bytes) -> dict[str, bytes]:
    """Each page font's embedded TrueType program, by its base font name (read by pikepdf)."""
    document = pikepdf.open(io.BytesIO(pdf))
    programs = {}
    for page in document.pages:
        for font in page.Resources.Font.values():
            descriptor = font.DescendantFonts[0].FontDescriptor
            programs[str(font.BaseFont)] = descriptor.FontFile2.read_bytes()
    return programs
