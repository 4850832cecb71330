"""A monospace text composed from its characters' shaping is what HarfBuzz gives for it whole.

gateway.pdf.monospace lets the certificate's fonts compose printable ASCII in DejaVu Sans Mono
from each character shaped alone. Checked here against HarfBuzz itself (the same font without
the composition) for every pair of those characters and for longer texts, in each shaping the
certificates draw monospace texts with: widths as line breaking adds them, glyphs and their
placement, and the text operators drawn.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fpdf.enums import TextDirection

from gateway.pdf import monospace
from gateway.pdf.fonts import FontBook, ShapedFont
from gateway.pdf.render import SCRIPTS, CertificateRenderer, find_fonts, new_document

CHARACTERS = sorted(monospace.CHARACTERS)
SIZES = (6.8, 8, 9, 10, 12)  # the monospace sizes of the certificate (gateway.pdf.render)


def _params(lang: str, *, ltr_value: bool = False) -> dict[str, Any]:
    """The shaping a left-to-right fragment is drawn with on a page in `lang` (fpdf2's)."""
    pdf = new_document(FontBook(find_fonts(), SCRIPTS).for_document(), lang)
    if ltr_value:  # a value without an Arabic letter on an Arabic page (_Page._direction_of)
        pdf.set_text_shaping(use_shaping_engine=True, direction="ltr", script="latn")
    shaping = dict(pdf.text_shaping or {})
    return {
        **shaping,
        "fragment_direction": TextDirection.LTR,
        "paragraph_direction": shaping.get("direction"),
    }


SHAPINGS = {
    "fr": _params("fr"),
    "ar": _params("ar"),
    "ar-ltr-value": _params("ar", ltr_value=True),
}


def _mono_fonts() -> tuple[ShapedFont, ShapedFont]:
    """The monospace font plain (HarfBuzz for every text) and composing, each for a document."""
    plain = FontBook(find_fonts(), SCRIPTS).for_document()["mono"]
    composing = FontBook(find_fonts(), SCRIPTS, composed=monospace.COMPOSED).for_document()
    return plain, composing["mono"]


def _same(plain: ShapedFont, composing: ShapedFont, text: str, size: float, params: Any) -> None:
    assert composing.shaped_text_width(text, size, params) == plain.shaped_text_width(
        text, size, params
    ), text
    assert composing.placed_run(text, size, params) == plain.placed_run(text, size, params), text
    assert composing.shape_text(text, size, params) == plain.shape_text(text, size, params), text
    for gap in (0.0, 37.5):  # a justified line adds a gap after each space
        assert composing.text_operators(text, size, params, gap) == plain.text_operators(
            text, size, params, gap
        ), text


@pytest.mark.parametrize("shaping", sorted(SHAPINGS))
def test_every_pair_of_characters_composes_as_harfbuzz_shapes_it(shaping: str) -> None:
    """Each printable ASCII character alone and followed by any other shapes, measures and
    draws the same composed as shaped whole by HarfBuzz."""
    plain, composing = _mono_fonts()
    params = SHAPINGS[shaping]
    assert monospace.composable(params)
    for size in SIZES:
        for first in CHARACTERS:
            _same(plain, composing, first, size, params)
    for first in CHARACTERS:
        for second in CHARACTERS:
            _same(plain, composing, first + second, 8, params)


@pytest.mark.parametrize("shaping", sorted(SHAPINGS))
def test_long_monospace_texts_compose_as_harfbuzz_shapes_them(shaping: str) -> None:
    """Hashes, URLs, references and random printable ASCII of any length: the same composed."""
    plain, composing = _mono_fonts()
    params = SHAPINGS[shaping]
    rng = random.Random(9)  # noqa: S311 - reproducible test texts, not secrets
    texts = [
        "30e0e833023cb74db0853e352365ae69",
        "https://lre.example.ma/verify/d5d5b1c8-0e94-4e23-40db-7bc056e06497",
        "LRE-2026-000002",
        "fi fl ffi ij i\u0069 -> <= != www ... ---",
        *("".join(rng.choices(CHARACTERS, k=rng.randint(3, 120))) for _ in range(300)),
    ]
    for size in SIZES:
        for text in texts:
            _same(plain, composing, text, size, params)


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_a_prepared_document_writes_monospace_texts_at_once_as_harfbuzz_shapes_them(
    lang: str,
) -> None:
    """In a certificate's document (its fonts start with the language's prepared glyphs, all of
    printable ASCII in the monospace font), a composed text is written at once from a table of
    its characters' codes and moves (`_Font._alike_codes`): the same operators and advance as
    HarfBuzz's shaping of the whole text with the same glyph codes, and nothing added to the
    document's glyphs (the space, which no monospace value of a certificate holds, is not
    among them: a text with one is shaped the usual way)."""
    base = {key: font.picked() for key, font in CertificateRenderer().prepared_fonts(lang).items()}
    plain = FontBook(find_fonts(), SCRIPTS).for_document(base)["mono"]
    composing = FontBook(find_fonts(), SCRIPTS, composed=monospace.COMPOSED).for_document(base)
    mono = composing["mono"]
    rng = random.Random(3)  # noqa: S311 - reproducible test texts, not secrets
    texts = [
        "30e0e833023cb74db0853e352365ae69",
        "https://lre.example.ma/log/proof/42?leaf=d5d5b1c8",
        *("".join(rng.choices(CHARACTERS[1:], k=rng.randint(2, 90))) for _ in range(200)),
    ]
    assert CHARACTERS[0] == " "
    params = SHAPINGS["ar-ltr-value" if lang == "ar" else "fr"]
    for size in SIZES:
        for text in texts:
            made = mono.text_operators(text, size, params, 0.0)
            assert made == plain.text_operators(text, size, params, 0.0), text
    assert mono.stable()  # written at once, nothing picked anew
    assert mono._common.alike_codes
    assert all(alike is not None and alike.chars for alike in mono._common.alike_codes.values())
    spaced = "LRE 2026 000002"
    assert mono.text_operators(spaced, 8, params, 0.0) == plain.text_operators(
        spaced, 8, params, 0.0
    )


def test_only_printable_ascii_in_the_usual_shapings_is_composed() -> None:
    """Another character, a right-to-left fragment or a requested feature goes to HarfBuzz."""
    assert not monospace.composable({**SHAPINGS["fr"], "features": {"dlig": True}})
    assert not monospace.composable({**SHAPINGS["ar"], "fragment_direction": TextDirection.RTL})
    assert not monospace.composable({**SHAPINGS["fr"], "script": "cyrl"})
    plain, composing = _mono_fonts()
    for text in ("e\u0301t\u00e9", "i\u0307j\u0308", "tab\there", "caf\u00e9 \u2014 1\u00a02"):
        _same(plain, composing, text, 8, SHAPINGS["fr"])
