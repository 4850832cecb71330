"""evidence.xml: an EvidenceRecord as XML with ETSI EN 319 522-2 element names (pure).

Output is deterministic (same record, same bytes) and round-trips exactly: a string XML 1.0
cannot carry (control characters) is written base64-encoded with `encoding="base64"`, and a
carriage return is written as a character reference so parsers do not normalise it away.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.errors import EvidenceError

NAMESPACE: Final = "http://uri.etsi.org/19522/v1#"
FORMAT_VERSION: Final = "1"
SHA256_URI: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FORBIDDEN: Final = (b"<!DOCTYPE", b"<!ENTITY")


def to_xml(record: EvidenceRecord) -> bytes:
    """Serialise `record` as UTF-8 XML with a declaration."""
    root = ET.Element("Evidence", {"xmlns": NAMESPACE, "version": FORMAT_VERSION})
    _text(root, "EvidenceIdentifier", record.evidence_id)
    _text(root, "EventCode", record.event.uri)
    _text(root, "EventTime", _time(record.event_time))
    _text(ET.SubElement(root, "EvidenceIssuerPolicyID"), "PolicyID", record.policy_id)
    issuer = ET.SubElement(root, "EvidenceIssuerDetails")
    _text(issuer, "Name", record.provider_name)
    _text(issuer, "Domain", record.provider_domain)
    _text(root, "LetterIdentifier", record.letter_id)
    _text(root, "LetterReference", record.letter_reference)
    _text(root, "DeliveryIdentifier", record.delivery_id)
    sender = ET.SubElement(root, "SenderDetails")
    _text(sender, "Account", record.sender_account)
    _text(sender, "EmailAddress", record.sender_address)
    _text(sender, "Name", record.sender_name)
    _text(sender, "AuthenticationMethod", record.sender_authentication)
    if record.sender_ip is not None:
        _text(sender, "IPAddress", record.sender_ip)
    recipient = ET.SubElement(root, "RecipientDetails")
    _text(recipient, "EmailAddress", record.recipient_address)
    if record.recipient_phone is not None:
        _text(recipient, "PhoneNumber", record.recipient_phone)
    _text(recipient, "IdentificationMethod", record.recipient_identification)
    _text(root, "SubmissionTime", _time(record.submission_time))
    content = ET.SubElement(root, "UserContentInfo")
    _text(content, "Subject", record.subject)
    _text(content, "MessageSize", str(record.message_size))
    _digest(content, "MessageDigest", record.message_sha256)
    attachments = ET.SubElement(content, "Attachments")
    for attachment in record.attachments:
        item = ET.SubElement(attachments, "Attachment")
        _text(item, "FileName", attachment.name)
        _text(item, "ContentType", attachment.content_type)
        _text(item, "Size", str(attachment.size))
        _digest(item, "Digest", attachment.sha256)
    if record.previous_evidence_sha256 is not None:
        _digest(root, "PreviousEvidenceDigest", record.previous_evidence_sha256)
    if record.acceptance_deadline is not None:
        _text(root, "AcceptanceDeadline", _time(record.acceptance_deadline))
    if record.reason is not None:
        _text(root, "Reason", record.reason)
    if record.extensions:
        extensions = ET.SubElement(root, "Extensions")
        for name, value in record.extensions:
            extension = ET.SubElement(extensions, "Extension")
            _text(extension, "Name", name)
            _text(extension, "Value", value)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    # A raw CR would be normalised to LF by any parser; only text nodes can hold one here.
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.replace("\r", "&#13;").encode() + b"\n"
    )


def from_xml(data: bytes) -> EvidenceRecord:
    """Parse evidence.xml back into its record; raise EvidenceError if it is not one."""
    upper = data.upper()
    if any(marker in upper for marker in _FORBIDDEN):
        raise EvidenceError("evidence.xml must not contain a DOCTYPE or entity declaration")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused above, so no entity expansion
    except ET.ParseError as exc:
        raise EvidenceError(f"evidence.xml is not well-formed XML: {exc}") from exc
    try:
        return _record(_Reader(root))
    except (KeyError, ValueError) as exc:
        raise EvidenceError(f"evidence.xml is not an evidence record: {exc}") from exc


def _record(root: _Reader) -> EvidenceRecord:
    if root.tag != "Evidence":
        raise ValueError(f"root element is {root.tag}, not Evidence")
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
        event_time=_parse_time(root.text("EventTime")),
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
        submission_time=_parse_time(root.text("SubmissionTime")),
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
        acceptance_deadline=_optional_time(root.optional("AcceptanceDeadline")),
        reason=root.optional("Reason"),
        extensions=tuple(
            (item.text("Name"), item.text("Value"))
            for item in root.optional_child("Extensions").children("Extension")
        ),
    )


class _Reader:
    """Namespace-aware, strict access to the children of one element."""

    def __init__(self, element: ET.Element | None) -> None:
        self._element = element

    @property
    def tag(self) -> str:
        return "" if self._element is None else self._element.tag.removeprefix(f"{{{NAMESPACE}}}")

    def _find(self, name: str) -> ET.Element | None:
        if self._element is None:
            return None
        return self._element.find(f"{{{NAMESPACE}}}{name}")

    def child(self, name: str) -> _Reader:
        element = self._find(name)
        if element is None:
            raise ValueError(f"missing element {name}")
        return _Reader(element)

    def optional_child(self, name: str) -> _Reader:
        return _Reader(self._find(name))

    def children(self, name: str) -> Iterator[_Reader]:
        if self._element is not None:
            for element in self._element.findall(f"{{{NAMESPACE}}}{name}"):
                yield _Reader(element)

    def text(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ValueError(f"missing element {name}")
        return value

    def optional(self, name: str) -> str | None:
        element = self._find(name)
        if element is None:
            return None
        text = element.text or ""
        if element.get("encoding") == "base64":
            return base64.b64decode(text, validate=True).decode("utf-8", "surrogatepass")
        return text

    def digest(self, name: str) -> str:
        value = self.optional_digest(name)
        if value is None:
            raise ValueError(f"missing element {name}")
        return value

    def optional_digest(self, name: str) -> str | None:
        element = self._find(name)
        if element is None:
            return None
        if element.get("Algorithm") != SHA256_URI:
            raise ValueError(f"{name} is not a SHA-256 digest")
        return element.text or ""


def _text(parent: ET.Element, name: str, value: str) -> None:
    element = ET.SubElement(parent, name)
    if _NOT_XML.search(value):
        element.set("encoding", "base64")
        value = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
    element.text = value


def _digest(parent: ET.Element, name: str, hex_value: str) -> None:
    ET.SubElement(parent, name, {"Algorithm": SHA256_URI}).text = hex_value


def _time(when: datetime) -> str:
    if when.tzinfo is None:
        raise EvidenceError("evidence times must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not UTC ('Z')")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else _parse_time(text)
