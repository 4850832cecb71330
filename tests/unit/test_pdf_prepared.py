"""Certificates drawn from a prepared glyph set per language (gateway.pdf.fonts, render.py's
prepared_glyphs) read the same as certificates whose fonts are subset afresh, and share their
font objects whenever the variable text uses no rarer glyph.

Read back with pikepdf (the embedded font programs) and pdftotext (poppler-utils), independent
of the code that wrote them.
"""

from __future__ import annotations

import io
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest

from gateway.core.evidence import EvidenceRecord, EvidenceType
from gateway.pdf.render import CertificateRenderer
from tests.support.proofs import ORDER, font_programs, long_attachments, proof_record, render

LANGUAGES = ("fr", "en", "ar")


@pytest.fixture(scope="module")
def prepared() -> CertificateRenderer:
    return CertificateRenderer()


@pytest.fixture(scope="module")
def unprepared() -> CertificateRenderer:
    return CertificateRenderer(prepared=False)


def pdftotext(tmp_path: Path, pdf: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def named(record: EvidenceRecord, name: str, subject: str) -> EvidenceRecord:
    return replace(record, sender_name=name, subject=subject)


@pytest.mark.parametrize("attachments", [0, 12])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_a_prepared_certificate_reads_as_one_whose_fonts_are_subset_afresh(
    tmp_path: Path,
    prepared: CertificateRenderer,
    unprepared: CertificateRenderer,
    event: EvidenceType,
    lang: str,
    attachments: int,
) -> None:
    """Same words at the same places, continuation pages included, in every language."""
    record = proof_record(event, attachments)
    fast = pdftotext(tmp_path, render(prepared, record, lang), "prepared.pdf")
    slow = pdftotext(tmp_path, render(unprepared, record, lang), "unprepared.pdf")
    assert fast == slow
    assert record.letter_reference in fast


@pytest.mark.parametrize("lang", LANGUAGES)
def test_certificates_with_usual_names_share_their_fonts(
    tmp_path: Path, prepared: CertificateRenderer, lang: str
) -> None:
    """Two letters from different senders, about different things: the same font programs
    (the prepared glyph set), and each certificate shows its own name and subject."""
    record = proof_record(EvidenceType.SubmissionAcceptance)
    first = named(record, "Zoé Lefèvre-Brûlé", "Facture n° 2026/114 — échéance")
    second = named(record, "Œdipe O'Connor", "Préavis « bail » ; 3 500,00 € TTC")
    if lang == "ar":
        second = named(record, "محمد بن عبد الله", "إنذار بالأداء رقم ٤٢")
    pdf_first, pdf_second = render(prepared, first, lang), render(prepared, second, lang)
    assert font_programs(pdf_first) == font_programs(pdf_second)
    text = pdftotext(tmp_path, pdf_second, "second.pdf")
    if lang != "ar":  # pdftotext gives Arabic in visual order, checked by the other tests
        assert second.sender_name in text
        assert second.subject in text


def test_a_rarer_glyph_is_drawn_and_its_font_made_for_it(
    tmp_path: Path, prepared: CertificateRenderer
) -> None:
    """A name outside the prepared glyphs (Greek, Cyrillic, Polish) is still drawn: that
    certificate's font program is made for it, the next usual one is the prepared one again."""
    record = proof_record(EvidenceType.SubmissionAcceptance)
    usual = render(prepared, named(record, "Jean Martin", "Relance"), "fr")
    rare = named(record, "Ωμέγα Жуков Łódź", "Relance")
    pdf = render(prepared, rare, "fr")
    assert "Ωμέγα Жуков Łódź" in pdftotext(tmp_path, pdf, "rare.pdf")
    assert font_programs(pdf) != font_programs(usual)
    again = render(prepared, named(record, "Anne Petit", "Relance"), "fr")
    assert font_programs(again) == font_programs(usual)


def font_objects(pdf: bytes) -> dict[str, tuple[bytes, bytes, bytes]]:
    """Each page font's program, CIDToGIDMap and ToUnicode CMap, by its base font name."""
    document = pikepdf.open(io.BytesIO(pdf))
    objects = {}
    for page in document.pages:
        for font in page.Resources.Font.values():
            cid_font = font.DescendantFonts[0]
            objects[str(font.BaseFont)] = (
                cid_font.FontDescriptor.FontFile2.read_bytes(),
                cid_font.CIDToGIDMap.read_bytes(),
                font.ToUnicode.read_bytes(),
            )
    return objects


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_a_usual_certificate_draws_only_its_languages_prepared_glyphs(
    prepared: CertificateRenderer, event: EvidenceType, lang: str
) -> None:
    """Every glyph of a usual certificate is in its language's prepared set, the isolates
    around values in Arabic sentences included: its fonts are those of the prepared glyphs
    alone (written from the memo; a glyph picked on top would make them afresh, and leave
    each text's operators unmemoised)."""
    pdf = render(prepared, proof_record(event), lang)
    expected = {}
    for font in prepared.prepared_fonts(lang).values():
        made = font.objects()
        expected[f"/MPDFAA+{font.name}"] = (
            zlib.decompress(made.font_file),
            zlib.decompress(made.cid_to_gid),
            zlib.decompress(made.to_unicode),
        )
    drawn = font_objects(pdf)
    assert drawn
    assert {name: expected[name] for name in drawn} == drawn


def test_a_certificate_is_the_same_whatever_its_process_rendered_before(
    prepared: CertificateRenderer,
) -> None:
    """The memos (laid-out texts, operators, glyphs, font objects and their serialisation, the
    QR code's template) change no byte: each certificate of a sequence switching language,
    proof type, page count and rarer glyphs is the very one a renderer starting afresh makes."""
    base = proof_record(EvidenceType.SubmissionAcceptance)
    render(prepared, replace(base, attachments=long_attachments(30)), "fr")
    steps = [
        ("ar", replace(base, attachments=long_attachments(12))),
        ("fr", named(base, "Ωμέγα Жуков", "Relance")),
        ("en", replace(base, event=EvidenceType.ConsignmentRejection)),
        ("fr", base),
    ]
    for lang, record in steps:
        assert render(prepared, record, lang) == render(CertificateRenderer(), record, lang)
