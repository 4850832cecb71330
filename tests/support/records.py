"""A sample evidence record with every field filled (unit tests of evidence.xml and seals)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType


def sample_record(**changes: object) -> EvidenceRecord:
    record = EvidenceRecord(
        evidence_id="ev-0001",
        event=EvidenceType.SubmissionAcceptance,
        event_time=datetime(2025, 6, 1, 10, 0, 0, 250000, tzinfo=UTC),
        letter_id="letter-1",
        letter_reference="LRE-2025-000001",
        delivery_id="delivery-1",
        provider_name="LRE Gateway",
        provider_domain="lre.localhost",
        policy_id="1.3.6.1.4.1.99999.2.1",
        sender_account="alice",
        sender_address="alice@example.org",
        sender_name="Alice Émile <Ltd & Co>",
        sender_authentication="smtp-auth-plain+starttls",
        recipient_address="bob@example.net",
        recipient_phone="+212600000000",
        submission_time=datetime(2025, 6, 1, 10, 0, 0, tzinfo=UTC),
        subject="Mise en demeure — contrat n° 42",
        message_size=2048,
        message_sha256="a" * 64,
        attachments=(
            Attachment("contrat.pdf", "application/pdf", 1000, "b" * 64),
            Attachment("رسالة.txt", "text/plain", 12, "c" * 64),
        ),
        previous_evidence_sha256="d" * 64,
        acceptance_deadline=datetime(2025, 6, 16, 22, 59, 59, tzinfo=UTC),
        reason="550 5.1.1 <bob@example.net>\r\n  user unknown",
        message_id="<20250601100000.1234@mail.example.org>",
        sender_declared_name="Alice (Service juridique)",
        sender_ip="2001:db8::1",
        extensions=(("note", "x"),),
    )
    return replace(record, **changes)  # type: ignore[arg-type]
