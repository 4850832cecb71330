"""The certificate's fonts: parsed once per process, cheap to use in every document.

fpdf2 reads a TrueType font (fontTools tables, HarfBuzz face) when it is registered and, when it
writes a document, subsets every registered font with fontTools. Done naively for each
certificate that costs ~200 ms; here:

- the fonts are parsed once; each document gets a shallow copy with its own glyph subset map,
  sharing the read-only tables and the HarfBuzz face;
- HarfBuzz results are memoised (fpdf2 shapes every character again to measure line widths;
  the same text in the same font and size always shapes the same);
- only the fonts the pages draw with are written (a French certificate uses no Arabic font);
- each font is subset from a pre-subset holding the glyphs of the scripts certificates use
  (Latin, and Arabic for the Arabic font), made once, when every glyph the document uses is in
  it (else from the whole font). fontTools gives the very same bytes either way: the pre-subset
  keeps every table, glyph name and layout feature, so the final subset cannot tell.

The font subsets are the same as fpdf2's own, only made faster. `FallbackFontPDF` corrects
fpdf2's account of the page's font around lines mixing a font with its fallback (see there).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.enums import PDFResourceType
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import OutputProducer

LATIN: Final = ((0x20, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F))
ARABIC: Final = ((0x600, 0x6FF), (0x750, 0x77F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
# memoised HarfBuzz results per font before starting afresh: about 40 new ones per certificate
# (its ids, names, dates) of ~6 KB each, so the cache stays under ~25 MB per font and process;
# the labels shaped again after a clear cost one slower certificate in a hundred
MAX_SHAPES: Final = 4_000


class _Font(TTFFont):
    """fpdf2's TrueType font with shared, memoised HarfBuzz shaping and a lazy pre-subset."""

    __slots__ = ("_common", "_ranges", "_raw", "_shapes")
    _common: dict[str, tuple[bytes, frozenset[str]]]
    _ranges: tuple[tuple[int, int], ...]
    _raw: bytes
    _shapes: dict[tuple[object, ...], Any]

    @classmethod
    def adopt(cls, font: TTFFont, raw: bytes, ranges: Iterable[tuple[int, int]]) -> _Font:
        new = cls.__new__(cls)
        for name in TTFFont.__slots__:
            if hasattr(font, name):
                setattr(new, name, getattr(font, name))
        new._shapes = {}
        new._raw = raw
        new._ranges = tuple(ranges)
        new._common = {}  # shared by the copies: "pre-subset" -> (bytes, glyph names)
        # the tables documents read while drawing (glyph names, advances) and HarfBuzz's face,
        # loaded now from memory and shared read-only by every document
        new.ttfont = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False, lazy=True)
        new.ttfont.getGlyphOrder()
        new.ttfont["hmtx"]
        new.hbfont  # noqa: B018 - creates the HarfBuzz face
        return new

    def for_document(self) -> _Font:
        clone = copy.copy(self)  # shares _shapes, ttfont and the HarfBuzz face
        clone.glyph_ids = {}
        clone.missing_glyphs = []
        clone.biggest_size_pt = 0
        clone.subset = SubsetMap(clone)
        return clone

    def perform_harfbuzz_shaping(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> Any:
        params = text_shaping_params or {}
        features = params.get("features") or {}
        key = (
            text,
            font_size_pt,
            params.get("fragment_direction"),
            params.get("script"),
            params.get("language"),
            tuple(sorted(features.items())),
        )
        shaped = self._shapes.get(key)
        if shaped is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            shaped = super().perform_harfbuzz_shaping(text, font_size_pt, text_shaping_params)
            self._shapes[key] = shaped
        return shaped

    def for_subsetting(self) -> ttLib.TTFont:
        """A fresh fontTools font for fpdf2 to subset in place: the pre-subset when it will do."""
        if not self._common:
            self._common["pre-subset"] = _pre_subset(self._raw, self._ranges)
        data, names = self._common["pre-subset"]
        if not set(self.subset.get_all_glyph_names()) <= names:
            data = self._raw
        return ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)


def _pre_subset(raw: bytes, ranges: tuple[tuple[int, int], ...]) -> tuple[bytes, frozenset[str]]:
    """The font cut down to the glyphs of `ranges` and all their layout closure, else intact."""

    def options() -> ftsubset.Options:
        return ftsubset.Options(
            notdef_outline=True,
            recommended_glyphs=True,
            glyph_names=True,
            legacy_kern=True,
            layout_features=["*"],
            layout_scripts=["*"],
            name_IDs=["*"],
            name_languages=["*"],
            name_legacy=True,
            hinting=True,
            notdef_glyph=True,
            prune_unicode_ranges=False,
            prune_codepage_ranges=False,
            drop_tables=["FFTM"],  # which fpdf2 drops too
            symbol_cmap=True,
            legacy_cmap=True,
        )

    font = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False)
    wanted = {g for u, g in font.getBestCmap().items() if any(a <= u <= b for a, b in ranges)}
    subsetter = ftsubset.Subsetter(options())
    subsetter.populate(glyphs=wanted)
    subsetter.subset(font)
    closure = set(font.getGlyphOrder())
    # again, asking for the whole closure by name, so that every cmap entry of those glyphs stays
    font = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False)
    subsetter = ftsubset.Subsetter(options())
    subsetter.populate(glyphs=closure)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), frozenset(font.getGlyphOrder())


class FontBook:
    """The certificate's fonts, registered once; `for_document()` for each new FPDF."""

    def __init__(self, paths: dict[tuple[str, str], Path], scripts: dict[str, Any]) -> None:
        prototype = FPDF()
        for (family, style), path in paths.items():
            prototype.add_font(family, style, str(path))
        self._fonts: dict[str, _Font] = {}
        for key, font in prototype.fonts.items():
            if not isinstance(font, TTFFont):
                raise TypeError(f"{key}: not a TrueType font")
            family = next(f for (f, s), _ in paths.items() if f + s.upper() == key)
            raw = Path(font.ttffile).read_bytes()
            font.close()
            self._fonts[key] = _Font.adopt(font, raw, scripts[family])

    def for_document(self) -> dict[str, _Font]:
        return {key: font.for_document() for key, font in self._fonts.items()}


class FallbackFontPDF(FPDF):
    """fpdf2's FPDF (2.8.9), keeping track right of the page's font after a line in two fonts.

    When a line's first fragment, in drawing order, is in a fallback font (an Arabic page's
    line whose left end is "(" or a Latin word, drawn in DejaVu), fpdf2 first sets the line's
    own font inside the line's text object and then counts it as set for the page. But that
    line is wrapped in q … Q (its font or colour changed), and Q restores the font in effect
    before it: the next cell in that font then writes no Tf and is drawn in whatever font and
    size came before
    (the content table's sizes at the caption's 7 pt instead of 8 pt; a reader that ignores
    q/Q even sees Noto glyph codes looked up in DejaVu, i.e. .notdef). The font is counted as
    set only by what outlives the line.
    """

    def _render_styled_text_line(self, text_line: Any, *args: Any, **kwargs: Any) -> bool:
        established = self.current_font_is_set_on_page
        # fragments in another font than the page's (fallback font): the line may set the
        # page's font inside its own q … Q, which its Q undoes
        mixed = any(
            fragment.font is not self.current_font
            for fragment in getattr(text_line, "fragments", ())
        )
        drawn = bool(super()._render_styled_text_line(text_line, *args, **kwargs))
        if mixed and not established:
            self.current_font_is_set_on_page = False  # the next text sets it again, outside q
        return drawn


class FontOutputProducer(OutputProducer):
    """fpdf2's PDF writer, preceded by `prepare_output`: `pdf.output(output_producer_class=...)`.

    It runs once fpdf2 has drawn everything, page-number substitutions included.
    """

    def bufferize(self) -> bytearray:
        prepare_output(self.fpdf)
        return super().bufferize()


def prepare_output(pdf: FPDF) -> None:
    """Forget the fonts no page draws with; give the others a fresh font to subset.

    The pages' font resources (fpdf2's resource catalogue) tell which fonts are drawn with;
    without that catalogue every font is kept.
    """
    catalogue = getattr(pdf, "_resource_catalog", None)
    per_page = getattr(catalogue, "resources_per_page", None)
    if isinstance(per_page, dict):
        used = {
            int(font)
            for (_, kind), fonts in per_page.items()
            if kind == PDFResourceType.FONT
            for font in fonts
        }
        for key in [key for key, font in pdf.fonts.items() if font.i not in used]:
            del pdf.fonts[key]
    for font in pdf.fonts.values():
        if isinstance(font, _Font):
            font.ttfont = font.for_subsetting()
