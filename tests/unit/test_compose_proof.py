"""The proof mail: a readable summary and the two evidence files, byte for byte."""

import base64
import email
import email.policy
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.compose import compose_proof
from gateway.compose.parts import (
    as_whole,
    attachment_part,
    base64_lines,
    with_attachment,
    without_attachment,
)
from gateway.compose.smime import _seven_bit, smime_sign
from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from tests.support import openssl
from tests.support.pki import make_pki
from tests.support.proofs import ORDER

AT = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
XML = b'<?xml version="1.0" encoding="UTF-8"?>\n<Evidence>\r\n\xc3\xa9</Evidence>\n'
P7S = bytes(range(256)) * 4


def record(**changes: Any) -> EvidenceRecord:
    base = EvidenceRecord(
        evidence_id="ev-0001",
        event=EvidenceType.SubmissionAcceptance,
        event_time=AT,
        letter_id="letter-1",
        letter_reference="LRE-2026-7K3Q9",
        delivery_id="delivery-1",
        provider_name="LRE Gateway (development)",
        provider_domain="lre.localhost",
        policy_id="urn:lre-gateway:policy:dev",
        sender_account="acc-1",
        sender_address="dupont@avocats.example",
        sender_name="Maître Dupont",
        sender_authentication="smtp-auth-plain+starttls",
        recipient_address="destinataire@example.org",
        submission_time=AT,
        subject="Mise en demeure",
        message_size=12_345,
        message_sha256="a" * 64,
        attachments=(Attachment("contrat.pdf", "application/pdf", 54_321, "b" * 64),),
        acceptance_deadline=AT + timedelta(days=15),
    )
    return replace(base, **changes)


def compose(r: EvidenceRecord, language: str = "fr", pdf: bytes | None = None) -> bytes:
    return compose_proof(
        r,
        XML,
        P7S,
        to="dupont@avocats.example",
        provider_name="LRE Gateway (development)",
        domain="lre.localhost",
        public_url="http://127.0.0.1:8080/",
        zone=ZoneInfo("Africa/Casablanca"),
        language=language,
        message_id="p1@lre.localhost",
        date=AT,
        pdf=pdf,
    )


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def text_of(raw: bytes) -> str:
    msg = parse(raw)
    return str(next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_content())


def test_parts_parse_back_and_attachments_are_byte_identical():
    """The mail is text, then evidence.xml and evidence.xml.p7s with their exact bytes."""
    msg = parse(compose(record()))
    assert msg.get_content_type() == "multipart/mixed"
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["evidence.xml", "evidence.xml.p7s"]
    assert [a.get_content_type() for a in attachments] == [
        "application/xml",
        "application/pkcs7-signature",
    ]
    assert attachments[0].get_payload(decode=True) == XML
    assert attachments[1].get_payload(decode=True) == P7S


def test_headers():
    """From is proofs@domain; the subject names the proof, the letter and the recipient."""
    msg = parse(compose(record()))
    assert msg["From"].addresses[0].addr_spec == "proofs@lre.localhost"
    assert msg["From"].addresses[0].display_name == "LRE Gateway (development)"
    assert msg["To"] == "dupont@avocats.example"
    assert msg["Subject"] == "Preuve de dépôt — LRE-2026-7K3Q9 — destinataire@example.org"
    assert msg["Message-ID"] == "<p1@lre.localhost>"
    assert msg["Auto-Submitted"] == "auto-generated"


def test_only_crlf_line_ends():
    """Every line ends with CRLF, as SMTP requires."""
    raw = compose(record(subject="line\nbreak", reason="550 5.1.1\r\nno such user"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")


def test_summary_of_a_deposit():
    """The deposit proof states the facts, the deadline, the hashes and how to verify."""
    text = text_of(compose(record()))
    for expected in (
        "Preuve de dépôt",
        "LRE-2026-7K3Q9",
        "destinataire@example.org",
        "Mise en demeure",
        "27/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC",
        "Date limite d'acceptation : 12/12/2026 14:05 (Africa/Casablanca) — 13:05 UTC",
        "a" * 64,
        "contrat.pdf",
        "b" * 64,
        "ev-0001",
        "lre-gateway verify evidence.xml evidence.xml.p7s",
        "openssl cms -verify -binary -inform DER -in evidence.xml.p7s -content evidence.xml"
        " -CAfile anchors.pem -purpose any",
        "http://127.0.0.1:8080/pki/anchors.pem",
    ):
        assert expected in text, expected


@pytest.mark.parametrize(
    ("event", "title", "sentence"),
    [
        (EvidenceType.ConsignmentAcceptance, "Accusé de réception", "a accepté la lettre"),
        (EvidenceType.ConsignmentRejection, "Preuve de refus", "a refusé la lettre"),
        (EvidenceType.AcceptanceRejectionExpiry, "Preuve de négligence", "négligée"),
        (EvidenceType.NotificationForAcceptanceFailure, "Preuve de non-distribution", "n'a pas pu"),
    ],
)
def test_each_proof_says_what_happened(event, title, sentence):
    """Each proof type is named in words and says what happened in one sentence."""
    raw = compose(record(event=event))
    assert parse(raw)["Subject"].startswith(title + " — ")
    assert sentence in text_of(raw)


def test_failure_reason_is_shown():
    """A non-delivery proof carries the reason, flattened to one line."""
    text = text_of(
        compose(
            record(
                event=EvidenceType.NotificationForAcceptanceFailure,
                reason="550 5.1.1\nmailbox unknown",
            )
        )
    )
    assert "Motif : 550 5.1.1 mailbox unknown" in text


def test_deadline_only_where_it_matters():
    """An acknowledgement of receipt does not repeat the acceptance deadline."""
    text = text_of(compose(record(event=EvidenceType.ConsignmentAcceptance)))
    assert "Date limite d'acceptation" not in text


@pytest.mark.parametrize(
    ("language", "title"),
    [("en", "Proof of deposit"), ("ar", "إثبات الإيداع")],
)
def test_other_languages(language, title):
    """The proof is written in the requested language."""
    raw = compose(record(), language=language)
    assert parse(raw)["Subject"].startswith(title)
    assert "lre-gateway verify evidence.xml evidence.xml.p7s" in text_of(raw)


def test_declared_name_is_labelled_never_the_sender():
    """A From: display name other than the registered one is shown only as the sender's claim."""
    text = text_of(compose(record(sender_declared_name="Ministère de la Justice")))
    assert "Expéditeur : Maître Dupont <dupont@avocats.example>" in text
    assert (
        "Nom indiqué par l'expéditeur (non vérifié) : Ministère de la Justice" in text.splitlines()
    )
    assert not [
        line for line in text.splitlines() if line.startswith("Expéditeur") and "Minist" in line
    ]


def test_no_declared_name_line_when_there_is_none():
    """Without a differing display name the proof has no declared-name line."""
    assert "non vérifié" not in text_of(compose(record()))


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
def test_the_proof_mail_links_to_its_inclusion_proof_in_the_public_log(language: str) -> None:
    """Each proof mail gives the URL of its evidence's inclusion proof and the file name to use."""
    r = record()
    text = text_of(compose(r, language))
    assert f"/log/proof/{r.evidence_id}" in text
    assert f"{r.evidence_id}.log.json" in text


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def smime_verified(signed: bytes, pki, workdir: Path) -> bytes:
    """The signed entity as `openssl smime -verify` outputs it (fails the test if invalid)."""
    mail, content = workdir / "signed.eml", workdir / "content"
    mail.write_bytes(signed)
    result = openssl.run(
        "smime", "-verify", "-in", mail, "-CAfile", pki.anchors_file, "-out", content
    )
    assert result.returncode == 0, result.stderr
    return content.read_bytes()


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_proof_mail_is_signed_as_composed(language, pki, tmp_path):
    """The proof mail is 7-bit throughout, so the S/MIME signature covers the very bytes
    composed (no part re-encoded), and openssl verifies it."""
    raw = compose(record(), language)
    assert raw.isascii()
    assert _seven_bit(raw) is raw  # nothing to re-encode: gateway.pdf.maker says seven_bit
    signed = smime_sign(raw, pki.sealer, signing_time=AT)
    head, _, body = raw.partition(b"\r\n\r\n")
    content_fields = b"".join(
        b"Content-" + field + b"\r\n" for field in head.split(b"\r\nContent-")[1:]
    )
    assert content_fields + b"\r\n" + body in signed
    assert "lre-gateway verify evidence.xml" in text_of(smime_verified(signed, pki, tmp_path))


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_the_signed_proof_mail_ends_every_line_in_crlf_as_its_dkim_signer_is_told(language, pki):
    """gateway.pdf.maker signs the S/MIME-signed proof mail with DKIM saying it is CRLF
    throughout (not scanned again): it is, whatever the values, and the signature is the one
    made when it is scanned."""
    from gateway.smtp_out.dkim import DkimSigner, new_key_pem

    raw = compose(
        record(subject="line\nbreak\r", reason="550 5.1.1\r\nno such user\n"),
        language,
        pdf=b"%PDF-1.7\n" + bytes(range(256)) * 300,
    )
    assert _seven_bit(raw) is raw  # 7-bit whatever the values (gateway.pdf.maker: seven_bit)
    signed = smime_sign(raw, pki.sealer, signing_time=AT)
    assert signed.count(b"\n") == signed.count(b"\r\n") == signed.count(b"\r")
    signer = DkimSigner(domain="lre.localhost", key_pem=new_key_pem())
    assert signer.sign(signed, now=AT, crlf_throughout=True) == signer.sign(signed, now=AT)


def test_an_8bit_mail_is_made_quoted_printable_before_signing(pki, tmp_path):
    """A text part in 8bit is re-encoded before signing: no relay can alter the signed bytes."""
    raw = (
        "From: a@lre.localhost\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        "Lettre recommandée électronique\r\n"
    ).encode()
    signed = smime_sign(raw, pki.sealer, signing_time=AT)
    assert signed.isascii()
    assert "Lettre recommandée électronique" in text_of(smime_verified(signed, pki, tmp_path))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.sampled_from([b"", bytes(57), bytes(58), bytes(57 * 40)]))
def test_base64_lines_are_those_of_the_standard_library(data: bytes) -> None:
    """An attachment's base64 body: what base64.encodebytes writes, with CRLF line ends, and
    the mail reader gives the same bytes back."""
    assert base64_lines(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")
    part = attachment_part(data, "application/pdf", "proof.pdf")
    parsed = email.message_from_bytes(part, policy=email.policy.default)
    assert parsed.get_content() == data


def test_a_signed_proof_mail_stored_without_its_pdf_comes_back_byte_for_byte(pki, tmp_path):
    """Stored, the proof mail refers to its PDF (kept once, in the proofs); made whole again it
    is the very bytes signed, and openssl still verifies the signature. Another PDF is refused."""
    pdf = bytes(range(256)) * 300  # 76.8 KB, as big as a certificate
    raw = compose(record(), pdf=pdf)
    signed = smime_sign(raw, pki.sealer, signing_time=AT)
    stored = without_attachment(signed, pdf)
    assert len(stored) < len(signed) - len(pdf)
    assert base64_lines(pdf) not in stored
    whole = with_attachment(stored, pdf)
    assert whole == signed
    assert "lre-gateway verify evidence.xml" in text_of(smime_verified(whole, pki, tmp_path))
    with pytest.raises(ValueError, match="not at hand"):
        with_attachment(stored, pdf[:-1] + b"x")
    with pytest.raises(ValueError, match="not at hand"):
        with_attachment(stored, None)


NO_NUL = st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\x01"))


@settings(max_examples=200, deadline=None)
@given(NO_NUL, st.binary(min_size=1, max_size=300), NO_NUL)
def test_an_attachment_taken_out_goes_back_where_it_was(
    before: bytes, data: bytes, after: bytes
) -> None:
    """Whatever surrounds it (but a NUL byte, below), an attachment's body taken out of a mail
    goes back in its place (the reference left is 84 bytes); a mail that carries it twice, or
    not at all, is stored whole. The process that took it out hands the same mail over, its
    attachment's place noted the same (`as_whole`), pickled as it goes to the main process."""
    message = before + base64_lines(data) + after
    stored = without_attachment(message, data)
    whole = with_attachment(stored, data)
    assert whole == message
    handed = as_whole(message, stored, data)
    if message.count(base64_lines(data)) == 1:
        assert len(stored) == len(message) - len(base64_lines(data)) + 84
        assert handed is not None
        handed = pickle.loads(pickle.dumps(handed))  # noqa: S301 - our own bytes, just made
        assert handed == message
        assert handed.base64_span == whole.base64_span  # type: ignore[attr-defined]
        start, end = handed.base64_span
        assert message[start:end] == base64_lines(data)
    else:
        assert stored == message
        assert handed is None


def test_a_mail_holding_a_nul_byte_is_refused() -> None:
    """The reference to the attachment starts with a NUL byte: a mail that holds one already
    (no composed mail does) could read as a reference, so it is refused rather than stored."""
    data = b"%PDF-1.7 certificate"
    forged = b"\x00attachment sha256=\x00"
    for message in (forged + base64_lines(data), base64_lines(data) + b"\x00", forged):
        with pytest.raises(ValueError, match="NUL byte"):
            without_attachment(message, data)


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_an_attachment_whose_lines_repeat_is_found_whole(copies: int) -> None:
    """The attachment is looked for by its first line: lines like it before it (a run of
    zeros is one base64 line many times over), and a second copy overlapping the first, are
    told apart from the attachment itself."""
    data = bytes(57 * 3)  # three identical lines
    line = base64_lines(bytes(57))
    message = b"head\r\n" + line * 2 + b"x\r\n" + base64_lines(data) * copies + b"y" + line
    stored = without_attachment(message, data)
    assert with_attachment(stored, data) == message
    if copies == 1:
        assert stored.startswith(b"head\r\n" + line * 2 + b"x\r\n\x00attachment sha256=")
        assert stored.endswith(b"\x00y" + line)
    else:
        assert stored == message  # carried more than once (overlapping): kept whole


TEXTS = st.one_of(
    st.none(),
    st.just(""),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=30),
    st.sampled_from(["Maître Dupont", "محمد بن عبد الله", "a\x1a0\x1ab", "{x} %s {{ y }}"]),
)


@settings(max_examples=300, deadline=None)
@given(
    lang=st.sampled_from(["fr", "en", "ar"]),
    event=st.sampled_from(ORDER),  # the events with a proof mail
    sender_name=TEXTS,
    declared=TEXTS,
    subject=TEXTS,
    reason=TEXTS,
    provider=st.text(st.characters(blacklist_categories=["Cs"]), max_size=30),
    names=st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=20), max_size=3),
    previous=st.sampled_from([None, "c" * 64]),
    shift=st.integers(min_value=-(10**9), max_value=10**9),
)
def test_the_summary_from_its_prepared_template_is_the_one_the_template_renders(
    lang: str,
    event: EvidenceType,
    sender_name: str | None,
    declared: str | None,
    subject: str | None,
    reason: str | None,
    provider: str,
    names: list[str],
    previous: str | None,
    shift: int,
) -> None:
    from gateway.compose.proof import rendered, summary, summary_values

    r = record(
        event=event,
        event_time=AT + timedelta(seconds=shift),
        sender_name=sender_name or "",
        sender_declared_name=declared,
        subject=subject,
        reason=reason,
        previous_evidence_sha256=previous,
        attachments=tuple(
            Attachment(name, "application/pdf", 1000 * n, f"{n}" * 64)
            for n, name in enumerate(names)
        ),
    )
    values = summary_values(
        r,
        provider_name=provider,
        public_url="https://lre.example/",
        zone=ZoneInfo("UTC"),
        lang=lang,
    )
    for _ in range(2):  # made, then from the memo
        assert summary(lang, **values) == rendered(lang, **values)
