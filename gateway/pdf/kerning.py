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
  glyph (LIGATURES), and `ccmp` changes i and j before a mark above (no mark here); `dlig`,
  `salt`, `case` and `aalt` are only applied when asked for.

`gateway.pdf.fonts` then composes such a text from memoised results of its characters and
pairs (each pair shaped once by HarfBuzz, the first time it is met) instead of asking
HarfBuzz again for each new text and each prefix line breaking measures. A ligature is one
glyph: the text is composed from its tokens (`tokens`: each ligature one character of its
own, the others themselves) and their pairs, each shaped by HarfBuzz as the characters it
stands for ("certifiée": c e r t i [fi] é e, the pair t·[fi] shaped as "tfi"). A text holding
a pair that is not shaped as two glyphs, one of each token's alone, is shaped whole.
`tests/unit/test_pdf_kerning.py` checks HarfBuzz against the composition for every pair of
these characters and for longer texts (ligatures among them), and the font's lookups against
the analysis above.
"""

from __future__ import annotations

import re
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

# the ligatures `liga` makes of CHARACTERS (the test reads them from the fonts), longest first:
# at each character the first that matches, as the font's ligature sets order them
LIGATURES: Final = ("ffi", "ffl", "ff", "fi", "fl")
# each one's token: a character of the Private Use Area, never one of CHARACTERS
_TOKEN: Final = {ligature: chr(0xE000 + i) for i, ligature in enumerate(LIGATURES)}
_SPELLED: Final = {ord(token): ligature for ligature, token in _TOKEN.items()}
_LIGATURE: Final = re.compile("|".join(LIGATURES))


def tokens(text: str) -> str:
    """`text` (of CHARACTERS) with each ligature as its token: one character per glyph."""
    if "f" not in text:
        return text
    return _LIGATURE.sub(lambda found: _TOKEN[found.group()], text)


def spelled(tokens: str) -> str:
    """The characters `tokens` stand for (what HarfBuzz is given)."""
    return tokens.translate(_SPELLED)
