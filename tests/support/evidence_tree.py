"""evidence.xml as an ElementTree, written by ElementTree: the reference the gateway's direct
writer (gateway.evidence.xml.to_xml) is compared with, byte for byte
(tests/unit/test_evidence_xml.py).

The gateway built this tree and had ElementTree (then a writer of its own) serialise it until it
wrote the document directly; the tree is kept here, with ElementTree's own writer, as the
independent form of the same document.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from gateway.core.event_reasons import reason_details
from gateway.core.evidence import EvidenceRecord
from gateway.evidence.xml import (
    _DECLARED,
    _ENCODING,
    _NOT_XML,
    FORMAT_VERSION,
    GATEWAY_NAMESPACE,
    IDENTIFICATION_METHOD,
    LEGAL_NAME,
    MESSAGE_PART,
    MESSAGE_TYPE,
    URI_NAME_FORMAT,
    _base64_digest,
    _declared,
    _ds,
    _etsi,
    _lre,
    _saml,
    _time,
)
from gateway.evidence.xml_reader import SHA256_URI


def elementtree_xml(record: EvidenceRecord) -> bytes:
    """`record`'s evidence.xml as ElementTree indents and writes its tree, with the gateway's
    declaration: what `to_xml` must write."""
    return _declared(elementtree_text(evidence_tree(record)))


def elementtree_text(root: ET.Element) -> str:
    """ElementTree's indent and writer, the gateway's prefixes registered."""
    for prefix, uri in (*_DECLARED, ("lre", GATEWAY_NAMESPACE)):
        ET.register_namespace(prefix, uri)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def evidence_tree(record: EvidenceRecord) -> ET.Element:
    """The document as an ElementTree, as gateway.evidence.xml built it before writing it
    directly."""
    root = ET.Element(_etsi("Evidence"), {"version": FORMAT_VERSION})
    _text(root, _etsi("EvidenceIdentifier"), record.evidence_id)
    _text(root, _etsi("ERDSEventId"), record.event.uri)
    if record.reason_code is not None:
        reason = ET.SubElement(ET.SubElement(root, _etsi("EventReasons")), _etsi("EventReason"))
        _text(reason, _etsi("Code"), record.reason_code)
        _text(reason, _etsi("Details"), reason_details(record.reason_code, record.reason))
    _text(root, _etsi("EventTime"), _time(record.event_time))
    _text(ET.SubElement(root, _etsi("EvidenceIssuerPolicyID")), _etsi("PolicyID"), record.policy_id)
    _party(root, "EvidenceIssuerDetails", record.provider_domain, LEGAL_NAME, record.provider_name)
    _party(root, "SenderDetails", record.sender_address, LEGAL_NAME, record.sender_name)
    _party(
        root,
        "RecipientDetails",
        record.recipient_address,
        IDENTIFICATION_METHOD,
        record.recipient_identification,
    )
    _text(root, _etsi("SubmissionTime"), _time(record.submission_time))
    _content(root, record)
    _gateway(ET.SubElement(ET.SubElement(root, _etsi("Extensions")), _etsi("Extension")), record)
    return root


def _party(parent: ET.Element, tag: str, identifier: str, attribute: str, value: str) -> None:
    """`Identifier` (an address or domain) and `Identity`: one SAML attribute."""
    details = ET.SubElement(parent, _etsi(tag))
    _text(details, _etsi("Identifier"), identifier)
    friendly = attribute.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    saml = ET.SubElement(
        ET.SubElement(details, _etsi("Identity")),
        _saml("Attribute"),
        {"FriendlyName": friendly, "Name": attribute, "NameFormat": URI_NAME_FORMAT},
    )
    _text(saml, _saml("AttributeValue"), value)


def _content(root: ET.Element, record: EvidenceRecord) -> None:
    content = ET.SubElement(root, _etsi("UserContentInfo"))
    if record.message_id is not None:
        _text(content, _etsi("AppLayerIdentifier"), record.message_id)
    parts = [(MESSAGE_PART, MESSAGE_TYPE, record.message_sha256)]
    parts += [(a.name, a.content_type, a.sha256) for a in record.attachments]
    _text(content, _etsi("ComposingParts"), str(len(parts)))
    info = ET.SubElement(content, _etsi("PartsInfo"))
    for identifier, content_type, sha256 in parts:
        part = ET.SubElement(info, _etsi("PartInfo"))
        _text(part, _etsi("Identifier"), identifier)
        _text(part, _etsi("ContentType"), content_type)
        ET.SubElement(part, _ds("DigestMethod"), {"Algorithm": SHA256_URI})
        ET.SubElement(part, _ds("DigestValue")).text = _base64_digest(sha256)


def _gateway(extension: ET.Element, record: EvidenceRecord) -> None:
    """Everything of the gateway's own, in its namespace (docs/evidence.md)."""
    details = ET.SubElement(extension, _lre("GatewayDetails"))
    _text(details, _lre("LetterIdentifier"), record.letter_id)
    _text(details, _lre("LetterReference"), record.letter_reference)
    _text(details, _lre("DeliveryIdentifier"), record.delivery_id)
    sender = ET.SubElement(details, _lre("Sender"))
    _text(sender, _lre("Account"), record.sender_account)
    if record.sender_declared_name is not None:
        _text(sender, _lre("DeclaredName"), record.sender_declared_name)
    _text(sender, _lre("AuthenticationMethod"), record.sender_authentication)
    if record.sender_ip is not None:
        _text(sender, _lre("IPAddress"), record.sender_ip)
    if record.recipient_phone is not None:
        _text(
            ET.SubElement(details, _lre("Recipient")), _lre("PhoneNumber"), record.recipient_phone
        )
    _text(details, _lre("Subject"), record.subject)
    sizes = ET.SubElement(details, _lre("PartSizes"))
    for size in (record.message_size, *(a.size for a in record.attachments)):
        _text(sizes, _lre("PartSize"), str(size))
    if record.previous_evidence_sha256 is not None:
        digest = ET.SubElement(details, _lre("PreviousEvidenceDigest"), {"Algorithm": SHA256_URI})
        digest.text = record.previous_evidence_sha256
    if record.acceptance_deadline is not None:
        _text(details, _lre("AcceptanceDeadline"), _time(record.acceptance_deadline))
    if record.reason is not None:
        _text(details, _lre("Diagnostic"), record.reason)
    if record.extensions:
        facts = ET.SubElement(details, _lre("Facts"))
        for name, value in record.extensions:
            fact = ET.SubElement(facts, _lre("Fact"))
            _text(fact, _lre("Name"), name)
            _text(fact, _lre("Value"), value)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    element = ET.SubElement(parent, tag)
    if _NOT_XML.search(value):
        element.set(_ENCODING, "base64")
        value = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
    element.text = value
