"""Texts whose shaping is the sum of their characters': printable ASCII in DejaVu Sans Mono.

A certificate's hashes, identifiers, URLs and letter reference are new in every certificate
and drawn in the monospace font. HarfBuzz shapes such a text exactly as it shapes each of its
characters alone, one after the other: one glyph per character, every advance the same
(1233 units), no offset, no kerning; the font's ligatures (dlig: fi, fl) are off by default
and its contextual substitutions (ccmp: i and j before a mark above) need a mark, which
printable ASCII has not. `gateway.pdf.fonts` then composes the shaped text from memoised
results of its characters instead of asking HarfBuzz again for each new text and each prefix
line breaking measures (`tests/unit/test_pdf_monospace.py` checks HarfBuzz against the
composition for every pair of these characters, in every shaping the certificates use).
"""

from __future__ import annotations

from typing import Any, Final

from fpdf.enums import TextDirection

# the font keys whose texts may be composed, and of which characters
CHARACTERS: Final = frozenset(map(chr, range(0x20, 0x7F)))
COMPOSED: Final = {"mono": CHARACTERS}
# the shapings (script, language) certificates draw monospace texts with, left to right:
# a French or English page, and a left-to-right value on an Arabic page
SHAPINGS: Final = frozenset({("latn", None), ("arab", "ara")})


def composable(
    params: dict[str, Any] | None, shapings: frozenset[tuple[str, str | None]] = SHAPINGS
) -> bool:
    """Whether a text shaped with `params` (fpdf2's text shaping parameters) may be composed
    from its characters: left to right, a shaping of `shapings`, no feature asked for."""
    if not params or params.get("features"):
        return False
    return (
        params.get("fragment_direction") == TextDirection.LTR
        and (
            params.get("script"),
            params.get("language"),
        )
        in shapings
    )
