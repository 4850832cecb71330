"""Certificates laid out by gateway.pdf.layout place the same words at the same places as
fpdf2's own layout, and their QR code still reads as the verification URL.

fpdf2 (`CertificateRenderer(laid_out=False)`: the same fonts and prepared glyphs) is the
reference; the pages are read back by poppler (pdftotext -bbox: each word and its box) and the
QR code by zbar (zbarimg), independent of the code that wrote them.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pikepdf
import pytest
from fpdf.enums import Align, TextDirection
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gateway import i18n
from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.pdf.facts import verify_url
from gateway.pdf.fonts import FallbackFontPDF, FontOutputProducer, ShapedFont
from gateway.pdf.layout import LaidOutPDF
from gateway.pdf.qr import qr_rows
from gateway.pdf.render import MARGIN, QR_SIZE, CertificateRenderer, new_document
from tests.support.proofs import ORDER, PUBLIC_URL, proof_record, render

LANGUAGES = ("fr", "en", "ar")
TOLERANCE = 0.05  # points: fpdf2 writes positions to 0.01 pt


@pytest.fixture(scope="module")
def laid_out() -> CertificateRenderer:
    return CertificateRenderer()


@pytest.fixture(scope="module")
def reference() -> CertificateRenderer:
    return CertificateRenderer(laid_out=False)


def boxes(tmp_path: Path, pdf: bytes, name: str) -> list[tuple[str, tuple[float, ...]]]:
    """Every word poppler reads on the pages, with its box (xMin, yMin, xMax, yMax)."""
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = re.findall(
        r'<(page|word) (?:width="[\d.]+" height="[\d.]+"|xMin="([\d.]+)" yMin="([\d.]+)" '
        r'xMax="([\d.]+)" yMax="([\d.]+)")>([^<]*)',
        out,
    )
    return [
        ("<page>", ()) if kind == "page" else (word, tuple(float(v) for v in box))
        for kind, *box, word in found
    ]


def assert_same_places(
    tmp_path: Path, ours: bytes, theirs: bytes
) -> list[tuple[str, tuple[float, ...]]]:
    mine, reference = boxes(tmp_path, ours, "ours.pdf"), boxes(tmp_path, theirs, "theirs.pdf")
    assert [word for word, _ in mine] == [word for word, _ in reference]
    for (word, box), (_, expected) in zip(mine, reference, strict=True):
        assert box == pytest.approx(expected, abs=TOLERANCE), word
    return mine


@pytest.mark.parametrize("attachments", [0, 2, 10, 30])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_every_proof_places_its_words_where_fpdf2_does(
    tmp_path: Path,
    laid_out: CertificateRenderer,
    reference: CertificateRenderer,
    event: EvidenceType,
    lang: str,
    attachments: int,
) -> None:
    """Each proof type in each language, continuation pages included: the same words, in the
    same order, in boxes within 0.05 pt of fpdf2's."""
    record = proof_record(event, attachments)
    words = assert_same_places(
        tmp_path, render(laid_out, record, lang), render(reference, record, lang)
    )
    assert record.letter_reference in {word for word, _ in words}


UNUSUAL = {
    "Arabic name on a left-to-right page": {"sender_name": "محمد بن عبد الله (الرباط)"},
    "Greek, Cyrillic and Polish: glyphs outside the prepared set": {
        "sender_name": "Ωμέγα Жуков Łódź",
        "subject": "Ζήτηση — Запрос № 7",
    },
    "a subject without a space, broken where it overflows": {"subject": "Contrat" * 30},
    "tabs, no-break spaces and a trailing space": {
        "subject": "Facture\u00a0n°\u00a042\tdu 3\u00a0mars ",
        "sender_name": "Jean  Martin",
    },
    "an attachment named in two scripts": {
        "attachments": (
            Attachment("عقد الكراء - contrat de bail.pdf", "application/pdf", 10, "ab" * 32),
        ),
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("case", list(UNUSUAL))
def test_unusual_values_are_placed_where_fpdf2_places_them(
    tmp_path: Path,
    laid_out: CertificateRenderer,
    reference: CertificateRenderer,
    case: str,
    lang: str,
) -> None:
    """Values in other scripts, fallback fonts, overflowing words and odd spaces."""
    record: EvidenceRecord = replace(
        proof_record(EvidenceType.ConsignmentAcceptance),
        **UNUSUAL[case],  # type: ignore[arg-type]
    )
    assert_same_places(tmp_path, render(laid_out, record, lang), render(reference, record, lang))


def test_remembered_texts_follow_the_language_the_proof_type_and_the_glyphs_drawn(
    tmp_path: Path, laid_out: CertificateRenderer, reference: CertificateRenderer
) -> None:
    """Texts laid out once are drawn from a memo in the next certificates: switching language
    and proof type, values that read as another row's label or title (in another font, size
    or width), and labels drawn after a rarer glyph changed the document's fonts, each page
    still places its words where fpdf2 does."""
    base = proof_record(EvidenceType.SubmissionAcceptance)
    steps: list[tuple[str, EvidenceRecord]] = [
        ("fr", base),
        ("ar", base),
        ("en", replace(base, event=EvidenceType.ConsignmentRejection)),
        ("fr", replace(base, sender_name=i18n.gettext("fr", "pdf.subject"))),
        ("fr", replace(base, subject=i18n.evidence_title("fr", base.event))),
        ("en", replace(base, subject=i18n.gettext("fr", "pdf.recipient"))),
        ("fr", replace(base, sender_name="Ωμέγα Жуков", subject=i18n.gettext("fr", "pdf.sender"))),
        ("fr", replace(base, sender_name="Łódź", subject="Жуков Ωμέγα")),  # other codes
        ("fr", replace(base, sender_name="Ćma", subject="Жуков Ωμέγα")),
        ("ar", replace(base, subject=i18n.gettext("ar", "pdf.sender"))),
        ("fr", base),
    ]
    for lang, record in steps:
        assert_same_places(
            tmp_path, render(laid_out, record, lang), render(reference, record, lang)
        )


TEXTS = (
    "Le destinataire a accepté la lettre le 30/11/2026 à 02:02 (Africa/Casablanca) — 01:02 UTC.",
    "https://lre.example.ma/log/proof/0f8e3c1a-6d2b-4c59-9a7e-2b1d4e5f6a7b",
    "5d" * 32,
    "Ce document est scellé électroniquement (PAdES) ; « lre-gateway verify » le vérifie.",
    "تعذّر تسليم رسالة الإشعار الإلكترونية إلى المرسَل إليه: \u2066550 5.1.1 User unknown\u2069.",
    "كلمة مرور حساب المرسِل، أُدخلت عبر اتصال مشفّر (\u2066TLS\u00a01.3\u2069)",
    "Alice Émile Benali\nalice@example.ma",
    "a\u00a0b c\u00a0d " * 12,
)


@pytest.mark.parametrize("align", ["L", "R", "J"])
@pytest.mark.parametrize("width", [18.0, 33.0, 64.0, 134.0])
@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_lines_break_where_fpdf2_breaks_them(
    laid_out: CertificateRenderer, lang: str, width: float, align: str
) -> None:
    """Line breaking alone, text by text and width by width: the same lines as fpdf2's."""
    fonts = laid_out._fonts.for_document()
    ours = new_document(fonts, lang, laid_out=True)
    theirs = new_document(laid_out._fonts.for_document(), lang)
    assert isinstance(ours, LaidOutPDF)
    assert type(theirs) is FallbackFontPDF
    for pdf in (ours, theirs):
        pdf.add_page()
        pdf.set_font("arabic" if lang == "ar" else "sans", "", 9)
    for text in TEXTS:
        lines = [
            pdf.multi_cell(width, 4.1, text, align=align, dry_run=True, output="LINES")
            for pdf in (ours, theirs)
        ]
        assert lines[0] == lines[1], text


@pytest.mark.parametrize("style", ["", "B"])
def test_a_line_shaped_wider_than_its_characters_breaks_where_fpdf2_breaks_it(
    laid_out: CertificateRenderer, style: str
) -> None:
    """Pairs kerned apart (ÄA, -J, «Æ): such a text is shaped wider than its characters'
    widths added up, from which the line breaking guesses whether it fits. In every width
    from a little less than those widths to a little more than the shaped width, the same
    lines as fpdf2's."""
    fonts = laid_out._fonts.for_document()
    ours = new_document(fonts, "fr", laid_out=True)
    theirs = new_document(laid_out._fonts.for_document(), "fr")
    for pdf in (ours, theirs):
        pdf.add_page()
        pdf.set_font("sans", style, 9)
    wider = []
    for text in ("ÄAÂÃAAÄ-J-Q", "«Æ«Æ«Æ AAAA", "r”f“-G ÔÖ-Ä", "Zoé «Æ» A-J", "ÄÄÄÄ ÃÃÃÃ"):
        own = sum(theirs.get_string_width(char) for char in text)
        shaped = theirs.get_string_width(text)
        if shaped > own:  # the case at hand
            wider.append((text, own, shaped))
    assert len(wider) >= 3
    margins = 2 * theirs.c_margin
    for text, own, shaped in wider:
        for step in range(-20, 120):
            width = margins + own + step * (shaped - own) / 100
            lines = [
                pdf.multi_cell(width, 4.1, text, dry_run=True, output="LINES")
                for pdf in (ours, theirs)
            ]
            assert lines[0] == lines[1], (text, step)


def decoded(tmp_path: Path, pdf: bytes) -> str:
    path = tmp_path / "proof.pdf"
    path.write_bytes(pdf)
    page = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "200", "-f", "1", "-l", "1", "-singlefile", str(path), page],
        check=True,
    )
    out = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", f"{page}.png"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_qr_code_reads_as_the_verification_url_with_a_remembered_mask(
    tmp_path: Path, laid_out: CertificateRenderer, lang: str
) -> None:
    """The data mask is chosen for the first URL of a length and kept for the next ones: a
    reader decodes each certificate's own URL (zbar reads the rendered page)."""
    for evidence_id in (
        "0f8e3c1a-6d2b-4c59-9a7e-2b1d4e5f6a7b",
        "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
        "ffffffff-0000-4000-8000-123456789abc",
    ):
        record = replace(proof_record(EvidenceType.SubmissionAcceptance), evidence_id=evidence_id)
        assert decoded(tmp_path, render(laid_out, record, lang)) == verify_url(
            PUBLIC_URL, evidence_id
        )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_printed_qr_code_has_exactly_the_symbols_modules(
    tmp_path: Path, laid_out: CertificateRenderer, lang: str
) -> None:
    """The QR code is printed as an image mask, a sample a module: the page rasterised by
    poppler and read at each module's centre shows the symbol's modules (dark where the symbol
    is dark), at its place in the page's top corner, QR_SIZE mm wide; and zbar reads it."""
    record = proof_record(EvidenceType.SubmissionAcceptance)
    pdf = render(laid_out, record, lang)
    url = verify_url(PUBLIC_URL, record.evidence_id)
    assert decoded(tmp_path, pdf) == url
    rows = qr_rows(url)  # the same symbol (its data mask kept for the URL's length)
    size = len(rows)
    path = tmp_path / "qr.pdf"
    path.write_bytes(pdf)
    dpi = 300
    subprocess.run(
        ["pdftoppm", "-gray", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", path,
         tmp_path / "qr"],
        check=True,
    )  # fmt: skip
    page = Image.open(tmp_path / "qr.pgm")
    module = QR_SIZE / size
    left = MARGIN if lang == "ar" else 210 - MARGIN - QR_SIZE  # mm; A4, mirrored in Arabic
    top = MARGIN - 4

    def dark(row: int, column: int) -> bool:
        x = (left + (column + 0.5) * module) * dpi / 25.4
        y = (top + (row + 0.5) * module) * dpi / 25.4
        level = page.getpixel((round(x), round(y)))
        assert isinstance(level, int)  # a grey page: one level a pixel
        return level < 128

    printed = [[dark(r, c) for c in range(size)] for r in range(size)]
    symbol = [[bool(bits >> (size - 1 - c) & 1) for c in range(size)] for bits in rows]
    assert printed == symbol
    # and nothing dark around it: the quiet zone a module wide on every side
    around = [(-1, c) for c in range(-1, size + 1)] + [(size, c) for c in range(-1, size + 1)]
    around += [(r, -1) for r in range(size)] + [(r, size) for r in range(size)]
    assert not any(dark(r, c) for r, c in around)


@pytest.mark.parametrize("layout", ["ours", "fpdf2"])
def test_an_arabic_mark_in_a_cell_leaves_the_letters_around_it_joined(
    laid_out: CertificateRenderer, layout: str
) -> None:
    """A cell cuts its text where the script changes and shapes each piece alone; a vowel sign
    (script Inherited) belongs to its letter, so the title of the content section draws the
    very glyphs a multi-cell draws for it, the whole phrase shaped at once: ت joined to the ل
    after its damma (fpdf2 2.8.9 alone drew است‌لم, gateway.pdf.fonts._base_script)."""
    title = i18n.gettext("ar", "pdf.content")
    assert "\u064f" in title  # استُلم
    pdf = new_document(laid_out._fonts.for_document(), "ar", laid_out=layout == "ours")
    pdf.add_page()
    pdf.set_font("arabic", "B", 10)
    pdf.cell(pdf.epw, 5.5, title, align="R")
    pdf.ln(6)
    pdf.multi_cell(pdf.epw, 5.5, title, align="R")
    # written as certificates are (fpdf2's own writer subsets the fonts' shared TrueType
    # objects in place, and the module's renderer would then draw with what is left of them)
    cell, multi_cell = glyph_codes(bytes(pdf.output(output_producer_class=FontOutputProducer)))
    assert cell
    assert cell == multi_cell


def glyph_codes(pdf: bytes) -> list[bytes]:
    """The glyph codes each text object (BT … ET) of the first page shows, read by pikepdf."""
    blocks: list[bytes] = []
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for instruction in pikepdf.parse_content_stream(document.pages[0]):
            if not isinstance(instruction, pikepdf.ContentStreamInstruction):
                continue  # an inline image
            operands, operator = instruction.operands, instruction.operator
            if operator == pikepdf.Operator("BT"):
                blocks.append(b"")
            elif operator == pikepdf.Operator("Tj"):
                blocks[-1] += bytes(operands[0])
            elif operator == pikepdf.Operator("TJ"):
                blocks[-1] += b"".join(
                    bytes(item) for item in operands[0] if isinstance(item, pikepdf.String)
                )
    return blocks


LATIN = (
    "aeiouAEIOU019 .,;:!?'\"()-/@«»—\u2013…\u2019\u2018“”°%‰€éèêëàâçôûùïîÉÈÀÇŒœæÆßñŁłŠšŽžĞğ\u00a0\n"
)
# what addresses, references, hashes and URLs are made of (ligatures included)
ADDRESSES = "abcdefilrstxyzABLRT0123456789 .-@:/_"
OTHER = (
    "Ωж\u0301\u00ad\rمح\u200f\u2066\u2069\U0001d538"  # another script, a mark, controls, a fallback
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(st.sampled_from(LATIN), min_size=1, max_size=40)
    | st.text(st.sampled_from(LATIN + OTHER), min_size=1, max_size=40),
    font=st.sampled_from([("sans", ""), ("sans", "B"), ("mono", ""), ("arabic", "")]),
    by_script=st.booleans(),
)
def test_a_latin_text_is_one_fragment_as_fpdf2s_parsing_cuts_it(
    text: str, font: tuple[str, str], by_script: bool
) -> None:
    """The fast path of `LaidOutPDF._cut` (a text of plain Latin characters the font has: one
    fragment) cuts every text as the general one (fpdf2's bidi segments and parsing) does."""
    from gateway.pdf import layout

    renderer = _CUT_RENDERER
    pdf = new_document(renderer._fonts.for_document(), "fr", laid_out=True)
    assert isinstance(pdf, LaidOutPDF)
    pdf.add_page()
    pdf.set_font(*font, 9)
    fast = pdf._cut(text, TextDirection.LTR, by_script=by_script)
    with patch.object(layout, "_plain_latin", lambda cmap: frozenset()):
        general = pdf._cut(text, TextDirection.LTR, by_script=by_script)
    assert fast == general


_CUT_RENDERER = CertificateRenderer()


def _page_in(font: tuple[str, str, float], *, prepared: bool) -> LaidOutPDF:
    """A French certificate's document, a page added, in `font`: its fonts starting with the
    language's prepared glyphs, or with none (a document of its own codes)."""
    renderer = _CUT_RENDERER
    fonts = renderer.prepared_fonts("fr") if prepared else renderer._fonts.for_document()
    pdf = new_document(fonts, "fr", laid_out=True)
    assert isinstance(pdf, LaidOutPDF)
    pdf.add_page()
    pdf.set_font(*font)
    return pdf


@settings(max_examples=300, deadline=None)
@given(
    paragraphs=st.lists(st.text(st.sampled_from(LATIN), min_size=1, max_size=60), max_size=3),
    font=st.sampled_from([("sans", "", 9), ("sans", "B", 10), ("mono", "", 8), ("mono", "", 6.8)]),
    width=st.floats(min_value=8.0, max_value=180.0),
    align=st.sampled_from(["L", "R", "C", "J"]),
    cell=st.booleans(),
    prepared=st.booleans(),
)
def test_a_value_laid_out_one_line_a_paragraph_is_drawn_as_the_general_way_draws_it(
    paragraphs: list[str],
    font: tuple[str, str, float],
    width: float,
    align: str,
    cell: bool,
    prepared: bool,
) -> None:
    """`LaidOutPDF._each_on_one_line` (a value whose every paragraph surely fits on a line,
    most of a certificate's) draws the same operators, leaves the same position and says the
    same lines as the general layout, whatever the text, font, width and alignment (near the
    width, where it may not fit, it leaves the text to the general way)."""
    from gateway.pdf import layout

    text = "\n".join(paragraphs) or "x"
    if cell:
        text, align = text.replace("\n", " "), ("L" if align == "J" else align)
    made = []
    for fast in (True, False):
        pdf = _page_in(font, prepared=prepared)
        general = patch.object(layout.LaidOutPDF, "_each_on_one_line", lambda *_: None)
        with general if not fast else patch.object(layout, "_SURE", layout._SURE):
            if cell:
                pdf.cell(width, 4.1, text, align=align)
                lines: Any = None
            else:
                lines = pdf.multi_cell(width, 4.1, text, align=align, dry_run=True, output="LINES")
                pdf.multi_cell(width, 4.1, text, align=align)
        made.append((page_bytes(pdf), pdf.x, pdf.y, lines))
    assert made[0] == made[1]


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(st.sampled_from(ADDRESSES), min_size=1, max_size=60)
    | st.text(st.sampled_from(LATIN.replace("\n", "") + "ffiflT"), min_size=1, max_size=60),
    font=st.sampled_from([("sans", "", 9), ("sans", "B", 10), ("mono", "", 8), ("mono", "", 6.8)]),
    prepared=st.booleans(),
)
def test_a_texts_width_and_operators_made_at_once_are_those_asked_for_apart(
    text: str, font: tuple[str, str, float], prepared: bool
) -> None:
    """`one_line` (a text's width and TJ operators in one walk over its pairs, for the values
    `_each_on_one_line` lays out) gives what `get_text_width` and `text_operators` give,
    ligatures and kerned pairs included, and adds no glyph to the document; it declines
    (None) where the document is not the one its base's codes describe."""
    pdf = _page_in(font, prepared=prepared)
    shaped, size = pdf.current_font, pdf.font_size_pt
    assert isinstance(shaped, ShapedFont)
    params = pdf._params(TextDirection.LTR)
    glyphs = len(shaped.subset)
    both = shaped.one_line(text, size, params)
    assert len(shaped.subset) == glyphs
    if not prepared:
        assert both is None  # no base: its codes are this document's
        return
    operators = shaped.text_operators(text, size, params, 0.0)
    if both is not None:
        assert operators is not None
        assert both == (shaped.get_text_width(text, size, params)[1], operators[0])


def test_a_certificates_usual_values_take_the_one_line_way() -> None:
    """The URL, address, hash and subject rows of a certificate are laid out by
    `_each_on_one_line` (the test above shows it draws what the general way draws)."""
    pdf = new_document(_CUT_RENDERER.prepared_fonts("fr"), "fr", laid_out=True)
    assert isinstance(pdf, LaidOutPDF)
    pdf.add_page()
    for font, width, text in (
        (
            ("mono", "", 8),
            134.0,
            "https://lre.example.ma/verify/8c6da9d9-438f-cca3-464a-c35c2ad17843",
        ),
        (("sans", "", 9), 134.0, "r1234@example.com"),
        (
            ("mono", "", 6.8),
            49.0,
            "0123456789abcdef0123456789abcdef\n0123456789abcdef0123456789abcdef",
        ),
        (("sans", "", 9), 134.0, "Lettre 1234 — relance"),
    ):
        pdf.set_font(*font)
        made = pdf._each_on_one_line(text, width - 2 * pdf.c_margin, Align.L)
        assert made is not None, text
        # each line's width and operators made at once (the test above: as asked apart)
        params = pdf._params(TextDirection.LTR)
        shaped = pdf.current_font
        assert isinstance(shaped, ShapedFont)
        for line in text.split("\n"):
            assert shaped.one_line(line, pdf.font_size_pt, params) is not None, line
        lines, drawn = made
        assert ["".join(piece for piece, *_ in line.pieces) for line in lines] == text.split("\n")
        assert len(drawn) == len(lines)
    pdf.set_font("mono", "", 8)
    assert pdf._each_on_one_line("x" * 200, 50.0, Align.L) is None  # it does not fit


def test_a_letters_own_values_are_not_remembered_from_one_certificate_to_the_next() -> None:
    """The memo of laid-out texts keeps what comes back (labels, sentences), not each
    letter's address, reference, hash and URLs: drawing more letters does not grow it (each
    entry would be walked by the garbage collector until the memo is emptied)."""
    renderer = CertificateRenderer()
    memo = next(iter(renderer.prepared_fonts("fr").values())).layouts
    deposit = proof_record(EvidenceType.SubmissionAcceptance, 0)

    def letter(n: int) -> EvidenceRecord:
        return replace(
            deposit,
            evidence_id=f"0f8e3c1a-6d2b-4c59-9a7e-{n:012d}",
            letter_reference=f"LRE-2026-{n:06d}",
            recipient_address=f"r{n}@example.com",
            message_sha256=f"{n:064x}",
        )

    for n in range(3):
        render(renderer, letter(n), "fr")
    kept = len(memo)
    for n in range(3, 23):
        render(renderer, letter(n), "fr")
    assert renderer.replays >= 20
    assert len(memo) == kept


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("Relance\n\nsecond paragraph", 60.0),  # an empty line between two paragraphs
        ("9Œ0še-žçŒ.-io\n €iÈ\xa0(ğ\u2018(Ai--(,", 10.5),  # a line would start at a space
    ],
)
def test_a_text_with_an_empty_line_is_drawn_as_fpdf2_draws_it(
    laid_out: CertificateRenderer, text: str, width: float
) -> None:
    """A text whose lines would include an empty one (two newlines in a row, a break where a
    line starts with a space) is left to fpdf2: once, drawing it raised a TypeError (an empty
    text shaped by HarfBuzz) and the certificate was not made."""
    pages = []
    for layout in (True, False):
        pdf = new_document(laid_out._fonts.for_document(), "fr", laid_out=layout)
        pdf.add_page()
        pdf.set_font("mono", "", 8)
        lines = pdf.multi_cell(width, 4.1, text, align="C", dry_run=True, output="LINES")
        pdf.multi_cell(width, 4.1, text, align="C")
        pages.append((lines, page_bytes(pdf), pdf.y))
    assert pages[0] == pages[1]


def page_bytes(pdf: FallbackFontPDF) -> bytes:
    """What the first page's content stream holds so far."""
    contents = pdf.pages[1].contents
    assert isinstance(contents, bytearray)
    return bytes(contents)


def test_a_latin_value_on_an_arabic_page_is_in_the_latin_font_alone(tmp_path: Path) -> None:
    """A value with no Arabic letter (a subject, an address, a date) is laid out left to right
    and in the Latin font on an Arabic page, as on a French one: before, in the Arabic font,
    its letters came from the Latin font by fallback and its digits, spaces and punctuation
    from the Arabic one ("10:30" with the Arabic font's colon). Each line of the subject and
    of the recipient is one text object in one font, DejaVu Sans; an Arabic value keeps the
    Arabic font."""
    record = replace(
        proof_record(EvidenceType.SubmissionAcceptance),
        subject="Mise en demeure — contrat n° 42 (lot 7)",
        recipient_address="karim.bennani@example.ma",
    )
    pdf = render(CertificateRenderer(), record, "ar")
    words = dict(boxes(tmp_path, pdf, "ar.pdf"))
    with pikepdf.open(io.BytesIO(pdf)) as document:
        page = document.pages[0]
        height = float(page.MediaBox[3])
        names = {str(key): str(font.BaseFont) for key, font in page.Resources.Font.items()}
        # each text object: where its line starts, and its fonts
        lines: list[tuple[float, float, set[str]]] = []
        for instruction in pikepdf.parse_content_stream(page):
            if not isinstance(instruction, pikepdf.ContentStreamInstruction):
                continue  # the QR code's inline image
            operands, operator = instruction.operands, instruction.operator
            if operator == pikepdf.Operator("BT"):
                lines.append((0.0, 0.0, set()))
            elif operator == pikepdf.Operator("Td") and lines and not lines[-1][2]:
                lines[-1] = (float(operands[0]), float(operands[1]), lines[-1][2])
            elif operator == pikepdf.Operator("Tf"):
                lines[-1][2].add(names[str(operands[0])])

    def fonts_at(word: str) -> set[str]:
        """The fonts of the text object the word is in: on its baseline, starting before it."""
        left, top, _, bottom = words[word]
        found = [
            (x, fonts)
            for x, y, fonts in lines
            if height - bottom <= y <= height - top and x <= left + 0.5
        ]
        return max(found, key=lambda each: each[0])[1]

    for word in ("demeure", "karim.bennani@example.ma", "(Africa/Casablanca)"):
        assert [name.split("+")[-1] for name in fonts_at(word)] == ["DejaVuSansBook"], word
    # the Arabic words (labels, titles, sentences) stay in the Arabic font
    assert sum(any("NotoNaskh" in name for name in fonts) for _, _, fonts in lines) > 20
