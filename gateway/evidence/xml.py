"""evidence.xml: an EvidenceRecord as ETSI EN 319 522-3 `Evidence` XML (pure).

The document follows the standard's `Evidence` type (namespace `http://uri.etsi.org/19522/v1#`):
`EvidenceIdentifier`, `ERDSEventId`, `EventReasons` (negative events only), `EventTime`,
`EvidenceIssuerPolicyID`, `EvidenceIssuerDetails`, `SenderDetails` and `RecipientDetails` (each an
`Identifier`, the address, and an `Identity` made of SAML attributes), `SubmissionTime`,
`UserContentInfo` (`AppLayerIdentifier`: the Message-ID; `ComposingParts`; `PartsInfo/PartInfo`
with base64 `ds:DigestValue`s), then `Extensions/Extension/lre:GatewayDetails`: everything of
the gateway's own, in its own namespace. docs/evidence.md maps every field to its XPath.

Output is deterministic (same record, same bytes) and round-trips exactly: a string XML 1.0
cannot carry (control characters) is written base64-encoded with `lre:encoding="base64"`, and a
carriage return is written as a character reference so parsers do not normalise it away.
`from_xml` also reads the first shape (`version="1"`, gateway.evidence.xml_v1), so proofs issued
before keep verifying.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Final

from gateway.core.event_reasons import reason_details
from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.errors import EvidenceError
from gateway.evidence.xml_reader import SHA256_URI, Reader, optional_time, parse_time
from gateway.evidence.xml_v1 import VERSION as VERSION_1
from gateway.evidence.xml_v1 import record_v1

NAMESPACE: Final = "http://uri.etsi.org/19522/v1#"
SAML_NAMESPACE: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NAMESPACE: Final = "http://www.w3.org/2000/09/xmldsig#"
GATEWAY_NAMESPACE: Final = "urn:lre-gateway:evidence:2"
FORMAT_VERSION: Final = "2"
URI_NAME_FORMAT: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
LEGAL_NAME: Final = "http://eidas.europa.eu/attributes/legalperson/LegalName"
IDENTIFICATION_METHOD: Final = "urn:lre-gateway:attribute:IdentificationMethod"
MESSAGE_PART: Final = "message"  # Identifier of the first PartInfo: the message as deposited
MESSAGE_TYPE: Final = "message/rfc822"

_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FORBIDDEN: Final = (b"<!DOCTYPE", b"<!ENTITY")
_ENCODING: Final = f"{{{GATEWAY_NAMESPACE}}}encoding"

_DECLARED: Final = (("", NAMESPACE), ("saml", SAML_NAMESPACE), ("ds", DSIG_NAMESPACE))


def _etsi(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _lre(name: str) -> str:
    return f"{{{GATEWAY_NAMESPACE}}}{name}"


def _saml(name: str) -> str:
    return f"{{{SAML_NAMESPACE}}}{name}"


def _ds(name: str) -> str:
    return f"{{{DSIG_NAMESPACE}}}{name}"


def to_xml(record: EvidenceRecord) -> bytes:
    """Serialise `record` as UTF-8 XML with a declaration.

    Written directly (`_Writer`, ~3x faster than building an ElementTree: one document per
    deposit and per event); the same text as ElementTree writes of the same document's tree
    (tests/support/evidence_tree.py), which the tests compare it with."""
    return _declared(_written(record))


def _declared(body: str) -> bytes:
    # A raw CR would be normalised to LF by any parser; only text nodes can hold one here.
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.replace("\r", "&#13;").encode() + b"\n"
    )


# the root's start tag: every document uses the four namespaces, declared there sorted by prefix
_ROOT: Final = (
    f'<Evidence xmlns="{NAMESPACE}" xmlns:ds="{DSIG_NAMESPACE}" xmlns:lre="{GATEWAY_NAMESPACE}"'
    f' xmlns:saml="{SAML_NAMESPACE}" version="{FORMAT_VERSION}">'
)
_INDENT: Final = tuple("\n" + "  " * depth for depth in range(8))


class _Writer:
    """The document written as it goes: ElementTree's indentation, escaping
    and empty elements (`<name />`), text XML cannot carry in base64 (`leaf`, as `_text`)."""

    __slots__ = ("out",)

    def __init__(self) -> None:
        self.out: list[str] = [_ROOT]

    def leaf(self, depth: int, tag: str, value: str) -> None:
        out = self.out
        out.append(_INDENT[depth])
        if _NOT_XML.search(value):
            value = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
            out.append(f'<{tag} lre:encoding="base64">{value}</{tag}>')
        elif value:
            out.append(f"<{tag}>{_escape_text(value)}</{tag}>")
        else:
            out.append(f"<{tag} />")

    def element(self, depth: int, tag: str, text: str, attributes: str = "") -> None:
        """An element holding `text` as it is (escaped), or empty."""
        if text:
            self.out.append(f"{_INDENT[depth]}<{tag}{attributes}>{_escape_text(text)}</{tag}>")
        else:
            self.out.append(f"{_INDENT[depth]}<{tag}{attributes} />")

    def open(self, depth: int, tag: str, attributes: str = "") -> None:
        self.out.append(f"{_INDENT[depth]}<{tag}{attributes}>")

    def close(self, depth: int, tag: str) -> None:
        self.out.append(f"{_INDENT[depth]}</{tag}>")

    def party(self, tag: str, identifier: str, attribute: str, value: str) -> None:
        friendly = attribute.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        self.open(1, tag)
        self.leaf(2, "Identifier", identifier)
        self.open(2, "Identity")
        self.open(
            3,
            "saml:Attribute",
            f' FriendlyName="{_escape_attribute(friendly)}" Name="{_escape_attribute(attribute)}"'
            f' NameFormat="{URI_NAME_FORMAT}"',
        )
        self.leaf(4, "saml:AttributeValue", value)
        self.close(3, "saml:Attribute")
        self.close(2, "Identity")
        self.close(1, tag)


def _written(record: EvidenceRecord) -> str:
    w = _Writer()
    w.leaf(1, "EvidenceIdentifier", record.evidence_id)
    w.leaf(1, "ERDSEventId", record.event.uri)
    if record.reason_code is not None:
        w.open(1, "EventReasons")
        w.open(2, "EventReason")
        w.leaf(3, "Code", record.reason_code)
        w.leaf(3, "Details", reason_details(record.reason_code, record.reason))
        w.close(2, "EventReason")
        w.close(1, "EventReasons")
    w.leaf(1, "EventTime", _time(record.event_time))
    w.open(1, "EvidenceIssuerPolicyID")
    w.leaf(2, "PolicyID", record.policy_id)
    w.close(1, "EvidenceIssuerPolicyID")
    w.party("EvidenceIssuerDetails", record.provider_domain, LEGAL_NAME, record.provider_name)
    w.party("SenderDetails", record.sender_address, LEGAL_NAME, record.sender_name)
    w.party(
        "RecipientDetails",
        record.recipient_address,
        IDENTIFICATION_METHOD,
        record.recipient_identification,
    )
    w.leaf(1, "SubmissionTime", _time(record.submission_time))
    w.open(1, "UserContentInfo")
    if record.message_id is not None:
        w.leaf(2, "AppLayerIdentifier", record.message_id)
    parts = [(MESSAGE_PART, MESSAGE_TYPE, record.message_sha256)]
    parts += [(a.name, a.content_type, a.sha256) for a in record.attachments]
    w.leaf(2, "ComposingParts", str(len(parts)))
    w.open(2, "PartsInfo")
    for identifier, content_type, sha256 in parts:
        w.open(3, "PartInfo")
        w.leaf(4, "Identifier", identifier)
        w.leaf(4, "ContentType", content_type)
        w.element(4, "ds:DigestMethod", "", f' Algorithm="{SHA256_URI}"')
        w.element(4, "ds:DigestValue", _base64_digest(sha256))
        w.close(3, "PartInfo")
    w.close(2, "PartsInfo")
    w.close(1, "UserContentInfo")
    w.open(1, "Extensions")
    w.open(2, "Extension")
    _written_gateway(w, record)
    w.close(2, "Extension")
    w.close(1, "Extensions")
    w.out.append("\n</Evidence>")
    return "".join(w.out)


def _written_gateway(w: _Writer, record: EvidenceRecord) -> None:
    """Everything of the gateway's own, in its namespace (docs/evidence.md), at depth 3:
    Extensions/Extension/lre:GatewayDetails."""
    w.open(3, "lre:GatewayDetails")
    w.leaf(4, "lre:LetterIdentifier", record.letter_id)
    w.leaf(4, "lre:LetterReference", record.letter_reference)
    w.leaf(4, "lre:DeliveryIdentifier", record.delivery_id)
    w.open(4, "lre:Sender")
    w.leaf(5, "lre:Account", record.sender_account)
    if record.sender_declared_name is not None:
        w.leaf(5, "lre:DeclaredName", record.sender_declared_name)
    w.leaf(5, "lre:AuthenticationMethod", record.sender_authentication)
    if record.sender_ip is not None:
        w.leaf(5, "lre:IPAddress", record.sender_ip)
    w.close(4, "lre:Sender")
    if record.recipient_phone is not None:
        w.open(4, "lre:Recipient")
        w.leaf(5, "lre:PhoneNumber", record.recipient_phone)
        w.close(4, "lre:Recipient")
    w.leaf(4, "lre:Subject", record.subject)
    w.open(4, "lre:PartSizes")
    for size in (record.message_size, *(a.size for a in record.attachments)):
        w.leaf(5, "lre:PartSize", str(size))
    w.close(4, "lre:PartSizes")
    if record.previous_evidence_sha256 is not None:
        w.element(
            4, "lre:PreviousEvidenceDigest", record.previous_evidence_sha256,
            f' Algorithm="{SHA256_URI}"',
        )  # fmt: skip
    if record.acceptance_deadline is not None:
        w.leaf(4, "lre:AcceptanceDeadline", _time(record.acceptance_deadline))
    if record.reason is not None:
        w.leaf(4, "lre:Diagnostic", record.reason)
    if record.extensions:
        w.open(4, "lre:Facts")
        for name, value in record.extensions:
            w.open(5, "lre:Fact")
            w.leaf(6, "lre:Name", name)
            w.leaf(6, "lre:Value", value)
            w.close(5, "lre:Fact")
        w.close(4, "lre:Facts")
    w.close(3, "lre:GatewayDetails")


def _escape_text(text: str) -> str:
    """As ElementTree escapes character data."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attribute(text: str) -> str:
    """As ElementTree escapes an attribute's value."""
    text = _escape_text(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text


def from_xml(data: bytes) -> EvidenceRecord:
    """Parse evidence.xml (either shape) into its record; raise EvidenceError if it is not one."""
    upper = data.upper()
    if any(marker in upper for marker in _FORBIDDEN):
        raise EvidenceError("evidence.xml must not contain a DOCTYPE or entity declaration")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused above, so no entity expansion
    except ET.ParseError as exc:
        raise EvidenceError(f"evidence.xml is not well-formed XML: {exc}") from exc
    try:
        if root.tag != _etsi("Evidence"):
            raise ValueError(f"root element is {root.tag}, not Evidence")
        version = root.get("version")
        if version == VERSION_1:
            return record_v1(Reader(root, NAMESPACE))
        if version != FORMAT_VERSION:
            raise ValueError(f"unknown evidence format version {version!r}")
        return _record(Reader(root, NAMESPACE, _ENCODING))
    except (KeyError, ValueError, binascii.Error) as exc:
        raise EvidenceError(f"evidence.xml is not an evidence record: {exc}") from exc


def _record(root: Reader) -> EvidenceRecord:
    event_uri = root.text("ERDSEventId")
    events = {event.uri: event for event in EvidenceType}
    if event_uri not in events:
        raise ValueError(f"unknown event {event_uri}")
    reason = root.optional_child("EventReasons").optional_child("EventReason")
    reason_code = None if reason.element is None else reason.text("Code")
    content = root.child("UserContentInfo")
    parts = list(content.child("PartsInfo").children("PartInfo"))
    if int(content.text("ComposingParts")) != len(parts) or not parts:
        raise ValueError("ComposingParts does not count the PartInfo elements")
    gateway = _gateway_details(root)
    sender = gateway.child("Sender")
    sizes = [int(size.own_text()) for size in gateway.child("PartSizes").children("PartSize")]
    if len(sizes) != len(parts):
        raise ValueError("PartSizes does not match PartsInfo")
    message, *attachments = parts
    if message.text("Identifier") != MESSAGE_PART:
        raise ValueError(f"the first PartInfo is not the {MESSAGE_PART}")
    return EvidenceRecord(
        evidence_id=root.text("EvidenceIdentifier"),
        event=events[event_uri],
        event_time=parse_time(root.text("EventTime")),
        letter_id=gateway.text("LetterIdentifier"),
        letter_reference=gateway.text("LetterReference"),
        delivery_id=gateway.text("DeliveryIdentifier"),
        provider_name=_identity(root.child("EvidenceIssuerDetails"), LEGAL_NAME),
        provider_domain=root.child("EvidenceIssuerDetails").text("Identifier"),
        policy_id=root.child("EvidenceIssuerPolicyID").text("PolicyID"),
        sender_account=sender.text("Account"),
        sender_address=root.child("SenderDetails").text("Identifier"),
        sender_name=_identity(root.child("SenderDetails"), LEGAL_NAME),
        sender_declared_name=sender.optional("DeclaredName"),
        sender_authentication=sender.text("AuthenticationMethod"),
        sender_ip=sender.optional("IPAddress"),
        recipient_address=root.child("RecipientDetails").text("Identifier"),
        recipient_phone=gateway.optional_child("Recipient").optional("PhoneNumber"),
        recipient_identification=_identity(root.child("RecipientDetails"), IDENTIFICATION_METHOD),
        submission_time=parse_time(root.text("SubmissionTime")),
        subject=gateway.text("Subject"),
        message_id=content.optional("AppLayerIdentifier"),
        message_size=sizes[0],
        message_sha256=_hex_digest(message),
        attachments=tuple(
            Attachment(
                name=part.text("Identifier"),
                content_type=part.text("ContentType"),
                size=size,
                sha256=_hex_digest(part),
            )
            for part, size in zip(attachments, sizes[1:], strict=True)
        ),
        previous_evidence_sha256=gateway.optional_digest("PreviousEvidenceDigest"),
        acceptance_deadline=optional_time(gateway.optional("AcceptanceDeadline")),
        reason_code=reason_code,
        reason=gateway.optional("Diagnostic"),
        extensions=tuple(
            (fact.text("Name"), fact.text("Value"))
            for fact in gateway.optional_child("Facts").children("Fact")
        ),
    )


def _gateway_details(root: Reader) -> Reader:
    """The gateway's extension, whichever `Extension` holds it."""
    for extension in root.child("Extensions").children("Extension"):
        details = extension.optional_child(_lre("GatewayDetails"))
        if details.element is not None:
            return Reader(details.element, GATEWAY_NAMESPACE, _ENCODING)
    raise ValueError("missing element lre:GatewayDetails")


def _identity(details: Reader, attribute: str) -> str:
    """The value of the SAML attribute named `attribute` in `details/Identity`."""
    identity = details.child("Identity")
    if identity.element is not None:
        for element in identity.element.findall(_saml("Attribute")):
            if element.get("Name") == attribute:
                return Reader(element, SAML_NAMESPACE, _ENCODING).text("AttributeValue")
    raise ValueError(f"{details.tag} has no attribute {attribute}")


def _hex_digest(part: Reader) -> str:
    method = part.child(_ds("DigestMethod")).element
    if method is None or method.get("Algorithm") != SHA256_URI:
        raise ValueError("a PartInfo digest is not SHA-256")
    digest = base64.b64decode(part.child(_ds("DigestValue")).own_text(), validate=True)
    if len(digest) != 32:
        raise ValueError("a PartInfo digest is not 32 bytes long")
    return digest.hex()


def _base64_digest(hex_value: str) -> str:
    """The base64 form of a hex SHA-256 digest (XML-DSig's DigestValue)."""
    try:
        digest = bytes.fromhex(hex_value)
    except ValueError:
        digest = b""
    if len(digest) != 32 or digest.hex() != hex_value:
        raise EvidenceError(f"a content digest is not a lower-case hex SHA-256: {hex_value!r}")
    return base64.b64encode(digest).decode("ascii")


def _time(when: datetime) -> str:
    if when.tzinfo is None:
        raise EvidenceError("evidence times must be timezone-aware")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
