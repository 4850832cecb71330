"""A fixed corpus of varied certificate facts, and the SHA-256 of each rendered certificate.

The digests in tests/fixtures/certificate_digests.json pin the bytes the renderer made when they
were written (the code before issue 9's render work: fpdf2 2.8.9's own serialisation, its
set_font and colour calls), so that a faster renderer is shown to make the very same bytes
(tests/unit/test_pdf_bytes.py). The Arabic ones were written again when a cell stopped cutting
its text at an Arabic mark (gateway.pdf.fonts._base_script: the content section's title), in
both layouts alike; all of them again when the QR code became one image mask instead of a
rectangle for each run of dark modules (gateway.pdf.render._qr: the same modules at the same
place, tests/unit/test_pdf_layout.py reads them back from the rasterised page), and when the
file identifier came from the certificate's facts (gateway.pdf.render.file_id); the Arabic
ones again when a value with no Arabic letter on an Arabic page was drawn in the Latin font
alone (gateway.pdf.render's `_direction_of`, tests/unit/test_pdf_layout.py). They are of
certificates whose fonts keep their TrueType hinting, as they did then (the digests are written
and checked with gateway.pdf.fonts.HINTING on; tests/unit/test_pdf_hinting.py shows the pages
without it are the same), and their pages compressed at fpdf2's zlib level (gateway.pdf.fonts.
PAGE_COMPRESSION, tests/unit/test_pdf_compression.py). They depend on
fpdf2, fontTools, HarfBuzz and the shipped fonts: after upgrading one of them, check the
certificates otherwise (the other tests) and write the digests again with

    python -m tests.support.certificate_corpus tests/fixtures/certificate_digests.json
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fpdf.syntax import PDFContentStream

from gateway.core.evidence import Attachment
from gateway.pdf import fonts
from gateway.pdf.facts import CertificateFacts
from gateway.pdf.render import CertificateRenderer
from tests.support.proofs import ORDER, proof_record

LANGUAGES = ("fr", "en", "ar")
NAMES = (
    "Alice Émile Benali",
    "Zoë Ÿvette O'Brien-Łukasiewicz",
    "محمد بن عبد الله العلوي",
    "Ωμέγα Жуков",
    "Jean",
    "Marie-Thérèse de La Tour d'Auvergne-Lauraguais épouse Champollion-Figeac",
    "",
)
SUBJECTS = (
    "Mise en demeure — contrat n° 42",
    "Relance",
    "إنذار بالأداء — العقد رقم 42",
    "Notice of termination (lease 2026/17) \u2013 final reminder, see attached “Schedule B”",
    "Résiliation du bail commercial, conformément à l'article 12 des conditions générales "
    "signées le 3 mars 2021, avec effet au 31 décembre 2026 — copie au syndic",
    "tab\tand ¼ ½ ¾ œ Œ € …",
)
FILE_NAMES = (
    "contrat.pdf",
    "Annexe 01 - avenant au contrat de bail commercial signé par les deux parties.pdf",
    "عقد الكراء.pdf",
    "scan_0001 (2).JPG",
    "very-long-name-without-any-space-at-all-that-must-break-somewhere-inside.docx",
)
URLS = (
    "https://lre.example.ma",
    "http://127.0.0.1:8080",
    "https://registered-mail.example.org/lre",
)
ZONES = ("Africa/Casablanca", "Europe/Paris", "UTC")


def corpus(count: int = 90, seed: int = 9) -> list[CertificateFacts]:
    """`count` certificates: every proof type in every language, with names, subjects,
    attachments, phones, dates and public URLs drawn from the lists above."""
    pick = random.Random(seed)  # noqa: S311 - a fixed corpus, not a secret
    facts = []
    for n in range(count):
        event = ORDER[n % len(ORDER)]
        language = LANGUAGES[(n // len(ORDER)) % len(LANGUAGES)]
        record = proof_record(event, pick.choice((0, 1, 2, 3, 12)))

        def digest(label: str, n: int = n) -> str:
            return hashlib.sha256(f"{label}-{n}".encode()).hexdigest()

        shift = timedelta(seconds=pick.randrange(0, 400 * 86400))
        attachments = tuple(
            replace(
                a,
                name=pick.choice((a.name, *FILE_NAMES)),
                size=pick.choice((0, 1, 999, 1024, 48_731, 10**6, 3 * 10**9)),
                sha256=digest(f"attachment{i}"),
            )
            for i, a in enumerate(record.attachments)
        )
        if pick.random() < 0.2:
            attachments += (Attachment("extra.txt", "text/plain", 12, digest("extra")),)
        record = replace(
            record,
            evidence_id=digest("id")[:8]
            + "-"
            + digest("id")[8:12]
            + "-4"
            + digest("id")[13:16]
            + "-a"
            + digest("id")[17:20]
            + "-"
            + digest("id")[20:32],
            letter_reference=f"LRE-{2026 + n % 3}{n % 12 + 1:02d}{n % 28 + 1:02d}-"
            + digest("ref")[:8].upper(),
            sender_name=pick.choice(NAMES),
            sender_declared_name=pick.choice((None, None, "Alice B.", "أليس")),
            recipient_phone=pick.choice((None, "+212612345678", "+33612345678")),
            subject=pick.choice(SUBJECTS),
            message_size=pick.choice((1, 1023, 187_342, 25 * 10**6)) + n,
            message_sha256=digest("message"),
            previous_evidence_sha256=(
                digest("previous") if record.previous_evidence_sha256 else None
            ),
            event_time=record.event_time + shift,
            submission_time=record.submission_time + shift,
            acceptance_deadline=(
                record.acceptance_deadline + shift if record.acceptance_deadline else None
            ),
            attachments=attachments,
        )
        facts.append(
            CertificateFacts(
                record=record,
                xml=f"<evidence n='{n}'/>".encode(),
                p7s=bytes([0x30, n % 128]),
                provider_name=pick.choice(("LRE Gateway", "Poste Numérique du Maroc")),
                public_url=pick.choice(URLS),
                zone=ZoneInfo(pick.choice(ZONES)),
                language=language,
            )
        )
    return facts


def as_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render as when the digests were pinned: hinted fonts, fpdf2's zlib level for pages."""
    monkeypatch.setattr(fonts, "HINTING", True)
    monkeypatch.setattr(fonts, "PAGE_COMPRESSION", PDFContentStream._COMPRESSION_LEVEL)


def digests(renderer: CertificateRenderer | None = None) -> list[str]:
    """The SHA-256 of each certificate of the corpus, rendered in turn by one renderer."""
    renderer = renderer or CertificateRenderer()
    return [hashlib.sha256(renderer.render(facts)).hexdigest() for facts in corpus()]


if __name__ == "__main__":
    with pytest.MonkeyPatch.context() as patch:
        as_pinned(patch)
        Path(sys.argv[1]).write_text(json.dumps(digests(), indent=1) + "\n")
