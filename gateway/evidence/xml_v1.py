"""Reading evidence.xml in its first shape (`version="1"`, before the EN 319 522-3 structure).

Proofs issued before the change stay verifiable: their seal covers their bytes, and this reader
gives back the record they state. Nothing writes this shape any more.
"""

from __future__ import annotations

from typing import Final

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.evidence.xml_reader import Reader, optional_time, parse_time

VERSION: Final = "1"


def record_v1(root: Reader) -> EvidenceRecord:
    """The record stated by a first-shape `Evidence` element."""
    event_uri = root.text("EventCode")
    events = {event.uri: event for event in EvidenceType}
    if event_uri not in events:
        raise ValueError(f"unknown event {event_uri}")
    issuer = root.child("EvidenceIssuerDetails")
    sender = root.child("SenderDetails")
    recipient = root.child("RecipientDetails")
    content = root.child("UserContentInfo")
    return EvidenceRecord(
        evidence_id=root.text("EvidenceIdentifier"),
        event=events[event_uri],
        event_time=parse_time(root.text("EventTime")),
        letter_id=root.text("LetterIdentifier"),
        letter_reference=root.text("LetterReference"),
        delivery_id=root.text("DeliveryIdentifier"),
        provider_name=issuer.text("Name"),
        provider_domain=issuer.text("Domain"),
        policy_id=root.child("EvidenceIssuerPolicyID").text("PolicyID"),
        sender_account=sender.text("Account"),
        sender_address=sender.text("EmailAddress"),
        sender_name=sender.text("Name"),
        sender_authentication=sender.text("AuthenticationMethod"),
        sender_ip=sender.optional("IPAddress"),
        recipient_address=recipient.text("EmailAddress"),
        recipient_phone=recipient.optional("PhoneNumber"),
        recipient_identification=recipient.text("IdentificationMethod"),
        submission_time=parse_time(root.text("SubmissionTime")),
        subject=content.text("Subject"),
        message_size=int(content.text("MessageSize")),
        message_sha256=content.digest("MessageDigest"),
        attachments=tuple(
            Attachment(
                name=item.text("FileName"),
                content_type=item.text("ContentType"),
                size=int(item.text("Size")),
                sha256=item.digest("Digest"),
            )
            for item in content.child("Attachments").children("Attachment")
        ),
        previous_evidence_sha256=root.optional_digest("PreviousEvidenceDigest"),
        acceptance_deadline=optional_time(root.optional("AcceptanceDeadline")),
        reason=root.optional("Reason"),
        extensions=tuple(
            (item.text("Name"), item.text("Value"))
            for item in root.optional_child("Extensions").children("Extension")
        ),
    )
