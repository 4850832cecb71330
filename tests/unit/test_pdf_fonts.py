"""The certificate's FPDF keeps the page's font right around lines that start in a fallback font.

Drawn with the packaged fonts and fpdf2, read back by poppler (pdftotext -bbox: each word's box
follows the font size it is drawn at), independent of the code that wrote it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from fpdf import FPDF

from gateway.pdf.fonts import FallbackFontPDF, FontBook
from gateway.pdf.render import SCRIPTS, find_fonts


def _arabic_page(pdf: FPDF) -> FPDF:
    pdf.fonts.update(FontBook(find_fonts(), SCRIPTS).for_document())
    pdf.set_fallback_fonts(["sans"], exact_match=False)
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl", script="arab", language="ara")
    pdf.add_page()
    pdf.set_font("arabic", "", 7)
    pdf.cell(60, 5, "2026")  # sets the page's font: Noto at 7 pt
    pdf.ln(8)
    pdf.set_font("arabic", "", 14)
    pdf.set_text_color(200, 0, 0)  # the line is wrapped in q … Q
    pdf.cell(100, 8, "الرسالة كاملة (message.eml)")  # its left end is in DejaVu, the fallback
    pdf.ln(10)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(60, 8, "كيلوبايت 42")  # Noto at 14 pt again
    return pdf


def _word_heights(path: Path) -> dict[str, float]:
    out = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', out)
    return {word: float(bottom) - float(top) for top, bottom, word in found}


def test_a_cell_after_a_line_starting_in_the_fallback_font_keeps_its_size(tmp_path: Path) -> None:
    """After a line whose first word is in the fallback font, the next cell in the page's font
    is drawn at its own size, not at the size the line's closing Q brought back."""
    path = tmp_path / "page.pdf"
    path.write_bytes(bytes(_arabic_page(FallbackFontPDF(unit="mm")).output()))
    heights = _word_heights(path)
    assert heights["42"] > 1.9 * heights["2026"]  # 14 pt, not 7 pt


def test_fpdf2_alone_draws_that_cell_at_the_restored_size(tmp_path: Path) -> None:
    """The flaw FallbackFontPDF corrects is real in fpdf2 itself (remove this test, and the
    class, once fpdf2 counts only a font set outside q … Q as set for the page)."""
    path = tmp_path / "page.pdf"
    path.write_bytes(bytes(_arabic_page(FPDF(unit="mm")).output()))
    heights = _word_heights(path)
    assert abs(heights["42"] - heights["2026"]) < 0.5  # drawn at 7 pt


def test_memoised_shaping_stays_bounded_and_exact() -> None:
    """Shaping more distinct texts than the memo holds keeps it bounded, with the same results."""
    from gateway.pdf.fonts import MAX_SHAPES

    assert MAX_SHAPES <= 5_000  # ~6 KB a result: tens of MB a font, not the 1.3 GB of 200,000
    font = next(iter(FontBook(find_fonts(), SCRIPTS).for_document().values()))
    first = font.perform_harfbuzz_shaping("Référence 0", 10, None)
    for n in range(MAX_SHAPES + 50):
        font.perform_harfbuzz_shaping(f"Référence {n}", 10, None)
    assert len(font._shapes) <= MAX_SHAPES  # about 25 MB a font at most, whatever the traffic
    again = font.perform_harfbuzz_shaping("Référence 0", 10, None)
    assert [(g.codepoint, g.cluster) for g in again[0]] == [
        (g.codepoint, g.cluster) for g in first[0]
    ]
    assert [(p.x_advance, p.x_offset) for p in again[1]] == [
        (p.x_advance, p.x_offset) for p in first[1]
    ]
