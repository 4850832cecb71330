"""Proof certificates: one page, worded in the sender's language, read back with poppler.

Rendered by the real CertificateRenderer (fonts, HarfBuzz, fpdf2); pages are counted by pdfinfo
and text is read by pdftotext (poppler-utils), independent of the code that wrote them.
"""

from __future__ import annotations

import html
import re
import subprocess
import unicodedata
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.evidence.xml import from_xml, to_xml
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.identification import sender_method
from gateway.pdf.render import EVIDENCE_XML, CertificateRenderer
from tests.support.proofs import ORDER, PUBLIC_URL, ZONE, long_attachments, proof_record, render

LANGUAGES = ("fr", "en", "ar")
ENGLISH = (
    "one-time code",
    "sent by",
    "given back",
    "over STARTTLS",
    "SMTP AUTH",
    "holder of",
    "recipient's page",
    "email address only",
)
ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
MX_DKIM = (
    "MX address over STARTTLS (TLSv1.3): DKIM signature d=example.ma s=mail2026 aligned with "
    "the From: domain example.ma, received from 192.0.2.25"
)


@pytest.fixture(scope="module")
def renderer() -> CertificateRenderer:
    return CertificateRenderer()


def write(tmp_path: Path, renderer: CertificateRenderer, record: EvidenceRecord, lang: str) -> Path:
    path = tmp_path / f"{record.event.value}-{lang}-{len(record.attachments)}.pdf"
    path.write_bytes(render(renderer, record, lang))
    return path


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)$", info.stdout, re.M).group(1))  # type: ignore[union-attr]


def pdftotext(pdf: Path, *pages: int) -> str:
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    out = subprocess.run(
        ["pdftotext", *first_last, str(pdf), "-"], capture_output=True, check=True
    ).stdout
    return _plain(out.decode())


def words(pdf: Path) -> list[tuple[float, float, str]]:
    """(y, x, word) of every word on the pages, bidi controls removed."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)</word>', out)
    return [(float(y), float(x), _plain(w)) for x, y, w in found]


def _letters(text: str) -> str:
    """text in NFC without its combining marks (Arabic short vowels, shadda)."""
    return " ".join(
        "".join(
            c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c) != "Mn"
        ).split()
    )


def _plain(text: str) -> str:
    # pdftotext puts bidi controls around RTL runs; compare in NFC
    return unicodedata.normalize("NFC", "".join(c for c in text if unicodedata.category(c) != "Cf"))


@pytest.mark.parametrize("attachments", [0, 2, 10])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_every_proof_fits_one_page(
    tmp_path: Path,
    renderer: CertificateRenderer,
    event: EvidenceType,
    lang: str,
    attachments: int,
) -> None:
    """Each proof type, in each language, with up to 10 long-named attachments is one page."""
    record = proof_record(event, attachments)
    pdf = write(tmp_path, renderer, record, lang)
    assert pages(pdf) == 1
    text = pdftotext(pdf)
    assert record.letter_reference in text
    assert "1/1" in text
    assert text.count("parties.pdf") == attachments  # each long name printed to its end


@pytest.mark.parametrize("lang", ["fr", "ar"])
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_french_and_arabic_certificates_carry_no_english_identification(
    tmp_path: Path, renderer: CertificateRenderer, event: EvidenceType, lang: str
) -> None:
    """Identification is worded in the certificate's language, with local time and zone."""
    pdf = write(tmp_path, renderer, proof_record(event), lang)
    text = pdftotext(pdf)
    flat = " ".join(text.split())
    for phrase in ENGLISH:
        assert phrase not in flat
    assert not ISO_TIMESTAMP.search(text)
    assert "(Africa/Casablanca)" in text
    if event in (EvidenceType.ConsignmentAcceptance, EvidenceType.ConsignmentRejection):
        assert "30/11/2026 02:02 (Africa/Casablanca) — 01:02 UTC" in flat  # the code check
        assert ("SMS" if lang == "fr" else "رسالة نصية قصيرة") in flat
    sender_words = {"fr": "mot de passe de son compte", "ar": "كلمة مرور حساب"}
    assert _plain(sender_words[lang]) in flat
    if event is EvidenceType.NotificationForAcceptanceFailure:  # the reply, quoted
        lead = {"fr": "échec définitif signalé par le système distant", "ar": "إخفاق نهائي"}
        assert lead[lang] in flat
        assert "User unknown" in flat


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_masked_phone_number_stays_on_one_line_in_reading_order(
    tmp_path: Path, renderer: CertificateRenderer, lang: str
) -> None:
    """The masked number '+212 6•• ••• •78' is never broken and reads left to right, Arabic too."""
    pdf = write(tmp_path, renderer, proof_record(EvidenceType.ConsignmentAcceptance), lang)
    found = words(pdf)
    parts = ["6••", "•••"]
    tail = [(y, x, w) for y, x, w in found if w.startswith("•78")]
    assert len(tail) == 1
    y, x_tail, _ = tail[0]
    line = [(x, w) for wy, x, w in found if abs(wy - y) < 3]
    xs = [next(x for x, w in line if w == part) for part in parts]
    assert xs[0] < xs[1] < x_tail  # 6•• then ••• then •78, on the line of •78
    assert any(w.endswith("212") and x < xs[0] for x, w in line)


def test_arabic_verification_addresses_keep_their_slashes(
    tmp_path: Path, renderer: CertificateRenderer
) -> None:
    """In Arabic the /pki/ and /verify addresses print whole, the final dot outside them."""
    pdf = write(tmp_path, renderer, proof_record(EvidenceType.SubmissionAcceptance), "ar")
    printed = {w for _, _, w in words(pdf)}
    assert "https://lre.example.ma/pki/" in printed
    assert "https://lre.example.ma/verify" in printed


@pytest.mark.parametrize(
    ("lang", "label"),
    [
        ("fr", "Preuve d'inscription au journal"),
        ("en", "Inclusion proof in the log"),
        ("ar", "إثبات القيد في السجل العام"),
    ],
)
def test_the_log_inclusion_proof_address_is_printed_on_one_line_with_its_label(
    tmp_path: Path, renderer: CertificateRenderer, lang: str, label: str
) -> None:
    """The public log's inclusion proof of this evidence: its address whole, on one line,
    beside a label in the certificate's language."""
    record = proof_record(EvidenceType.SubmissionAcceptance)
    pdf = write(tmp_path, renderer, record, lang)
    url = f"{PUBLIC_URL.rstrip('/')}/log/proof/{record.evidence_id}"
    found = words(pdf)
    line = [(y, x) for y, x, w in found if w == url]
    assert len(line) == 1  # one word: never broken, in reading order
    y, _ = line[0]
    on_line = {html.unescape(w) for wy, _, w in found if abs(wy - y) < 3}
    on_line |= {w[::-1] for w in on_line}  # -bbox gives Arabic words in visual order
    assert set(label.split()[:2]) <= on_line
    assert _letters(_plain(label)) in _letters(" ".join(pdftotext(pdf).split()))


def test_many_attachments_continue_on_a_page_with_header_reference_and_numbers(
    tmp_path: Path, renderer: CertificateRenderer
) -> None:
    """Beyond one page, the next page repeats the proof type and reference, and says page n/N."""
    record = replace(
        proof_record(EvidenceType.SubmissionAcceptance), attachments=long_attachments(30)
    )
    pdf = write(tmp_path, renderer, record, "fr")
    count = pages(pdf)
    assert count >= 2
    for page in range(2, count + 1):
        text = pdftotext(pdf, page)
        assert "Preuve de dépôt (suite)" in text
        assert record.letter_reference in text
        assert f"page {page}/{count}" in text
    whole = " ".join(pdftotext(pdf).split())
    assert "Annexe 30 - avenant" in whole
    assert "Comment vérifier ce document" in whole


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", "signature électronique (DKIM) valide du domaine example.ma"),
        ("en", "valid electronic signature (DKIM) of the domain example.ma"),
    ],
)
def test_a_letter_deposited_by_mx_names_the_domain_that_vouched_for_it(
    tmp_path: Path, renderer: CertificateRenderer, lang: str, expected: str
) -> None:
    """An MX deposit's DKIM check is told in words, naming the signing domain."""
    record = replace(proof_record(EvidenceType.SubmissionAcceptance), sender_authentication=MX_DKIM)
    flat = " ".join(pdftotext(write(tmp_path, renderer, record, lang)).split())
    assert expected in flat
    assert "received from" not in flat or lang == "en"
    assert "aligned with the From:" not in flat


def test_an_unknown_authentication_is_quoted_after_a_localized_phrase(
    tmp_path: Path, renderer: CertificateRenderer
) -> None:
    """A method the certificate cannot read is named as recorded in the evidence, never dropped."""
    record = replace(
        proof_record(EvidenceType.SubmissionAcceptance), sender_authentication="X-Token 42"
    )
    flat = " ".join(pdftotext(write(tmp_path, renderer, record, "fr")).split())
    assert "méthode consignée dans la preuve scellée : « X-Token 42 »" in flat


@pytest.mark.parametrize(
    ("how", "kind", "domain", "tls"),
    [
        ("SMTP AUTH PLAIN over STARTTLS (TLSv1.3)", "password", "", "TLS 1.3"),
        ("SMTP AUTH LOGIN over implicit TLS (TLSv1.2)", "password", "", "TLS 1.2"),
        (MX_DKIM, "dkim", "example.ma", "TLS 1.3"),
        (
            "MX address: SPF pass for bounces.example.ma from 192.0.2.25, aligned with the "
            "From: domain example.ma (DMARC)",
            "spf",
            "bounces.example.ma",
            "",
        ),
        (
            "MX address: dmarc=pass for example.ma reported by the trusted relay mx.example.net",
            "relay_dmarc",
            "example.ma",
            "",
        ),
        ("MX address: something new", "unknown", "", ""),
    ],
)
def test_sender_authentication_sentences_are_read_into_facts(
    how: str, kind: str, domain: str, tls: str
) -> None:
    """Each sentence the SMTP side writes is recognised; anything else is 'unknown'."""
    method = sender_method(how)
    assert (method.kind, method.domain, method.tls) == (kind, domain, tls)
    assert method.raw == how


def test_an_attachment_name_is_shown_without_its_bidi_override(
    tmp_path: Path, renderer: CertificateRenderer
) -> None:
    """A name hiding a program behind a right-to-left override reads as written on the page,
    while the sealed evidence.xml carried by the PDF keeps the exact name."""
    trap = Attachment("invoice\u202efdp.exe", "application/octet-stream", 4096, "e1" * 32)
    record = replace(proof_record(EvidenceType.SubmissionAcceptance), attachments=(trap,))
    facts = CertificateFacts(
        record=record,
        xml=to_xml(record),
        p7s=b"\x30\x00",
        provider_name="LRE Gateway",
        public_url=PUBLIC_URL,
        zone=ZONE,
        language="en",
    )
    pdf = tmp_path / "trap.pdf"
    pdf.write_bytes(renderer.render(facts))
    raw = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "invoicefdp.exe" in raw
    assert "\u202e" not in raw
    assert "exe.pdf" not in raw
    with pikepdf.open(pdf) as opened:
        embedded = opened.attachments[EVIDENCE_XML].get_file().read_bytes()
    assert [a.name for a in from_xml(embedded).attachments] == ["invoice\u202efdp.exe"]


# what the reason row says (Arabic: pieces, poppler splits right-to-left lines at punctuation)
NEGATIVE: dict[EvidenceType, dict[str, tuple[str, ...]]] = {
    EvidenceType.ConsignmentRejection: {
        "fr": ("Le destinataire a refusé la lettre.",),
        "en": ("The recipient refused the letter.",),
        "ar": ("رفض", "المرسَل إليه الرسالة"),
    },
    EvidenceType.AcceptanceRejectionExpiry: {
        "fr": (
            "Le destinataire n'a ni accepté ni refusé la lettre avant la fin du délai "
            "d'acceptation.",
        ),
        "en": (
            "The recipient neither accepted nor refused the letter before the acceptance deadline.",
        ),
        "ar": ("لم يقبل", "المرسَل إليه الرسالة ولم يرفضها قبل انتهاء أجل القبول"),
    },
    EvidenceType.NotificationForAcceptanceFailure: {
        "fr": (
            "Le courriel de notification n'a pas pu être remis au destinataire : échec "
            "définitif signalé par le système distant",
        ),
        "en": (
            "The notification email could not be delivered to the recipient: permanent "
            "failure reported by the remote system",
        ),
        "ar": ("تعذّر تسليم رسالة الإشعار الإلكترونية إلى", "إخفاق نهائي"),
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", list(NEGATIVE), ids=lambda e: e.value)
def test_a_negative_proof_says_why_in_the_certificate_language(
    tmp_path: Path, renderer: CertificateRenderer, event: EvidenceType, lang: str
) -> None:
    """Refusal, negligence and non-delivery state their reason code's sentence in the
    certificate's language; a non-delivery then quotes the remote server's reply as received."""
    record = proof_record(event)
    assert record.reason_code is not None
    flat = " ".join(pdftotext(write(tmp_path, renderer, record, lang)).split())
    # poppler lays Arabic vowel marks apart from their letters: compare the letters
    for words in NEGATIVE[event][lang]:
        assert _letters(words) in _letters(flat)
    assert "urn:lre-gateway" not in flat  # the code's sentence, not the code
    reply = "<bob.martin@example.com>: Recipient address rejected: User unknown"  # wraps before
    assert (reply in flat) is (event is EvidenceType.NotificationForAcceptanceFailure)
    if lang != "en":
        assert "The recipient" not in flat
        assert "could not be delivered" not in flat


def test_an_unknown_reason_code_is_quoted_after_a_localized_phrase(
    tmp_path: Path, renderer: CertificateRenderer
) -> None:
    """A reason code the certificate has no sentence for is named as recorded, never dropped."""
    record = replace(
        proof_record(EvidenceType.ConsignmentRejection), reason_code="urn:example:other"
    )
    flat = " ".join(pdftotext(write(tmp_path, renderer, record, "fr")).split())
    assert "Motif consigné dans la preuve scellée : « urn:example:other »" in flat
