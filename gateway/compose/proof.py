"""The proof mail the sender receives: a readable summary, evidence.xml and its signature."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway import i18n
from gateway.compose.headers import header_fields
from gateway.compose.mail import Marks, Prepared, address, one_line, render
from gateway.compose.notification import sender_line
from gateway.compose.parts import attachment_part, multipart, new_boundary, text_part, whole_message
from gateway.core.evidence import EvidenceRecord
from gateway.core.policy import shows_deadline
from gateway.display import neutralise

EVIDENCE_XML = "evidence.xml"
EVIDENCE_P7S = "evidence.xml.p7s"
PROOF_PDF = "proof.pdf"


def proof_subject(record: EvidenceRecord, lang: str) -> str:
    """ "Preuve de dépôt — REF — recipient@example.org"."""
    return i18n.gettext(
        lang,
        "proof.subject",
        title=i18n.evidence_title(lang, record.event),
        reference=record.letter_reference,
        recipient=record.recipient_address,
    )


def proof_text(
    record: EvidenceRecord, *, provider_name: str, public_url: str, zone: ZoneInfo, lang: str
) -> str:
    """The readable summary of one evidence, with how to verify it."""
    values = summary_values(
        record, provider_name=provider_name, public_url=public_url, zone=zone, lang=lang
    )
    return summary(lang, **values)


def summary_values(
    record: EvidenceRecord, *, provider_name: str, public_url: str, zone: ZoneInfo, lang: str
) -> dict[str, Any]:
    """What proof.txt shows of one evidence."""

    def when(dt: datetime) -> str:
        return i18n.format_time(dt, lang, zone)

    event_time = when(record.event_time)
    show_deadline = shows_deadline(record.event)
    attachments = [
        {
            "name": one_line(neutralise(a.name)),
            "content_type": one_line(a.content_type),
            "size": i18n.format_size(a.size, lang),
            "sha256": a.sha256,
        }
        for a in record.attachments
    ]
    return dict(
        title=i18n.evidence_title(lang, record.event),
        provider=one_line(provider_name),
        reference=one_line(record.letter_reference),
        sender=sender_line(record.sender_name, record.sender_address),  # the registered name
        declared=one_line(record.sender_declared_name),  # what From: said, labelled as such
        recipient=one_line(record.recipient_address),
        subject=one_line(record.subject),
        deposited=when(record.submission_time),
        event_time=event_time,
        deadline=(
            when(record.acceptance_deadline)
            if show_deadline and record.acceptance_deadline
            else None
        ),
        what=i18n.gettext(lang, f"event.{record.event.value}", time=event_time),
        reason=one_line(record.reason),
        sha256=record.message_sha256,
        size=i18n.format_size(record.message_size, lang),
        attachments=attachments,
        evidence_id=record.evidence_id,
        previous=record.previous_evidence_sha256,
        anchors_url=public_url.rstrip("/") + "/pki/anchors.pem",
        # the public evidence log's inclusion proof, available once its checkpoint is out
        log_url=f"{public_url.rstrip('/')}/log/proof/{record.evidence_id}",
    )


# The summary is rendered once per language and shape (gateway.compose.mail's `Marks`): its
# template calls t() some thirty times. Every value but the title (its length underlines it)
# and the attachments (a list; theirs are) is marked.
MAX_PREPARED: Final = 64
_prepared: Final = Prepared(MAX_PREPARED)


def summary(lang: str, **values: Any) -> str:
    """proof.txt rendered with `values`, from a memo of marked renderings."""
    marked = Marks()
    shaped = {k: v if k in ("title", "attachments") else marked(v) for k, v in values.items()}
    shaped["attachments"] = [{k: marked(v) for k, v in a.items()} for a in values["attachments"]]
    if not marked.usable():
        return rendered(lang, **values)
    key = (
        lang,
        *((k, v) for k, v in shaped.items() if k != "attachments"),
        *(tuple(a.items()) for a in shaped["attachments"]),
    )
    return marked.filled(_prepared.get(key, lambda: rendered(lang, **shaped)))


def rendered(lang: str, **values: Any) -> str:
    """proof.txt rendered by its template."""
    return render("proof.txt", lang, **values)


def compose_proof(
    record: EvidenceRecord,
    xml: bytes,
    p7s: bytes,
    *,
    to: str,
    provider_name: str,
    domain: str,
    public_url: str,
    zone: ZoneInfo,
    language: str,
    message_id: str,
    date: datetime,
    pdf: bytes | None = None,
) -> bytes:
    """The proof mail (RFC 5322, CRLF): multipart/mixed of text, proof.pdf when given,
    evidence.xml and evidence.xml.p7s. Every part is 7-bit (the text quoted-printable), so
    that `smime_sign` signs these very bytes without re-encoding them."""
    lang = i18n.or_default(language)
    head = header_fields(
        sender=address(provider_name, "proofs", domain),
        to=to,
        subject=proof_subject(record, lang),
        message_id=message_id,
        date=date,
    )
    text = proof_text(
        record, provider_name=provider_name, public_url=public_url, zone=zone, lang=lang
    )
    parts = [text_part(text, seven_bit=True)]
    if pdf is not None:
        parts.append(attachment_part(pdf, "application/pdf", PROOF_PDF))
    parts.append(attachment_part(xml, "application/xml", EVIDENCE_XML))
    parts.append(attachment_part(p7s, "application/pkcs7-signature", EVIDENCE_P7S))
    content_type, body = multipart("mixed", parts, new_boundary("proof"))
    return whole_message(head, content_type, lang, body)
