"""Build the evidence record of an event from the letter and its delivery (pure)."""

from __future__ import annotations

from datetime import datetime

from gateway.core.event_reasons import default_reason_code
from gateway.core.evidence import EvidenceRecord, EvidenceType, Provider
from gateway.core.identity import Identification
from gateway.core.letter import Delivery, Letter

# How the recipient was identified, per event; a one-time code check (core.identity) comes first.
LINK_HOLDER = "holder of the personal link sent to the recipient's address"
IDENTIFICATION = {
    EvidenceType.ConsignmentAcceptance: LINK_HOLDER,
    EvidenceType.ConsignmentRejection: LINK_HOLDER,
    EvidenceType.ContentHandover: LINK_HOLDER,
}


def evidence_record(
    letter: Letter,
    delivery: Delivery,
    event: EvidenceType,
    *,
    evidence_id: str,
    at: datetime,
    provider: Provider,
    reason: str | None = None,
    reason_code: str | None = None,
    identification: Identification | None = None,
    extensions: tuple[tuple[str, str], ...] = (),
) -> EvidenceRecord:
    how = IDENTIFICATION.get(event, "none")
    if reason_code is None:
        channel = dict(extensions).get("NotificationChannel")
        reason_code = default_reason_code(event, channel=channel)
    if identification is not None:
        how = f"{identification.describe()}; {how}"
        extensions = extensions + identification.extensions()
    return EvidenceRecord(
        evidence_id=evidence_id,
        event=event,
        event_time=at,
        letter_id=letter.id,
        letter_reference=letter.reference,
        delivery_id=delivery.id,
        provider_name=provider.name,
        provider_domain=provider.domain,
        policy_id=provider.policy_id,
        sender_account=letter.sender_account,
        sender_address=letter.sender_address,
        sender_name=letter.sender_name,
        sender_declared_name=letter.sender_declared_name,
        sender_authentication=letter.sender_authentication,
        sender_ip=letter.sender_ip,
        recipient_address=delivery.recipient,
        recipient_phone=delivery.phone,
        recipient_identification=how,
        submission_time=letter.deposited_at,
        subject=letter.subject,
        message_id=letter.message_id,
        message_size=letter.message_size,
        message_sha256=letter.message_sha256,
        attachments=letter.attachments,
        previous_evidence_sha256=delivery.last_evidence_sha256,
        acceptance_deadline=delivery.deadline,
        reason_code=reason_code,
        reason=reason,
        extensions=extensions,
    )
