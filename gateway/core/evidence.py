"""Evidence records: the statement the gateway seals for each event of a delivery (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

ETSI_EVENT_URI = "http://uri.etsi.org/19522/Event/"
GATEWAY_EVENT_URI = "urn:lre-gateway:event:"  # the gateway's own events (not ETSI's)


class EvidenceType(StrEnum):
    """ETSI EN 319 522 event names, used verbatim."""

    SubmissionAcceptance = "SubmissionAcceptance"
    NotificationForAcceptance = "NotificationForAcceptance"
    NotificationForAcceptanceFailure = "NotificationForAcceptanceFailure"
    ConsignmentAcceptance = "ConsignmentAcceptance"
    ConsignmentRejection = "ConsignmentRejection"
    AcceptanceRejectionExpiry = "AcceptanceRejectionExpiry"
    ContentHandover = "ContentHandover"
    # the gateway's own: the retention period ended, content and personal data were erased
    ContentPurged = "ContentPurged"

    @property
    def uri(self) -> str:
        prefix = GATEWAY_EVENT_URI if self in GATEWAY_EVENTS else ETSI_EVENT_URI
        return prefix + self.value

    @property
    def yields_proof(self) -> bool:
        """True when the sender receives a proof mail for this evidence (DESIGN.md's table)."""
        return self in PROOF_TYPES


GATEWAY_EVENTS = frozenset({EvidenceType.ContentPurged})

PROOF_TYPES = frozenset(
    {
        EvidenceType.SubmissionAcceptance,
        EvidenceType.NotificationForAcceptanceFailure,
        EvidenceType.ConsignmentAcceptance,
        EvidenceType.ConsignmentRejection,
        EvidenceType.AcceptanceRejectionExpiry,
    }
)


@dataclass(frozen=True)
class Attachment:
    """One attachment of a message: file name, MIME type, size in bytes, SHA-256 (hex)."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class EvidenceRecord:
    """Everything one evidence states; serialised to evidence.xml and sealed."""

    evidence_id: str
    event: EvidenceType
    event_time: datetime  # aware, UTC
    letter_id: str
    letter_reference: str
    delivery_id: str
    provider_name: str
    provider_domain: str
    policy_id: str
    sender_account: str
    sender_address: str
    sender_name: str  # the account's registered name (what the gateway verified)
    sender_declared_name: str | None = None  # the From: display name, when it differs
    sender_authentication: str  # e.g. "SMTP AUTH PLAIN over STARTTLS (TLSv1.3)"
    sender_ip: str | None = None  # the address the letter was submitted from
    recipient_address: str
    recipient_phone: str | None = None
    recipient_identification: str = "none"  # how the recipient's identity was verified
    submission_time: datetime
    subject: str
    message_id: str | None = None  # the message's Message-ID (ETSI AppLayerIdentifier for REM)
    message_size: int
    message_sha256: str  # of the message exactly as received in SMTP DATA
    attachments: tuple[Attachment, ...] = ()
    previous_evidence_sha256: str | None = None  # SHA-256 of the previous evidence.xml
    acceptance_deadline: datetime | None = None
    reason_code: str | None = None  # ETSI EventReason code URI (refusal, expiry, failure)
    reason: str | None = None  # diagnostic for failures, e.g. the remote server's reply
    extensions: tuple[tuple[str, str], ...] = field(default=())  # later issues' extra facts


@dataclass(frozen=True)
class Provider:
    """Who issues the evidence."""

    name: str
    domain: str
    policy_id: str


@dataclass(frozen=True)
class ProofStatus:
    """What the public status page of a proof may show: nothing beyond what the proof states."""

    evidence_id: str
    type: EvidenceType
    reference: str
    event_time: datetime
    sealed: bool
