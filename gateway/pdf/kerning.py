"""Texts whose shaping is that of their characters and of each pair: Latin in DejaVu Sans.

A certificate's names, addresses, subjects, dates, sizes and the footer's evidence id are
new in many certificates and drawn in DejaVu Sans (regular and bold). For the characters of
CHARACTERS (printable ASCII, Latin-1's letters and signs, œ Œ Ÿ and the usual punctuation),
shaped left to right in script latn with no feature asked for, HarfBuzz gives each character
its own glyph, moved by the font's kerning with the next one only:

- the GPOS lookups of latn are pair kerning (`kern`: PairPos format 2, an x advance on the
  first glyph and nothing on the second, so the second is the first of the next pair) and
  mark positioning (`mark`, `mkmk`), which needs a combining mark: none is in CHARACTERS;
- of the GSUB features HarfBuzz applies by default, `liga` makes ff, fi, fl, ffi and ffl one
  glyph (a pair shaped otherwise than as two glyphs: such a text is shaped whole), and `ccmp`
  changes i and j before a mark above (no mark here); `dlig`, `salt`, `case` and `aalt` are
  only applied when asked for.

`gateway.pdf.fonts` then composes such a text from memoised results of its characters and
pairs (each pair shaped once by HarfBuzz, the first time it is met) instead of asking
HarfBuzz again for each new text and each prefix line breaking measures; a text holding a pair
that is not shaped as two glyphs is shaped whole. `tests/unit/test_pdf_kerning.py` checks
HarfBuzz against the composition for every pair of these characters and for longer texts,
and the font's lookups against the analysis above.
"""

from __future__ import annotations

from typing import Final

# the characters of most names, addresses and subjects (gateway.pdf.render's LATIN_REPERTOIRE)
CHARACTERS: Final = frozenset(
    (
        *map(chr, range(0x20, 0x7F)),
        *(chr(c) for c in range(0xA1, 0x100) if c != 0xAD),
        *"\u0152\u0153\u0178\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac",
    )
)
COMPOSED: Final = {"sans": CHARACTERS}  # by font family: regular and bold
# the shapings (script, language) these texts are composed in: a French or English page, and a
# value without an Arabic letter on an Arabic page (laid out left to right, in script latn)
SHAPINGS: Final = frozenset({("latn", None)})
