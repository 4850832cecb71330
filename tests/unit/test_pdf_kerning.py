"""A Latin text composed from its characters' and pairs' shaping is what HarfBuzz gives for it
whole, in DejaVu Sans and DejaVu Sans Bold (gateway.pdf.kerning).

Checked against HarfBuzz itself (the same font without the composition) for every pair of the
composed characters and for longer texts (names, dates, identifiers, random text with the
ligatures ff, fi, fl): widths as line breaking adds them, glyphs and their placement, and the
text operators drawn; and the font's lookups against the module's analysis.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from fpdf.enums import TextDirection

from gateway.pdf import kerning
from gateway.pdf.fonts import FontBook, ShapedFont, ligatures
from gateway.pdf.render import SCRIPTS, CertificateRenderer, find_fonts, new_document

CHARACTERS = sorted(kerning.CHARACTERS)
SIZES = (7, 7.5, 7.8, 8, 9, 9.5, 10, 19)  # the sizes of the certificate's sans texts
FONTS = ("sans", "sansB")


def _params(lang: str) -> dict[str, Any]:
    """The shaping a left-to-right fragment is drawn with on a page in `lang` (fpdf2's); on an
    Arabic page, a value without an Arabic letter (gateway.pdf.render's _direction_of)."""
    pdf = new_document(FontBook(find_fonts(), SCRIPTS).for_document(), lang)
    if lang == "ar":
        pdf.set_text_shaping(use_shaping_engine=True, direction="ltr", script="latn")
    shaping = dict(pdf.text_shaping or {})
    return {
        **shaping,
        "fragment_direction": TextDirection.LTR,
        "paragraph_direction": shaping.get("direction"),
    }


SHAPINGS = {"fr": _params("fr"), "ar": _params("ar")}


def _fonts(key: str) -> tuple[ShapedFont, ShapedFont]:
    """The font plain (HarfBuzz for every text) and composing, each for a document."""
    plain = FontBook(find_fonts(), SCRIPTS).for_document()[key]
    composing = FontBook(find_fonts(), SCRIPTS, kerned=kerning.COMPOSED).for_document()[key]
    return plain, composing


def _same(
    plain: ShapedFont, composing: ShapedFont, text: str, size: float, params: Any, *, all_: bool
) -> None:
    assert composing.shaped_text_width(text, size, params) == plain.shaped_text_width(
        text, size, params
    ), text
    assert composing.placed_run(text, size, params) == plain.placed_run(text, size, params), text
    assert composing.text_operators(text, size, params, 0.0) == plain.text_operators(
        text, size, params, 0.0
    ), text
    if all_:
        assert composing.shape_text(text, size, params) == plain.shape_text(text, size, params), (
            text
        )
        assert composing.text_operators(text, size, params, 37.5) == plain.text_operators(
            text, size, params, 37.5
        ), text


@pytest.mark.parametrize("key", FONTS)
def test_every_pair_of_characters_composes_as_harfbuzz_shapes_it(key: str) -> None:
    """Each character followed by any other: the same composed as shaped whole by HarfBuzz,
    kerned or not, and the ligatures (ff, fi, fl) shaped whole."""
    plain, composing = _fonts(key)
    params = SHAPINGS["fr"]
    whole = set()
    alone = {char: plain.get_text_width(char, 9, params)[1] for char in CHARACTERS}
    widening = composing.widening("ab", 9, params)
    widest = 0.0
    for first in CHARACTERS:
        for second in CHARACTERS:
            _same(plain, composing, first + second, 9, params, all_=False)
            if not composing._composes(first + second, 9, params):
                whole.add(first + second)
            shaped = plain.get_text_width(first + second, 9, params)[1]
            widest = max(widest, shaped - alone[first] - alone[second])
    assert whole == {"ff", "fi", "fl"}
    assert 0 < widest <= widening < widest + 0.02  # bounds what kerning adds to a pair


@pytest.mark.parametrize("key", FONTS)
def test_a_text_is_shaped_no_wider_than_its_characters_and_the_widening_of_its_pairs(
    key: str,
) -> None:
    """What line breaking may take for granted (gateway.pdf.layout's `_first_over`): a text of
    the composed characters, ligatures and all, is shaped at most `widening` per pair wider
    than its characters alone; the bound is unknown (infinite) for other texts."""
    plain, composing = _fonts(key)
    for shaping, params in SHAPINGS.items():
        for size in SIZES:
            widening = composing.widening("ab", size, params)
            for text in _texts(round(size * 10)):
                for line in text.split("\n"):
                    alone = sum(plain.get_text_width(char, size, params)[1] for char in line)
                    shaped = plain.get_text_width(line, size, params)[1]
                    assert shaped - alone <= (len(line) - 1) * widening, (shaping, line)
    params = SHAPINGS["fr"]
    assert composing.widening("Ğurbüz", 9, params) == math.inf  # not composed
    assert composing.widening("\u00a0", 9, params) == math.inf


@pytest.mark.parametrize("key", FONTS)
def test_a_text_with_ligatures_is_composed_from_their_tokens(key: str) -> None:
    """ "certifiée", "efficace", "souffle": each ligature one glyph among the others', the text
    composed from the pairs of its tokens, as HarfBuzz shapes it whole; a ligature alone is
    shaped whole."""
    plain, composing = _fonts(key)
    params = SHAPINGS["fr"]
    for text in ("certifiée le 14/11/2026", "efficace", "souffle", "Trafic fluide", "ffi"):
        _same(plain, composing, text, 9.5, params, all_=True)
    assert composing._composes("certifiée le 14/11/2026", 9.5, params)
    assert composing._composes("souffle efficace", 9.5, params)
    assert not composing._composes("ffi", 9.5, params)
    glyphs = [glyph for glyph, *_ in composing.placed_run("souffle efficace", 9.5, params) or ()]
    assert len(glyphs) == len("souffle efficace") - 4  # ffl and ffi: one glyph each


def _texts(seed: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test texts, not secrets
    return [
        "Preuve 0f8e3c1a-6d2b-4c59-9a7e-2b1d4e5f6a7b — page 1/1",
        "Alice Émile Benali\nalice@example.ma",
        "Zoé Lefèvre-Brûlé · Œdipe O'Connor · « bail » ; 3 500,00 € TTC",
        "Votre lettre a été déposée et certifiée le 14/11/2026 10:30 (Africa/Casablanca)",
        "office affiche fluffy chef — ffi ffl fi fl ff",
        "AVATAR To Ty Yo We P. L'T Vé «À» F.A.",
        "Efficace, officiel : le souffle fluide d'une affiche « fff » ffff fffi fffl f.fi F-fl",
        *("".join(rng.choices(CHARACTERS, k=rng.randint(3, 90))) for _ in range(150)),
        # ligatures side by side and among their neighbours (f before f, i, l; T, V, y after)
        *("".join(rng.choices("fffilTVy.é «", k=rng.randint(2, 40))) for _ in range(60)),
    ]


@pytest.mark.parametrize("shaping", sorted(SHAPINGS))
@pytest.mark.parametrize("key", FONTS)
def test_long_latin_texts_compose_as_harfbuzz_shapes_them(key: str, shaping: str) -> None:
    """Names, addresses, dates, the footer and random text of the composed characters, at
    every size the certificate draws them: the same composed as shaped whole."""
    plain, composing = _fonts(key)
    params = SHAPINGS[shaping]
    for size in SIZES:
        for text in _texts(round(size * 10)):
            for line in text.split("\n"):
                _same(plain, composing, line, size, params, all_=True)


def test_the_fonts_lookups_are_those_the_composition_relies_on() -> None:
    """DejaVu Sans's latn lookups, regular and bold: kerning by pairs that leave the second
    glyph alone, mark positioning for marks only (none composed), and the default ligatures
    those the pair test finds (ffi and ffl begin with ff)."""
    for (family, _style), path in find_fonts().items():
        if family != "sans":
            continue
        font = TTFont(Path(path))
        cmap = font.getBestCmap()
        glyphs = {cmap[ord(c)] for c in CHARACTERS}
        gpos = font["GPOS"].table
        for record in gpos.FeatureList.FeatureRecord:
            for index in record.Feature.LookupListIndex:
                lookup = gpos.LookupList.Lookup[index]
                for table in lookup.SubTable:
                    kind = lookup.LookupType
                    if kind == 9:
                        table, kind = table.ExtSubTable, table.ExtSubTable.LookupType
                    if kind == 2:
                        assert table.ValueFormat2 == 0, record.FeatureTag
                    elif kind in (4, 5):
                        assert not set(table.MarkCoverage.glyphs) & glyphs
                    elif kind == 6:
                        assert not set(table.Mark1Coverage.glyphs) & glyphs
                    else:
                        assert record.FeatureTag not in ("kern", "mark", "mkmk"), kind
        made = {" ".join(parts) for parts, _ in ligatures(font["GSUB"].table)}
        assert {each for each in made if set(each.split()) <= glyphs} == {
            "f f", "f i", "f l", "f f i", "f f l"
        }  # fmt: skip
        # none wider than its letters (gateway.pdf.layout takes it for granted: `widening`)
        advances = font["hmtx"].metrics
        for parts, glyph in ligatures(font["GSUB"].table):
            if set(parts) <= glyphs:
                assert advances[glyph][0] <= sum(advances[part][0] for part in parts), parts


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_prepared_document_writes_latin_texts_from_pieces_as_harfbuzz_shapes_them(
    lang: str,
) -> None:
    """In a certificate's document (its fonts start with the language's prepared glyphs, the
    Latin characters of names and addresses among them), a composed text is written from
    pieces memoised per pair (`_Font._kerned_operators`): the same operators and advance as
    HarfBuzz's shaping of the whole text with the same glyph codes, nothing added to the
    document's glyphs; a text with a glyph the document did not start with is written the
    usual way, its code the document's."""
    base = {key: font.picked() for key, font in CertificateRenderer().prepared_fonts(lang).items()}
    plain = FontBook(find_fonts(), SCRIPTS).for_document(base)["sans"]
    sans = FontBook(find_fonts(), SCRIPTS, kerned=kerning.COMPOSED).for_document(base)["sans"]
    params = SHAPINGS["fr"]  # left to right, latn
    texts = [
        line
        for text in _texts(5)
        for line in text.split("\n")
        if not any(ligature in line for ligature in ("ff", "fi", "fl"))  # glyphs of their own
    ]
    for size in SIZES:
        for text in texts:
            assert sans.text_operators(text, size, params, 0.0) == plain.text_operators(
                text, size, params, 0.0
            ), text
    assert sans.stable()  # written from pieces, nothing picked anew
    pieces = [table for table in sans._common.kerned_pieces.values() if table]
    assert pieces
    assert sum(piece is not None for table in pieces for piece in table.values()) > 1000
    rarer = "Ğurbüz Şahin — ğş"  # letters no certificate starts with
    assert sans.text_operators(rarer, 9, params, 0.0) == plain.text_operators(rarer, 9, params, 0.0)
    assert not sans.stable()
