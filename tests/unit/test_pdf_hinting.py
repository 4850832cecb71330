"""The certificate's embedded fonts carry no TrueType hinting (gateway.pdf.fonts.HINTING): the
pages look the same, the document is much smaller.

Read back with pikepdf and fontTools (the embedded font programs) and drawn by poppler
(pdftoppm), independent of the code that wrote them.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from fontTools import ttLib

from gateway.core.evidence import EvidenceRecord, EvidenceType
from gateway.pdf import fonts
from gateway.pdf.render import CertificateRenderer
from tests.support.proofs import font_programs, proof_record, render

LANGUAGES = ("fr", "ar")  # English certificates draw with the French ones' fonts
HINTING_TABLES = ("fpgm", "prep", "cvt ")


def embedded_fonts(pdf: bytes) -> dict[str, ttLib.TTFont]:
    return {name: ttLib.TTFont(io.BytesIO(p)) for name, p in font_programs(pdf).items()}


def pixels(tmp_path: Path, pdf: bytes, name: str) -> bytes:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "110", "-gray", str(path), str(tmp_path / name)], check=True)
    return b"".join(page.read_bytes() for page in sorted(tmp_path.glob(f"{name}-*.pgm")))


@pytest.fixture(scope="module")
def unhinted() -> CertificateRenderer:
    return CertificateRenderer()


@pytest.fixture(scope="module")
def hinted() -> CertificateRenderer:
    """A renderer whose fonts are subset with their hinting, as fpdf2 subsets them (its font
    objects are made at its first certificate in a language, then kept: see `render_hinted`)."""
    return CertificateRenderer()


def render_hinted(renderer: CertificateRenderer, record: EvidenceRecord, lang: str) -> bytes:
    saved = fonts.HINTING
    fonts.HINTING = True
    try:
        return render(renderer, record, lang)
    finally:
        fonts.HINTING = saved


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_embedded_fonts_have_no_hinting_and_the_page_looks_the_same(
    tmp_path: Path, unhinted: CertificateRenderer, hinted: CertificateRenderer, lang: str
) -> None:
    record = proof_record(EvidenceType.ConsignmentRejection, 12)  # two pages
    plain = render(unhinted, record, lang)
    with_hinting = render_hinted(hinted, record, lang)

    programs = embedded_fonts(plain)
    assert len(programs) >= 3
    for name, font in programs.items():
        assert not any(tag in font for tag in HINTING_TABLES), name
        glyphs = font["glyf"]
        assert not any(
            glyphs[g].program.getBytecode()
            for g in font.getGlyphOrder()
            if hasattr(glyphs[g], "program")
        ), name
    assert any("fpgm" in font for font in embedded_fonts(with_hinting).values())  # can fail

    assert pixels(tmp_path, plain, "unhinted") == pixels(tmp_path, with_hinting, "hinted")
    assert len(plain) < 0.75 * len(with_hinting)
