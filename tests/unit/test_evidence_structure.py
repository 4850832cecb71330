"""evidence.xml as another system reads it: the EN 319 522-3 paths of every event type."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core import event_reasons
from gateway.core.evidence import Attachment, EvidenceType, Provider
from gateway.core.identity import Identification
from gateway.core.letter import Delivery, Letter, State
from gateway.core.records import evidence_record
from gateway.evidence.pki import load_certificates
from gateway.evidence.verify import Verdict, verify_paths
from gateway.evidence.xml import from_xml, to_xml
from tests.support.evidence import NS

DEPOSITED = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "evidence_v1"
STYLESHEET = Path(__file__).parent.parent.parent / "docs" / "evidence-fields.xsl"
MESSAGE = b"From: alice@example.org\r\nSubject: Mise en demeure\r\n\r\nbody\r\n"
CONTRACT = b"%PDF-1.7 contract"
NEGATIVE = {
    EvidenceType.ConsignmentRejection,
    EvidenceType.AcceptanceRejectionExpiry,
    EvidenceType.NotificationForAcceptanceFailure,
    EvidenceType.ContentPurged,  # the gateway's own event also says why: retention ended
}
PROVIDER = Provider("LRE Gateway", "lre.example.ma", "1.3.6.1.4.1.99999.2.1")


def _letter() -> Letter:
    return Letter(
        id="L1",
        reference="LRE-2025-000042",
        sender_account="acc-1",
        sender_address="alice@example.org",
        sender_name="Cabinet Alami SARL",
        sender_declared_name="Alice from Alami",
        sender_authentication="SMTP AUTH PLAIN over STARTTLS (TLSv1.3)",
        sender_ip="192.0.2.10",
        subject="Mise en demeure",
        message_id="<20250601.42@mail.example.org>",
        message_size=len(MESSAGE),
        message_sha256=hashlib.sha256(MESSAGE).hexdigest(),
        attachments=(
            Attachment(
                "contrat.pdf",
                "application/pdf",
                len(CONTRACT),
                hashlib.sha256(CONTRACT).hexdigest(),
            ),
        ),
        deposited_at=DEPOSITED,
    )


def _delivery() -> Delivery:
    return Delivery(
        id="D1",
        letter_id="L1",
        recipient="bob@example.ma",
        state=State.NOTIFIED,
        deadline=DEPOSITED + timedelta(days=15),
        updated_at=DEPOSITED,
        phone="+212612345678",
        last_evidence_sha256="d" * 64,
    )


def _evidence(event: EvidenceType, reason: str | None = None) -> ET.Element:
    identification = None
    if event is EvidenceType.ConsignmentAcceptance:
        identification = Identification("sms", "+212 6••••••78", DEPOSITED + timedelta(hours=1))
    record = evidence_record(
        _letter(),
        _delivery(),
        event,
        evidence_id=f"ev-{event.value}",
        at=DEPOSITED + timedelta(hours=2),
        provider=PROVIDER,
        reason=reason,
        identification=identification,
    )
    return ET.fromstring(to_xml(record))  # noqa: S314 - our own output


def _one(root: ET.Element, path: str) -> str:
    found = root.findall(path, NS)
    assert len(found) == 1, path
    return found[0].text or ""


@pytest.mark.parametrize("event", list(EvidenceType))
def test_every_event_has_the_standard_paths(event: EvidenceType) -> None:
    """Each event type's evidence answers the EN 319 522-3 paths with the letter's facts."""
    root = _evidence(event)
    assert root.tag == "{http://uri.etsi.org/19522/v1#}Evidence"
    assert _one(root, "etsi:EvidenceIdentifier") == f"ev-{event.value}"
    ours = event is EvidenceType.ContentPurged  # the gateway's own event, not an ETSI one
    namespace = "urn:lre-gateway:event:" if ours else "http://uri.etsi.org/19522/Event/"
    assert _one(root, "etsi:ERDSEventId") == f"{namespace}{event.value}"
    assert _one(root, "etsi:EventTime") == "2025-06-01T12:00:00Z"
    assert _one(root, "etsi:EvidenceIssuerPolicyID/etsi:PolicyID") == "1.3.6.1.4.1.99999.2.1"
    assert _one(root, "etsi:EvidenceIssuerDetails/etsi:Identifier") == "lre.example.ma"
    legal_name = "etsi:Identity/saml:Attribute[@FriendlyName='LegalName']/saml:AttributeValue"
    assert _one(root, f"etsi:EvidenceIssuerDetails/{legal_name}") == "LRE Gateway"
    assert _one(root, "etsi:SenderDetails/etsi:Identifier") == "alice@example.org"
    assert _one(root, f"etsi:SenderDetails/{legal_name}") == "Cabinet Alami SARL"
    assert _one(root, "etsi:RecipientDetails/etsi:Identifier") == "bob@example.ma"
    method = _one(
        root,
        "etsi:RecipientDetails/etsi:Identity/saml:Attribute"
        "[@FriendlyName='IdentificationMethod']/saml:AttributeValue",
    )
    assert ("+212 6••••••78" in method) is (event is EvidenceType.ConsignmentAcceptance)
    assert _one(root, "etsi:SubmissionTime") == "2025-06-01T10:00:00Z"
    content = "etsi:UserContentInfo"
    assert _one(root, f"{content}/etsi:AppLayerIdentifier") == "<20250601.42@mail.example.org>"
    assert _one(root, f"{content}/etsi:ComposingParts") == "2"
    parts = root.findall(f"{content}/etsi:PartsInfo/etsi:PartInfo", NS)
    expected = [
        ("message", "message/rfc822", MESSAGE),
        ("contrat.pdf", "application/pdf", CONTRACT),
    ]
    assert len(parts) == len(expected)
    for part, (identifier, content_type, data) in zip(parts, expected, strict=True):
        assert _one(part, "etsi:Identifier") == identifier
        assert _one(part, "etsi:ContentType") == content_type
        method_element = part.find("ds:DigestMethod", NS)
        assert method_element is not None
        assert method_element.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
        assert base64.b64decode(_one(part, "ds:DigestValue")) == hashlib.sha256(data).digest()
    # the order of the standard's elements
    names = [child.tag.split("}")[1] for child in root]
    standard = [
        "EvidenceIdentifier", "ERDSEventId", "EventReasons", "EventTime",
        "EvidenceIssuerPolicyID", "EvidenceIssuerDetails", "SenderDetails", "RecipientDetails",
        "SubmissionTime", "UserContentInfo", "Extensions",
    ]  # fmt: skip
    assert names == [name for name in standard if name in names]


@pytest.mark.parametrize("event", list(EvidenceType))
def test_event_reasons_appear_exactly_on_the_three_negative_events(event: EvidenceType) -> None:
    """Refusal, negligence, non-delivery and purge say why (a code URI and Details); others not."""
    reason = "550 5.1.1 <bob@example.ma>: user unknown"
    failure = event is EvidenceType.NotificationForAcceptanceFailure
    root = _evidence(event, reason if failure else None)
    reasons = root.findall("etsi:EventReasons/etsi:EventReason", NS)
    if event not in NEGATIVE:
        assert reasons == []
        return
    assert len(reasons) == 1
    code = _one(reasons[0], "etsi:Code")
    details = _one(reasons[0], "etsi:Details")
    assert code.startswith(event_reasons.REASON_URI)
    assert code == event_reasons.default_reason_code(event)
    if failure:
        assert details == reason
    else:
        assert details == event_reasons.DETAILS[code]
        assert details


def test_an_sms_failure_has_its_own_reason_code() -> None:
    """A notification SMS that could not be delivered is told apart from a failed mail."""
    record = evidence_record(
        _letter(),
        _delivery(),
        EvidenceType.NotificationForAcceptanceFailure,
        evidence_id="ev-1",
        at=DEPOSITED,
        provider=PROVIDER,
        reason="provider answered 400",
        extensions=(("NotificationChannel", "sms"),),
    )
    assert from_xml(to_xml(record)).reason_code == event_reasons.SMS_NOTIFICATION_UNDELIVERABLE


def test_gateway_facts_live_in_the_gateway_namespace_only() -> None:
    """Letter reference, chain digest, deadline and the declared name sit under the extension."""
    root = _evidence(EvidenceType.SubmissionAcceptance)
    gateway = "etsi:Extensions/etsi:Extension/lre:GatewayDetails"
    assert _one(root, f"{gateway}/lre:LetterReference") == "LRE-2025-000042"
    assert _one(root, f"{gateway}/lre:PreviousEvidenceDigest") == "d" * 64
    assert _one(root, f"{gateway}/lre:AcceptanceDeadline") == "2025-06-16T10:00:00Z"
    assert _one(root, f"{gateway}/lre:Sender/lre:DeclaredName") == "Alice from Alami"
    etsi = "{http://uri.etsi.org/19522/v1#}"
    own = {"LetterReference", "PreviousEvidenceDigest", "AcceptanceDeadline", "DeclaredName"}
    assert not [e.tag for e in root.iter() if e.tag.startswith(etsi) and e.tag[len(etsi) :] in own]
    # the declared name is never presented as the identity
    sender = root.find("etsi:SenderDetails", NS)
    assert sender is not None
    assert "Alice from Alami" not in ET.tostring(sender).decode()


def test_every_record_field_round_trips_through_the_standard_shape() -> None:
    """Each event's record comes back whole from the XML, reason code and Message-ID included."""
    for event in EvidenceType:
        record = evidence_record(
            _letter(), _delivery(), event, evidence_id="e", at=DEPOSITED, provider=PROVIDER
        )
        assert from_xml(to_xml(record)) == record


def test_old_shape_evidence_still_reads_and_verifies() -> None:
    """Proofs issued in the first shape (version 1) are read and verified as before."""
    anchors = load_certificates((FIXTURES / "anchors.crt").read_bytes())
    verdicts = verify_paths(sorted(FIXTURES.glob("*/evidence.xml")), anchors)
    assert [v.valid for v in verdicts] == [True, True], [v.problems for v in verdicts]
    deposit, failure = (v.record for v in verdicts)
    assert deposit is not None
    assert failure is not None
    assert deposit.event is EvidenceType.SubmissionAcceptance
    assert [a.name for a in deposit.attachments] == ["contrat.pdf", "رسالة.txt"]
    assert failure.reason == "550 5.1.1 <bob@example.net>\r\n  user unknown"
    assert failure.reason_code is None


def test_lre_gateway_verify_accepts_the_old_shape() -> None:
    """`lre-gateway verify` exits 0 on first-shape proofs and prints what they state."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("lre-gateway")),
            "verify",
            "--anchors",
            str(FIXTURES / "anchors.crt"),
            str(FIXTURES / "non-delivery" / "evidence.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout
    assert "Proof of non-delivery" in result.stdout
    assert "user unknown" in result.stdout


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fr", ["(preuve scellée) : VALIDE", "Preuve de non-distribution", "motif :"]),
        ("ar", ["(دليل مختوم): صالح", "إثبات عدم التسليم", "السبب:"]),
    ],
)
def test_lre_gateway_verify_speaks_the_language_asked_for(lang: str, words: list[str]) -> None:
    """`lre-gateway verify --lang` words the whole report in French or Arabic."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("lre-gateway")),
            "verify",
            "--lang",
            lang,
            "--anchors",
            str(FIXTURES / "anchors.crt"),
            str(FIXTURES / "non-delivery" / "evidence.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for word in words:
        assert word in result.stdout
    for english in ("): VALID\n", "Proof of", "reason:", "sealed by", "public evidence log"):
        assert english not in result.stdout


@pytest.mark.skipif(shutil.which("xsltproc") is None, reason="needs xsltproc (.ci/run installs it)")
def test_an_independent_xslt_processor_finds_every_field(tmp_path: Path) -> None:
    """xsltproc with docs/evidence-fields.xsl (standard paths only) lists every field's value."""
    record = evidence_record(
        _letter(),
        _delivery(),
        EvidenceType.NotificationForAcceptanceFailure,
        evidence_id="ev-9",
        at=DEPOSITED + timedelta(hours=2),
        provider=PROVIDER,
        reason="550 5.1.1 user unknown",
    )
    (tmp_path / "evidence.xml").write_bytes(to_xml(record))
    result = subprocess.run(
        ["xsltproc", str(STYLESHEET), str(tmp_path / "evidence.xml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    message = base64.b64encode(hashlib.sha256(MESSAGE).digest()).decode()
    contract = base64.b64encode(hashlib.sha256(CONTRACT).digest()).decode()
    sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    assert result.stdout.splitlines() == [
        "EvidenceIdentifier: ev-9",
        "ERDSEventId: http://uri.etsi.org/19522/Event/NotificationForAcceptanceFailure",
        f"EventReason Code: {event_reasons.NOTIFICATION_UNDELIVERABLE}",
        "EventReason Details: 550 5.1.1 user unknown",
        "EventTime: 2025-06-01T12:00:00Z",
        "PolicyID: 1.3.6.1.4.1.99999.2.1",
        "EvidenceIssuerDetails Identifier: lre.example.ma",
        "EvidenceIssuerDetails LegalName: LRE Gateway",
        "SenderDetails Identifier: alice@example.org",
        "SenderDetails LegalName: Cabinet Alami SARL",
        "RecipientDetails Identifier: bob@example.ma",
        "RecipientDetails IdentificationMethod: none",
        "SubmissionTime: 2025-06-01T10:00:00Z",
        "AppLayerIdentifier: <20250601.42@mail.example.org>",
        "ComposingParts: 2",
        f"PartInfo: message | message/rfc822 | {sha256} | {message}",
        f"PartInfo: contrat.pdf | application/pdf | {sha256} | {contract}",
        "Gateway LetterReference: LRE-2025-000042",
        "Gateway Subject: Mise en demeure",
        "Gateway SenderDeclaredName: Alice from Alami",
        "Gateway AcceptanceDeadline: 2025-06-16T10:00:00Z",
        f"Gateway PreviousEvidenceDigest: {'d' * 64}",
    ]


def test_the_verifier_report_states_the_new_fields() -> None:
    """`lre-gateway verify`'s words name the ETSI event, Message-ID, reason and declared name."""
    record = evidence_record(
        _letter(),
        _delivery(),
        EvidenceType.ConsignmentRejection,
        evidence_id="ev-r",
        at=DEPOSITED,
        provider=PROVIDER,
    )
    verdict = Verdict(
        source="evidence.xml",
        valid=True,
        problems=(),
        record=from_xml(to_xml(record)),
        signer=None,
        signed_at=None,
        timestamped_at=None,
        tsa=None,
    )
    words = verdict.describe()
    assert "ERDSEventId:      http://uri.etsi.org/19522/Event/ConsignmentRejection" in words
    assert "Message-ID:       <20250601.42@mail.example.org>" in words
    assert f"reason code:      {event_reasons.RECIPIENT_REFUSED}" in words
    assert "reason:           The recipient refused the letter." in words
    assert "declared name:    Alice from Alami (not verified)" in words


def test_the_documented_example_is_what_the_gateway_writes() -> None:
    """docs/evidence.md's example reads back and serialises to the very same bytes."""
    docs = (STYLESHEET.parent / "evidence.md").read_text(encoding="utf-8")
    example = docs.split("```xml\n", 1)[1].split("```", 1)[0].encode()
    record = from_xml(example)
    assert record.event is EvidenceType.ConsignmentRejection
    assert record.reason_code == event_reasons.RECIPIENT_REFUSED
    assert to_xml(record) == example
