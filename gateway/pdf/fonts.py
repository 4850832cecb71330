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
  keeps every table, glyph name and layout feature, so the final subset cannot tell;
- a document may start with a *prepared* glyph set (`for_document(base)`): the glyphs its
  language's words and usual characters use, given the same codes in every document. A
  document that draws no other glyph then has the very same font objects as the previous one,
  and they are written from a memo (subset font, widths, ToUnicode and CIDToGIDMap made once);
  a name or subject with a rarer glyph makes that document's fonts afresh (`FontOutputProducer`);
- what fpdf2 computes again and again while laying out is memoised: text widths (its line
  breaking measures every prefix of a text), glyph runs (shape_text, without the codes, which
  are the document's) and bidi runs (`FallbackFontPDF`).

The font subsets are made with fpdf2's own options less the hinting (`HINTING`), of the glyphs
each document's subset map holds. `FallbackFontPDF` corrects fpdf2's account of the page's font
around lines mixing a font with its fallback (see there).
"""

from __future__ import annotations

import copyreg
import dataclasses
import functools
import hashlib
import io
import logging
import math
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, TypeGuard, cast

from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf import fpdf as fpdf_module
from fpdf.bidi import BidiParagraph, auto_detect_base_direction
from fpdf.enums import PDFResourceType
from fpdf.fonts import Glyph, SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFFont,
    PDFPage,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.syntax import Name, PDFArray, PDFContentStream, PDFObject
from fpdf.unicode_script import UnicodeScript, get_unicode_script

from gateway.pdf import disk_cache, document, kerning, monospace
from gateway.pdf.monospace import composable
from gateway.pdf.serialise import serialised

__all__ = [
    "FallbackFontPDF",
    "FontBook",
    "FontOutputProducer",
    "Glyph",
    "ShapedFont",
    "ligatures",
    "picked_glyphs",
]
log = logging.getLogger(__name__)

LATIN: Final = ((0x20, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F))
ARABIC: Final = ((0x600, 0x6FF), (0x750, 0x77F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))
# memoised HarfBuzz results per font before starting afresh: about 40 new ones per certificate
# (its ids, names, dates) of ~6 KB each, so the cache stays under ~25 MB per font and process;
# the labels shaped again after a clear cost one slower certificate in a hundred
# shaped texts: a certificate shapes a few new ones (most are composed: gateway.pdf.kerning),
# its labels come back; 4,000 took ~40,000 letters to fill, the processes' memory growing as long
MAX_SHAPES: Final = 1_000
MAX_WIDTHS: Final = 20_000  # text widths (~200 bytes each: ~4 MB) memoised per font and process
# memoised font objects per font and process: one per prepared glyph set (per language), the
# rest for documents with rarer glyphs (which rarely repeat); ~60 KB each
MAX_FONT_OBJECTS: Final = 32
# TrueType hinting (the glyphs' instructions and the fpgm, prep and cvt tables) in the embedded
# subsets: off. It only grid-fits outlines to a screen's pixels at small sizes: a viewer that
# uses it may draw small text slightly differently on screen, poppler draws the very same pixels
# (tests/unit/test_pdf_hinting.py); the text, the outlines and print are unchanged. It was 55 %
# of the fonts' bytes: a French certificate 81 -> 55 KB sealed, every byte of it hashed, signed,
# base64-encoded, stored and mailed with each proof, and kept ten years.
HINTING = False  # tests turn it on to compare (test_pdf_bytes, test_pdf_hinting)
# zlib's level for the pages' content streams (fpdf2: 6, its default). A certificate's page is
# ~24 KB of operators (mostly the text's glyph codes and moves): level 6 compresses it to 3.3 KB
# in ~0.28 ms, level 1 to 4.5 KB in ~0.08 ms (a French certificate), for every proof.
# The same page either way (tests/unit/test_pdf_compression.py); test_pdf_bytes sets fpdf2's.
PAGE_COMPRESSION = 1
# the tables fpdf2 2.8.9 drops from every font subset (fpdf.output.OutputProducer._add_fonts)
DROPPED_TABLES: Final = (
    "FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT",
    "EBLC", "EBSC", "SVG ", "CPAL", "COLR",
)  # fmt: skip


@dataclass(frozen=True)
class FontObjects:
    """What a document's font objects hold for one subset map, made once (see _Font.objects)."""

    font_file: bytes  # the subset TrueType font, Flate-compressed
    font_length: int  # its length uncompressed (/Length1)
    widths: str  # the CIDFont's /W array
    to_unicode: bytes  # the ToUnicode CMap, Flate-compressed (fpdf2 leaves it plain)
    cid_to_gid: bytes  # the CIDToGIDMap, Flate-compressed

    @classmethod
    def from_kept(cls, kept: Mapping[str, Any]) -> FontObjects:
        """As gateway.pdf.disk_cache read them back; TypeError for anything else."""
        made = cls(**kept)
        types = (bytes, int, str, bytes, bytes)
        if not all(
            type(getattr(made, f.name)) is t
            for f, t in zip(dataclasses.fields(made), types, strict=True)
        ):
            raise TypeError("not the font objects' fields")
        return made


# a shaped glyph: the glyph, its x and y advance, x and y offset, and whether it must be placed
_Placed = tuple[Glyph, int, int, int, int, bool]
_X_ADVANCE: Final = itemgetter(1)
_Y_ADVANCE: Final = itemgetter(2)


@dataclass
class _Shared:
    """Shared by every document's copy of one font: made once, read many times."""

    memo: bool = True  # False: fonts, widths and glyph runs made afresh for each document
    digest: str = ""  # of the font's bytes (what gateway.pdf.disk_cache keeps is keyed by it)
    pre_subset: tuple[bytes, frozenset[str]] | None = None
    objects: dict[tuple[tuple[Glyph | None, int], ...], FontObjects] = field(default_factory=dict)
    widths: dict[tuple[object, ...], tuple[int, float]] = field(default_factory=dict)
    runs: dict[tuple[object, ...], tuple[_Placed, ...]] = field(default_factory=dict)
    placed: dict[tuple[object, ...], tuple[tuple[Glyph, int, float, float, float], ...] | None] = (
        field(default_factory=dict)
    )
    operators: dict[tuple[object, ...], tuple[str, float, bool]] = field(default_factory=dict)
    char_widths: dict[tuple[object, ...], dict[str, float]] = field(default_factory=dict)
    bases: dict[int, Sequence[Glyph | None]] = field(default_factory=dict)
    # each base's subset map state (glyph codes, next code, reserved codes), by its id()
    subsets: dict[int, tuple[Sequence[Glyph | None], tuple[dict[Any, int], int, list[int]]]] = (
        field(default_factory=dict)
    )
    # the font objects of the documents that drew only their base's glyphs, by its id()
    base_objects: dict[int, FontObjects] = field(default_factory=dict)
    # texts laid out by gateway.pdf.layout: lines, operators, font ids (LaidOutPDF._laid_out)
    layouts: dict[tuple[object, ...], Any] = field(default_factory=dict)
    # font objects as serialised, by their FontObjects' id() and first object number
    written: dict[tuple[int, int], tuple[FontObjects, tuple[str, ...]]] = field(
        default_factory=dict
    )
    # each glyph (and its width) by HarfBuzz's glyph id and the characters of its cluster
    glyphs: dict[tuple[int, tuple[int, ...]], tuple[Glyph | None, int]] = field(
        default_factory=dict
    )
    # the characters whose texts are composed from each one's shaping (gateway.pdf.monospace)
    composed: frozenset[str] = frozenset()
    # composed from each character's and each pair's shaping (gateway.pdf.kerning), in these
    # shapings (script, language)
    kerned: bool = False
    shapings: frozenset[tuple[str, str | None]] = monospace.SHAPINGS
    # each pair of such characters as shaped together (_Font._pair), by _shape_key; None for
    # a pair not shaped as two glyphs (a ligature)
    pairs: dict[tuple[object, ...], dict[str, _Pair | None]] = field(default_factory=dict)
    # each pair and each last character as a document of a base writes it, by the base's id()
    # and _shape_key (_Font._kerned_operators)
    kerned_pieces: dict[tuple[object, ...], dict[str, tuple[str, float] | None]] = field(
        default_factory=dict
    )
    # each such character's glyphs, advances and moves as text operators write them, by
    # _shape_key (_Font._char_steps)
    steps: dict[tuple[object, ...], dict[str, tuple[tuple[Glyph, float, str], ...]]] = field(
        default_factory=dict
    )
    # each such character shaped alone: its glyphs, their advance and their widths as
    # shaped_text_width adds them, by _shape_key
    letters: dict[
        tuple[object, ...], dict[str, tuple[tuple[_Placed, ...], int, tuple[float, ...]]]
    ] = field(default_factory=dict)
    # the characters whose widths add alike (_Font._alike_widths), by _shape_key: one term
    # each, the same for all, and the widths of 0, 1, 2... of them as _composed_width adds them
    alike_widths: dict[tuple[object, ...], _Alike | None] = field(default_factory=dict)
    # and those written alike in a document of a base (_Font._alike_codes), by the base's id()
    # and _shape_key: one glyph each, in the base, the same advance and the same move after
    # it; with each one's code as TJ writes it, and the pen after 0, 1, 2... of them
    alike_codes: dict[tuple[object, ...], _AlikeCodes | None] = field(default_factory=dict)
    # how much wider than its characters alone a composed text may be shaped, per pair
    # (_Font.widening): thousandths of the size, None when unknown; () until read
    widening: float | tuple[()] | None = ()
    # each pair and each last character of a kerned text as a document of a base writes it
    # and adds it to the text's width, by the base's id() and _shape_key (_Font.one_line);
    # _NO_PIECE for one that text is not written or measured that way
    one_line: dict[tuple[object, ...], dict[str, tuple[str, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pair:
    """The first character of a pair as shaped before the second (gateway.pdf.kerning): its
    glyph and advance (`_shaped`), its width as shaped_text_width adds it, and its advance
    and move as text operators write them (`_char_steps`)."""

    placed: _Placed
    term: float
    step: tuple[Glyph, float, str]


@dataclass
class _Alike:
    """Characters that add the same width each (_Shared.alike_widths)."""

    chars: frozenset[str]
    term: float
    sums: list[int | float]  # sums[n]: n terms added one by one from 0, as _composed_width

    def total(self, n: int) -> int | float:
        sums = self.sums
        while len(sums) <= n:
            sums.append(sums[-1] + self.term)
        return sums[n]


@dataclass
class _AlikeCodes:
    """Characters written as one glyph each, advancing alike (_Shared.alike_codes)."""

    chars: frozenset[str]
    # str.translate's table: each character's glyph code (4 hex digits), with the move after
    # it between angle brackets, as _composed_operators writes it, when the glyphs move
    codes: dict[int, str]
    moves: bool
    pens: _Alike  # the pen after n of them, as _composed_operators adds their steps

    def operators(self, text: str) -> str:
        written = text.translate(self.codes)
        return f"[{written}] TJ" if self.moves else f"[<{written}>] TJ"


def _shape_key(text: str, size: float, params: dict[str, Any] | None) -> tuple[object, ...]:
    """What HarfBuzz's result depends on, besides the font (for memos in this process: the
    direction, an enum member, by id; hashing one is a Python call)."""
    params = params or {}
    features = params.get("features") or {}
    return (
        text,
        size,
        id(params.get("fragment_direction")),
        params.get("script"),
        params.get("language"),
        tuple(sorted(features.items())) if features else (),
    )


class _Font(TTFFont):
    """fpdf2's TrueType font with shared, memoised HarfBuzz shaping and a lazy pre-subset."""

    __slots__ = ("_base", "_base_size", "_common", "_ranges", "_raw", "_shapes")
    _base: int  # id() of the glyphs this document's subset map started with (for_document)
    _base_size: int  # how many glyphs its subset map held then
    _common: _Shared
    _ranges: tuple[tuple[int, int], ...]
    _raw: bytes
    _shapes: dict[tuple[object, ...], Any]

    @classmethod
    def adopt(
        cls,
        font: TTFFont,
        raw: bytes,
        ranges: Iterable[tuple[int, int]],
        *,
        memo: bool = True,
        composed: frozenset[str] = frozenset(),
        kerned: bool = False,
    ) -> _Font:
        new = cls.__new__(cls)
        for name in TTFFont.__slots__:
            if hasattr(font, name):
                setattr(new, name, getattr(font, name))
        new._shapes = {}
        new._raw = raw
        new._ranges = tuple(ranges)
        new._common = _Shared(
            memo=memo,
            composed=composed if memo else frozenset(),
            kerned=kerned,
            shapings=kerning.SHAPINGS if kerned else monospace.SHAPINGS,
        )
        # the tables documents read while drawing (glyph names, advances) and HarfBuzz's face,
        # loaded now from memory and shared read-only by every document
        new.ttfont = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False, lazy=True)
        new.ttfont.getGlyphOrder()
        new.ttfont["hmtx"]
        new.hbfont  # noqa: B018 - creates the HarfBuzz face
        return new

    def for_document(self, base: Sequence[Glyph | None] = ()) -> _Font:
        """A copy for one document, its subset map starting with `base` in that order."""
        clone = _copied(self)  # shares _shapes, ttfont and the HarfBuzz face
        clone.glyph_ids = {}
        clone.missing_glyphs = []
        clone.biggest_size_pt = 0
        clone.subset = self._subset_from(clone, base)
        clone._base = id(base)
        clone._base_size = len(clone.subset)
        self._common.bases.setdefault(id(base), base)  # kept: its id() names its codes
        return clone

    def _subset_from(self, clone: _Font, base: Sequence[Glyph | None]) -> SubsetMap:
        """A subset map for `clone` holding `base`'s glyphs in that order: picked once per
        base, then copied (fpdf2 2.8.9's SubsetMap: its glyph codes, next code and reserved
        codes)."""
        made = self._common.subsets.get(id(base))
        if made is None or not self._common.memo:
            subset = SubsetMap(clone)
            for glyph in base:
                subset.pick_glyph(glyph)
            state = (dict(subset._char_id_per_glyph), subset._next, list(subset._reserved))
            self._common.subsets[id(base)] = (base, state)
            return subset
        codes, next_code, reserved = made[1]
        subset = SubsetMap.__new__(SubsetMap)
        subset.font = clone
        subset._char_id_per_glyph = dict(codes)
        subset._next = next_code
        subset._reserved = list(reserved)
        return subset

    def stable(self) -> bool:
        """Whether this document's codes are those of every document starting with the same
        glyphs: it has drawn none besides them, and the memos are on."""
        return self._common.memo and len(self.subset) == self._base_size

    @property
    def layouts(self) -> dict[tuple[object, ...], Any]:
        """gateway.pdf.layout's memo of laid-out texts, shared by every copy of this font."""
        return self._common.layouts

    @property
    def base(self) -> int:
        """Names the glyphs this document started with (the same codes for the same base)."""
        return self._base

    def written(self, made: FontObjects, first: int) -> tuple[str, ...] | None:
        """The serialised objects of `made` numbered from `first` on, if an earlier document
        wrote them so (FontOutputProducer)."""
        found = self._common.written.get((id(made), first))
        if found is None or found[0] is not made:
            return None
        return found[1]

    def remember_written(self, made: FontObjects, first: int, texts: tuple[str, ...]) -> None:
        written = self._common.written
        if len(written) >= MAX_FONT_OBJECTS:
            written.clear()
        written[id(made), first] = (made, texts)

    def picked(self) -> tuple[Glyph | None, ...]:
        """The glyphs this document's subset map holds, in the order of their codes."""
        return tuple(glyph for glyph, _ in self.subset.items())

    def objects(self) -> FontObjects:
        """The font objects of this document's glyphs: from the memo when already made.

        A document that drew only the glyphs it started with has its base's codes: its
        objects are found by the base, without listing its glyphs (~300 per font)."""
        if not self._common.memo:
            return self._make_objects()
        if self.stable():
            made = self._common.base_objects.get(self._base)
            if made is None:
                made = self._common.base_objects[self._base] = disk_cache.remembered(
                    "font-objects",
                    (
                        self._font_digest(),
                        self._ranges,
                        HINTING,
                        tuple(DROPPED_TABLES),
                        glyph_key(self.subset.items()),
                    ),
                    self._by_glyphs,
                    dataclasses.asdict,
                    FontObjects.from_kept,
                )
            return made
        return self._by_glyphs()

    def _font_digest(self) -> str:
        if not self._common.digest:
            self._common.digest = hashlib.sha256(self._raw).hexdigest()
        return self._common.digest

    def _by_glyphs(self) -> FontObjects:
        key = tuple(self.subset.items())
        made = self._common.objects.get(key)
        if made is None:
            if len(self._common.objects) >= MAX_FONT_OBJECTS:
                self._common.objects.clear()
            made = self._make_objects()
            self._common.objects[key] = made
        return made

    def _make_objects(self) -> FontObjects:
        """As fpdf2 2.8.9 makes them (OutputProducer._add_fonts, TrueType outlines), less the
        TrueType hinting (`HINTING`)."""
        font = self.for_subsetting()
        options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, hinting=HINTING)
        options.drop_tables += list(DROPPED_TABLES)
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(glyphs=self.subset.get_all_glyph_names())
        subsetter.subset(font)
        cid_to_gid = bytearray(256 * 256 * 2)
        for glyph, code in self.subset.items():
            if glyph is not None:
                gid = font.getGlyphID(glyph.glyph_name)
                cid_to_gid[code * 2] = gid >> 8
                cid_to_gid[code * 2 + 1] = gid & 0xFF
        out = io.BytesIO()
        font.save(out)
        font.close()
        data = out.getvalue()
        return FontObjects(
            font_file=zlib.compress(data),
            font_length=len(data),
            widths=_tt_font_widths(self),
            to_unicode=zlib.compress(_to_unicode(self.subset)),
            cid_to_gid=zlib.compress(bytes(cid_to_gid)),
        )

    def perform_harfbuzz_shaping(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> Any:
        key = _shape_key(text, font_size_pt, text_shaping_params)
        shaped = self._shapes.get(key)
        if shaped is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            shaped = super().perform_harfbuzz_shaping(text, font_size_pt, text_shaping_params)
            self._shapes[key] = shaped
        return shaped

    def shape_text(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """fpdf2's, the glyphs and positions memoised; only their codes are the document's."""
        if not self._common.memo:
            return list(super().shape_text(text, font_size_pt, text_shaping_params))
        if not text:
            return []
        key = _shape_key(text, font_size_pt, text_shaping_params)
        runs = self._common.runs
        run = runs.get(key)
        if run is None:
            if len(runs) >= MAX_SHAPES:
                runs.clear()
            run = tuple(self._shape_run(text, font_size_pt, text_shaping_params))
            runs[key] = run
        pick = self.subset.pick_glyph
        return [
            {
                "mapped_char": pick(glyph),
                "x_advance": x_advance,
                "y_advance": y_advance,
                "x_offset": x_offset,
                "y_offset": y_offset,
                "force_positioning": force,
            }
            for glyph, x_advance, y_advance, x_offset, y_offset, force in run
        ]

    def char_widths(self, font_size_pt: float, params: dict[str, Any] | None) -> dict[str, float]:
        """A table, filled by its user, of each character's width alone in points at this size
        and shaping (`get_text_width(char)[1]`, which fpdf2's line breaking adds to a line)."""
        return self._common.char_widths.setdefault(_shape_key("", font_size_pt, params), {})

    def placed_run(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[tuple[Glyph, int, float, float, float], ...] | None:
        """Each glyph of the shaped text with its width in the font's /W, its advance and its
        x and y offsets (marks), in thousandths of the size, in the order HarfBuzz gives them
        (left to right on the page; gateway.pdf.layout draws them); None when a glyph moves
        the pen vertically or is left out with an advance, which only fpdf2's drawing
        follows."""
        key = _shape_key(text, font_size_pt, text_shaping_params)
        placed = self._common.placed
        if key in placed:
            return placed[key]
        if len(placed) >= MAX_SHAPES:
            placed.clear()
        run, total = self._shaped(text, font_size_pt, text_shaping_params)
        # a glyph fpdf2 leaves out (none in the font: a tab, say) but HarfBuzz advances: fpdf2
        # places what follows it partly with, partly without its advance; only it does so
        skipped = total != sum(map(_X_ADVANCE, run))
        scale = self.scale
        made = (
            None
            if skipped or any(map(_Y_ADVANCE, run))
            else tuple(
                (glyph, glyph.glyph_width, x_adv * scale, x_off * scale, y_off * scale)
                for glyph, x_adv, _, x_off, y_off, _ in run
            )
        )
        placed[key] = made
        return made

    def text_operators(
        self, text: str, font_size_pt: float, params: dict[str, Any] | None, gap: float
    ) -> tuple[str, float, bool] | None:
        """The shaped text as text operators, from the pen's position: the glyphs' codes in
        this document in TJ arrays, each followed by how far the next one moves back
        (thousandths of the size) when HarfBuzz advances it otherwise than its width, less
        `gap` after each space (justified lines). A glyph with an offset (a mark above or
        below its letter) is placed by Td, as fpdf2 places it by Tm: then the line matrix is
        moved, from an origin taken at the text's start, and left at its end.

        Returns the operators, the text's advance (thousandths of the size) and whether the
        line matrix was moved. Memoised when the document has drawn only the glyphs it
        started with (a prepared set: the same codes in every document that starts with it);
        None as for `placed_run`.
        """
        stable = self._common.memo and len(self.subset) == self._base_size
        key = (self._base, gap, *_shape_key(text, font_size_pt, params))
        if stable:  # found only for a text placed_run places
            made = self._common.operators.get(key)
            if made is not None:
                return made
        made = None
        if not gap and self._composes(text, font_size_pt, params):
            made = self._composed_operators(text, font_size_pt, params)
        if made is None:
            run = self.placed_run(text, font_size_pt, params)
            if run is None:
                return None
            made = self._plain_operators(run, gap)
            if made is None:
                made = self._operators(run, font_size_pt, gap)
        if stable and len(self.subset) == self._base_size:
            if len(self._common.operators) >= MAX_WIDTHS:
                self._common.operators.clear()
            self._common.operators[key] = made
        return made

    def one_line(
        self, text: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[float, str] | None:
        """`get_text_width(text, …)[1]` and `text_operators(text, …, gap=0)[0]` at once, for
        a text composed from its characters' shaping (gateway.pdf.monospace, kerning) in a
        stable document, where they would walk its characters four times between them
        (whether it is composed, twice; its width; its operators): each pair's piece of the
        operators and term of the width looked up once (memoised per base and shaping). The
        same numbers, added in the same order, and the same operators
        (tests/unit/test_pdf_layout.py compares them on random texts); a new value's pair of
        walks took ~30 µs. None for any other text: ask for them apart."""
        common = self._common
        if (
            len(text) < 2
            or not common.composed
            or self.is_symbol
            or not self.stable()
            or not composable(params, common.shapings)
        ):
            return None
        if not common.kerned:
            chars = set(text)
            widths = self._alike_widths(font_size_pt, params)
            codes = self._alike_codes(font_size_pt, params)
            if (
                widths is None
                or codes is None
                or not chars <= widths.chars
                or not chars <= codes.chars
            ):
                return None
            self._sized(font_size_pt)
            return widths.total(len(text)), codes.operators(text)
        tokens = kerning.tokens(text)
        if len(tokens) < 2 or not set(text) <= common.composed:
            return None
        shape = (self._base, *_shape_key("", font_size_pt, params))
        table = common.one_line.get(shape)
        if table is None or len(table) >= MAX_WIDTHS:
            table = common.one_line[shape] = {}
        parts: list[str] = []
        width: float = 0  # as _composed_width adds them: the pairs', then the last's
        last = len(tokens) - 1
        for at in range(last + 1):
            key = tokens[at : at + 2]
            found = table.get(key)
            if found is None:
                found = table[key] = self._one_line_piece(key, font_size_pt, params) or _NO_PIECE
            if found is _NO_PIECE:
                return None
            piece, term = found
            parts.append(piece)
            if at < last:
                width += term
        width = width + term  # the last character's
        self._sized(font_size_pt)
        written = "<" + "".join(parts)
        written = written[:-1] if written.endswith("<") else written + ">"
        return width, f"[{written}] TJ"

    def _one_line_piece(
        self, key: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[str, float] | None:
        """A pair's (or a last character's) piece of `_kerned_operators`' TJ array and term
        of `_composed_width`'s sum; None when `_composes` would say no to a text holding the
        pair, or its glyph is not one of the base's."""
        if len(key) == 2:
            pairs = self._pairs(font_size_pt, params)
            pair = pairs.get(key, _UNKNOWN)
            if pair is _UNKNOWN:
                pair = self._pair(key, font_size_pt, params)
            if pair is None:
                return None
            term = cast(_Pair, pair).term
        else:
            letter = self._letters(font_size_pt, params).get(key) or self._letter(
                key, font_size_pt, params
            )
            if len(letter[2]) != 1:
                return None
            term = letter[2][0]
        piece = self._kerned_piece(key, font_size_pt, params)
        return None if piece is None else (piece[0], term)

    def _sized(self, font_size_pt: float) -> None:
        """What get_text_width notes of a size it measures at."""
        if font_size_pt > self.biggest_size_pt:
            self.biggest_size_pt = font_size_pt

    def _composed_operators(
        self, text: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[str, float, bool] | None:
        """`_plain_operators`' result for a text composed from its characters' shaping
        (gateway.pdf.monospace), with no gap: each glyph's code, then its move when it has
        one, the moves written once per character (`_char_steps`). None when a character's
        glyphs have an offset, move the pen vertically or are left out with an advance."""
        kerned = self._common.kerned
        if self.stable() and not kerned:
            alike = self._alike_codes(font_size_pt, params)
            if alike is not None and set(text) <= alike.chars:
                return alike.operators(text), alike.pens.total(len(text)), False
        if kerned:
            text = kerning.tokens(text)
            if self.stable():
                written = self._kerned_operators(text, font_size_pt, params)
                if written is not None:
                    return written
        steps = self._common.steps.setdefault(_shape_key("", font_size_pt, params), {})
        pairs = self._pairs(font_size_pt, params) if kerned else {}
        pick = self.subset.pick_glyph
        hexes = _HEX
        items: list[str] = []
        codes: list[str] = []
        pen = 0.0
        last = len(text) - 1
        for at, char in enumerate(text):
            if kerned and at < last:
                found = pairs[text[at : at + 2]]
                assert found is not None  # noqa: S101 - _composes
                glyphs: tuple[tuple[Glyph, float, str], ...] = (found.step,)
            else:
                glyphs = steps.get(char)  # type: ignore[assignment]
                if glyphs is None:
                    glyphs = steps[char] = self._char_steps(char, font_size_pt, params)
            if not glyphs:
                return None
            for glyph, step, move in glyphs:
                code = pick(glyph)
                if code is None:
                    continue
                codes.append(hexes.get(code) or _hex(code))
                if move:
                    items.append(f"<{''.join(codes)}>")
                    codes.clear()
                    items.append(move)
                pen += step
        if codes:
            items.append(f"<{''.join(codes)}>")
        return (f"[{''.join(items)}] TJ" if items else ""), pen, False

    def _kerned_operators(
        self, chars: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[str, float, bool] | None:
        """`_composed_operators`' result for a kerned text (gateway.pdf.kerning) in a stable
        document, written from pieces memoised per base: each pair's first glyph (each
        text's last character's glyph) as its code, and when the pen moves back after it,
        the move between closing and opening angle brackets. None when a glyph is not one of
        the base's (its code is this document's)."""
        shape = (self._base, *_shape_key("", font_size_pt, params))
        table = self._common.kerned_pieces.setdefault(shape, {})
        if len(table) >= MAX_WIDTHS:
            table.clear()
        parts: list[str] = []
        pen = 0.0
        for at in range(len(chars)):
            key = chars[at : at + 2]  # a pair, or the last character alone
            found = table.get(key, _UNKNOWN)
            if found is _UNKNOWN:
                found = table[key] = self._kerned_piece(key, font_size_pt, params)
            if found is None:
                return None
            piece, step = cast(tuple[str, float], found)
            parts.append(piece)
            pen += step
        written = "<" + "".join(parts)
        written = written[:-1] if written.endswith("<") else written + ">"
        return f"[{written}] TJ", pen, False

    def _kerned_piece(
        self, key: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[str, float] | None:
        steps: tuple[tuple[Glyph, float, str], ...] = ()
        if len(key) == 2:
            found = self._pairs(font_size_pt, params)[key]
            if found is not None:
                steps = (found.step,)
        else:
            steps = self._char_steps(key, font_size_pt, params)
        held = self._common.subsets.get(self._base)
        if len(steps) != 1 or held is None:
            return None
        glyph, step, move = steps[0]
        code = held[1][0].get(glyph)
        if code is None:
            return None
        return (f"{code:04X}>{move}<" if move else f"{code:04X}"), step

    def _alike_codes(
        self, font_size_pt: float, params: dict[str, Any] | None
    ) -> _AlikeCodes | None:
        """The composed characters this document writes as one glyph each, with a code it
        holds already (its base's), advancing the same and followed by the same move (none,
        or the same one): a text of them is `_composed_operators`' TJ array, written at once
        (`str.translate`), and the pen after it their steps added up (gateway.pdf.monospace:
        the hashes, identifiers and URLs of every certificate). None when there are none; for
        a stable document only (the codes are its base's)."""
        shape = _shape_key("", font_size_pt, params)
        key = (self._base, *shape)
        found = self._common.alike_codes.get(key, ())
        if found != ():
            return found  # type: ignore[return-value]
        steps = self._common.steps.setdefault(shape, {})
        held = self.subset._char_id_per_glyph  # picking a glyph not held would add it
        codes: dict[int, str] = {}
        alike: tuple[float, str] | None = None
        for char in sorted(self._common.composed):
            glyphs = steps.get(char)
            if glyphs is None:
                glyphs = steps[char] = self._char_steps(char, font_size_pt, params)
            if len(glyphs) != 1 or held.get(glyphs[0][0]) is None:
                continue
            glyph, step, move = glyphs[0]
            alike = alike or (step, move)
            if (step, move) == alike:
                code = f"{held[glyph]:04X}"
                codes[ord(char)] = f"<{code}>{move}" if move else code
        made = None
        if alike is not None:
            chars = frozenset(map(chr, codes))
            made = _AlikeCodes(chars, codes, bool(alike[1]), _Alike(chars, alike[0], [0.0]))
        self._common.alike_codes[key] = made
        return made

    def _char_steps(
        self, char: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[tuple[Glyph, float, str], ...]:
        """`char`'s glyphs shaped alone, each with its advance (thousandths of the size) and
        the move written after it ("" for none), as `placed_run` and `_plain_operators`
        compute them; () when one has an offset, moves the pen vertically or is left out
        with an advance (then the text is written the general way)."""
        run, total, _ = self._letters(font_size_pt, params).get(char) or self._letter(
            char, font_size_pt, params
        )
        if total != sum(map(_X_ADVANCE, run)) or not run:
            return ()
        if any(y_adv or x_off or y_off for _, _, y_adv, x_off, y_off, _ in run):
            return ()
        made = []
        for glyph, x_adv, *_ in run:
            step = x_adv * self.scale + 0.0
            pending = glyph.glyph_width - step
            move = _move(pending) if pending > 0.0005 or pending < -0.0005 else ""
            made.append((glyph, step, move))
        return tuple(made)

    def _plain_operators(
        self, run: Sequence[tuple[Glyph, int, float, float, float]], gap: float
    ) -> tuple[str, float, bool] | None:
        """`_operators`' result for a run with no glyph offset (no mark placed by Td): one TJ
        array, each glyph's code followed by how far back the pen moves, when it does. The
        same strings, written from memoised pieces (`_HEX`, `_MOVES`); None for a run with
        an offset."""
        pick = self.subset.pick_glyph
        space = self.subset.pick(ord(" ")) if gap else None
        hexes, moves = _HEX, _MOVES
        items: list[str] = []
        codes: list[str] = []
        pending = 0.0
        pen = 0.0
        for glyph, width, advance, x_offset, y_offset in run:
            if x_offset or y_offset:
                return None
            code = pick(glyph)
            if code is None:
                continue
            step = advance + (gap if code == space else 0.0)
            if pending > 0.0005 or pending < -0.0005:
                if codes:
                    items.append(f"<{''.join(codes)}>")
                    codes.clear()
                moved = moves.get(pending)
                if moved is None:
                    moved = _move(pending)
                items.append(moved)
            codes.append(hexes.get(code) or _hex(code))
            pending = width - step
            pen += step
        if pending > 0.0005 or pending < -0.0005:
            if codes:
                items.append(f"<{''.join(codes)}>")
                codes.clear()
            items.append(moves.get(pending) or _move(pending))
        if codes:
            items.append(f"<{''.join(codes)}>")
        return (f"[{''.join(items)}] TJ" if items else ""), pen, False

    def _operators(
        self, run: Sequence[tuple[Glyph, int, float, float, float]], size: float, gap: float
    ) -> tuple[str, float, bool]:
        pick = self.subset.pick_glyph
        space = self.subset.pick(ord(" ")) if gap else None
        operators: list[str] = []
        items: list[str] = []  # of the TJ array being written
        codes: list[str] = []
        pending = 0.0  # how far back the pen moves before the next glyph
        pen = 0.0  # where the next glyph goes, from the text's start
        origin = (0.0, 0.0)  # the line matrix, from the text's start
        moved = placed = False  # placed: the last glyph was placed by Td

        def move(by: float) -> None:
            if abs(by) > 0.0005:
                if codes:
                    items.append(f"<{''.join(codes)}>")
                    codes.clear()
                items.append(f"{by:.3f}")

        def close() -> None:
            if codes:
                items.append(f"<{''.join(codes)}>")
                codes.clear()
            if items:
                operators.append(f"[{''.join(items)}] TJ")
                items.clear()

        def go(x: float, y: float) -> None:
            nonlocal origin
            close()
            dx, dy = (x - origin[0]) * size / 1000, (y - origin[1]) * size / 1000
            operators.append(f"{dx:.3f} {dy:.3f} Td")
            origin = (x, y)

        for glyph, width, advance, x_offset, y_offset in run:
            code = pick(glyph)
            if code is None:
                continue
            step = advance + (gap if code == space else 0.0)
            if x_offset or y_offset:
                go(pen + x_offset, y_offset)
                codes.append(f"{code:04X}")
                pending, moved, placed = 0.0, True, True
            else:
                if placed:
                    go(pen, 0.0)
                    pending, placed = 0.0, False
                if pending > 0.0005 or pending < -0.0005:  # move's own test, before the call:
                    move(pending)  # most glyphs advance by their width, and nothing moves
                codes.append(f"{code:04X}")
                pending = width - step
            pen += step
        if moved:
            if origin != (pen, 0.0):
                go(pen, 0.0)
        else:
            move(pending)
        close()
        return " ".join(operators), pen, moved

    def _shape_run(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> Iterator[_Placed]:
        """fpdf2 2.8.9's TTFFont.shape_text, without picking the glyphs' codes."""
        return iter(self._shaped(text, font_size_pt, text_shaping_params)[0])

    def _shaped(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[list[_Placed], int]:
        """`_shape_run`'s glyphs, and the advance of every glyph HarfBuzz gave (those left
        out included)."""
        if self._composes(text, font_size_pt, text_shaping_params):
            return self._composed_run(text, font_size_pt, text_shaping_params)
        return self._harfbuzz_run(text, font_size_pt, text_shaping_params)

    def _harfbuzz_run(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[list[_Placed], int]:
        """`_shaped`'s result, from HarfBuzz's shaping of the whole text."""
        glyph_infos, glyph_positions = self.perform_harfbuzz_shaping(
            text, font_size_pt, text_shaping_params
        )
        ids = [(int(info.codepoint), int(info.cluster)) for info in glyph_infos]
        clusters = sorted(cluster for _, cluster in ids)
        by_cluster: dict[int, list[int]] | None = None
        if clusters != list(range(len(text))):  # else one glyph per character (most Latin)
            by_cluster = {}
            for i in range(len(text)):
                at = bisect_left(clusters, i)
                if at == 0:
                    cluster = clusters[0]
                elif at == len(clusters) or clusters[at] != i:
                    cluster = clusters[at - 1]
                else:
                    cluster = clusters[at]
                by_cluster.setdefault(cluster, []).append(i)
        hmtx = self.ttfont["hmtx"].metrics
        known = self._common.glyphs
        run: list[_Placed] = []
        total = 0
        for (codepoint, cluster), position in zip(ids, glyph_positions, strict=False):
            if by_cluster is None:
                unicode: tuple[int, ...] = (ord(text[cluster]),)
            else:
                unicode = tuple(ord(text[i]) for i in by_cluster.pop(cluster, ()))
            made = known.get((codepoint, unicode))
            if made is None:
                name = self.ttfont.getGlyphName(codepoint)
                width = round(self.scale * hmtx[name][0])
                glyph = self.subset.get_glyph(
                    glyph=codepoint, unicode=unicode, glyph_name=name, glyph_width=width
                )
                if len(known) >= MAX_WIDTHS:
                    known.clear()
                made = known[codepoint, unicode] = (glyph, width)
            x_advance = position.x_advance
            total += x_advance
            glyph, width = made
            if glyph is None:
                continue
            y_advance, x_offset, y_offset = (
                position.y_advance,
                position.x_offset,
                position.y_offset,
            )
            force = bool(width != x_advance or x_offset or y_offset or y_advance)
            run.append((glyph, x_advance, y_advance, x_offset, y_offset, force))
        return run, total

    def shaped_text_width(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[int, float]:
        """fpdf2's, memoised: line breaking asks for the width of every prefix of a text."""
        if not self._common.memo:
            return super().shaped_text_width(text, font_size_pt, text_shaping_params)
        key = _shape_key(text, font_size_pt, text_shaping_params)
        widths = self._common.widths
        width = widths.get(key)
        if width is None:
            if len(widths) >= MAX_WIDTHS:
                widths.clear()
            if self._composes(text, font_size_pt, text_shaping_params):
                width = self._composed_width(text, font_size_pt, text_shaping_params)
            else:
                width = super().shaped_text_width(text, font_size_pt, text_shaping_params)
            widths[key] = width
        return width

    # texts composed from their characters' shaping (gateway.pdf.monospace) -----------------

    def _composes(self, text: str, font_size_pt: float, params: dict[str, Any] | None) -> bool:
        common = self._common
        composed = common.composed
        if not (
            len(text) > 1
            and composed
            and composable(params, common.shapings)
            and set(text) <= composed
        ):
            return False
        if not common.kerned:
            return True
        text = kerning.tokens(text)
        if len(text) < 2:
            return False  # one ligature alone
        pairs = self._pairs(font_size_pt, params)
        if len(pairs) >= MAX_WIDTHS - len(text):  # not while composing a text
            pairs.clear()
        for i in range(len(text) - 1):
            pair = text[i : i + 2]
            found = pairs.get(pair, _UNKNOWN)
            if found is _UNKNOWN:
                found = self._pair(pair, font_size_pt, params)
            if found is None:
                return False
        return True

    def widening(self, text: str, font_size_pt: float, params: dict[str, Any] | None) -> float:
        """At most how much wider `text` is shaped than its characters' widths alone added
        up (fpdf2's line breaking adds those: `char_widths`), per pair of characters, in
        points; infinite unless `text` is composed (gateway.pdf.kerning, monospace).

        A composed text is shaped by the font's pair kerning and ligatures only: each glyph
        moves by at most the font's largest kerning, and a ligature is no wider than its
        characters; two thousandths of the size more per pair cover fpdf2's rounding of each
        glyph's advance to a thousandth (a ligature's of three)."""
        common = self._common
        if not (
            common.composed and set(text) <= common.composed and composable(params, common.shapings)
        ):
            return math.inf
        if common.widening == ():
            common.widening = _widening(self.ttfont, common.composed, self.scale)
        if common.widening is None:
            return math.inf
        return cast(float, common.widening) * font_size_pt * 0.001

    def _pairs(self, font_size_pt: float, params: dict[str, Any] | None) -> dict[str, _Pair | None]:
        """The pairs shaped together at this size and shaping, filled by `_pair`."""
        return self._common.pairs.setdefault(_shape_key("", font_size_pt, params), {})

    def _pair(self, pair: str, font_size_pt: float, params: dict[str, Any] | None) -> _Pair | None:
        """The first character of `pair` shaped by HarfBuzz before the second; None unless
        the pair is shaped as each character alone, the first's advance moved by kerning only
        (gateway.pdf.kerning; a character may be a ligature's token); memoised in `_pairs`."""
        pairs = self._pairs(font_size_pt, params)
        letters = self._letters(font_size_pt, params)
        first, second = (
            letters.get(char) or self._letter(char, font_size_pt, params) for char in pair
        )
        text = kerning.spelled(pair)
        run, total = self._harfbuzz_run(text, font_size_pt, params)
        made = None
        if (
            len(first[0]) == 1
            and len(second[0]) == 1
            and len(run) == 2
            and total == run[0][1] + run[1][1]
            and run[1] == second[0][0]
            and run[0][0] == first[0][0][0]
            and not any(run[0][2:5])
            and not any(first[0][0][2:5])
        ):
            glyph, x_advance = run[0][0], run[0][1]
            _, positions = self.perform_harfbuzz_shaping(text, font_size_pt, params)
            term = round(self.scale * positions[0].x_advance + 0.001) * font_size_pt * 0.001
            step = x_advance * self.scale + 0.0
            pending = glyph.glyph_width - step
            move = _move(pending) if pending > 0.0005 or pending < -0.0005 else ""
            made = _Pair(run[0], term, (glyph, step, move))
        pairs[pair] = made
        return made

    def _letters(
        self, font_size_pt: float, params: dict[str, Any] | None
    ) -> dict[str, tuple[tuple[_Placed, ...], int, tuple[float, ...]]]:
        """The characters shaped alone at this size and shaping, filled by `_letter`."""
        return self._common.letters.setdefault(_shape_key("", font_size_pt, params), {})

    def _letter(
        self, char: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[tuple[_Placed, ...], int, tuple[float, ...]]:
        """`char` (or a ligature's token: gateway.pdf.kerning) shaped alone by HarfBuzz: its
        glyphs and their advance (`_shaped`), and their widths as fpdf2's shaped_text_width
        adds them; memoised in `_letters`."""
        text = kerning.spelled(char)
        run, total = self._shaped(text, font_size_pt, params)
        _, positions = self.perform_harfbuzz_shaping(text, font_size_pt, params)
        terms = tuple(
            round(self.scale * pos.x_advance + 0.001) * font_size_pt * 0.001 for pos in positions
        )
        letter = self._letters(font_size_pt, params)[char] = (tuple(run), total, terms)
        return letter

    def _composed_width(
        self, text: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[int, float]:
        """fpdf2's shaped_text_width of `text`, added up glyph by glyph in the same order."""
        if self._common.kerned:
            text = kerning.tokens(text)
            pairs = self._pairs(font_size_pt, params)
            kerned: float = 0
            for i in range(len(text) - 1):
                found = pairs[text[i : i + 2]]
                assert found is not None  # noqa: S101 - _composes
                kerned += found.term
            last = self._letters(font_size_pt, params)[text[-1]]
            return len(text), kerned + last[2][0]
        alike = self._alike_widths(font_size_pt, params)
        if alike is not None and set(text) <= alike.chars:
            return len(text), alike.total(len(text))
        letters = self._letters(font_size_pt, params)
        width: float = 0
        count = 0
        for char in text:
            letter = letters.get(char) or self._letter(char, font_size_pt, params)
            for term in letter[2]:
                width += term
            count += len(letter[2])
        return count, width

    def _alike_widths(self, font_size_pt: float, params: dict[str, Any] | None) -> _Alike | None:
        """The composed characters that each add one and the same term to a text's width
        (most, or all, of a monospace font's): the width of a text of them is that term
        added as many times (`_composed_width`). None when there are none."""
        if self._common.kerned:
            return None  # their widths depend on their neighbours
        shape = _shape_key("", font_size_pt, params)
        found = self._common.alike_widths.get(shape, ())
        if found != ():
            return found  # type: ignore[return-value]
        letters = self._letters(font_size_pt, params)
        by_term: dict[float, list[str]] = {}
        for char in sorted(self._common.composed):
            letter = letters.get(char) or self._letter(char, font_size_pt, params)
            if len(letter[2]) == 1:
                by_term.setdefault(letter[2][0], []).append(char)
        made = None
        if by_term:  # the term most characters share
            term, chars = max(by_term.items(), key=lambda item: (len(item[1]), item[1]))
            made = _Alike(frozenset(chars), term, [0])
        self._common.alike_widths[shape] = made
        return made

    def _composed_run(
        self, text: str, font_size_pt: float, params: dict[str, Any] | None
    ) -> tuple[list[_Placed], int]:
        """`_shaped`'s result for `text`, from its characters' (and pairs')."""
        letters = self._letters(font_size_pt, params)
        run: list[_Placed] = []
        total = 0
        if self._common.kerned:
            text = kerning.tokens(text)
            pairs = self._pairs(font_size_pt, params)
            for i in range(len(text) - 1):
                found = pairs[text[i : i + 2]]
                assert found is not None  # noqa: S101 - _composes
                run.append(found.placed)
                total += found.placed[1]
            run += letters[text[-1]][0]
            return run, total + letters[text[-1]][1]
        for char in text:
            letter = letters.get(char) or self._letter(char, font_size_pt, params)
            run += letter[0]
            total += letter[1]
        return run, total

    def for_subsetting(self) -> ttLib.TTFont:
        """A fresh fontTools font for fpdf2 to subset in place: the pre-subset when it will do."""
        if self._common.pre_subset is None:
            self._common.pre_subset = disk_cache.remembered(
                "pre-subset",
                (self._font_digest(), self._ranges),
                lambda: _pre_subset(self._raw, self._ranges),
                lambda made: {"font": made[0], "names": sorted(made[1])},
                lambda kept: (bytes(kept["font"]), frozenset(map(str, kept["names"]))),
            )
        data, names = self._common.pre_subset
        if not set(self.subset.get_all_glyph_names()) <= names:
            data = self._raw
        return ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)


_UNKNOWN: Final = object()  # a pair not shaped yet (_Font._composes)
_NO_PIECE: Final = ("", 0.0)  # a pair or character `one_line` does not write (_Shared.one_line)
_SLOTS: dict[type, tuple[str, ...]] = {}  # every slot of a font class (_copied)


def _copied(font: _Font) -> _Font:
    """`copy.copy(font)`: a font is all slots (fpdf2's TTFFont and _Font), which copy.copy
    copies the generic way (`__reduce_ex__`, copyreg's state, then a setattr each): ~11 µs a
    font, five fonts a certificate. Here the slots that hold a value are set one by one."""
    cls = type(font)
    names = _SLOTS.get(cls)
    if names is None:
        names = _SLOTS[cls] = tuple(copyreg._slotnames(cls))  # type: ignore[attr-defined]
    clone = cls.__new__(cls)
    for name in names:
        value = getattr(font, name, _UNKNOWN)
        if value is not _UNKNOWN:
            setattr(clone, name, value)
    return clone


# glyph codes and pen moves as TJ arrays write them (_Font._plain_operators), by value
_HEX: dict[int, str] = {}
_MOVES: dict[float, str] = {}


def _hex(code: int) -> str:
    text = _HEX[code] = f"{code:04X}"
    return text


def _move(by: float) -> str:
    if len(_MOVES) >= MAX_WIDTHS:
        _MOVES.clear()
    text = _MOVES[by] = f"{by:.3f}"
    return text


ShapedFont = _Font  # what a certificate's fonts are (FontBook.for_document), for gateway.pdf.layout


def _widening(font: ttLib.TTFont, chars: frozenset[str], scale: float) -> float | None:
    """`_Font.widening` in thousandths of the size: the largest amount the font's pair kerning
    adds to a glyph's advance (none: 0), plus 2 for the rounding; None when a pair moves its
    second glyph or a ligature of `chars` is wider than its characters."""
    cmap = font.getBestCmap()
    advances = font["hmtx"].metrics
    glyphs = {cmap[ord(char)] for char in chars if ord(char) in cmap}
    most = 0
    if "GPOS" in font:
        for value1, value2 in _kerning_values(font["GPOS"].table):
            if getattr(value2, "XAdvance", 0):
                return None
            most = max(most, getattr(value1, "XAdvance", 0) or 0)
    if "GSUB" in font:
        for parts, ligature in ligatures(font["GSUB"].table):
            if set(parts) <= glyphs and advances[ligature][0] > sum(
                advances[part][0] for part in parts
            ):
                return None
    return most * scale + 2


def _kerning_values(table: Any) -> Iterator[tuple[Any, Any]]:
    """The value records of every pair in the lookups of the `kern` feature (GPOS)."""
    for kind, sub in _subtables(table, ("kern",), extension=9):
        if kind != 2:
            continue
        if sub.Format == 1:
            for pairs in sub.PairSet:
                for pair in pairs.PairValueRecord:
                    yield pair.Value1, pair.Value2
        else:
            for first in sub.Class1Record:
                for second in first.Class2Record:
                    yield second.Value1, second.Value2


DEFAULT_SUBSTITUTIONS: Final = ("liga", "rlig", "clig", "ccmp", "locl", "calt")


def ligatures(table: Any) -> Iterator[tuple[list[str], str]]:
    """Each ligature of the GSUB lookups HarfBuzz applies by default: its glyphs and its
    glyph."""
    for kind, sub in _subtables(table, DEFAULT_SUBSTITUTIONS, extension=7):
        if kind == 4:
            for first, made in sub.ligatures.items():
                for ligature in made:
                    yield [first, *ligature.Component], ligature.LigGlyph


def _subtables(table: Any, features: Sequence[str], *, extension: int) -> Iterator[tuple[int, Any]]:
    """Each subtable of the lookups of `features` in a GSUB or GPOS table, with its lookup
    type (the extended one's, for a lookup of type `extension`)."""
    for record in table.FeatureList.FeatureRecord:
        if record.FeatureTag not in features:
            continue
        for index in record.Feature.LookupListIndex:
            lookup = table.LookupList.Lookup[index]
            for sub in lookup.SubTable:
                if lookup.LookupType == extension:
                    yield sub.ExtSubTable.LookupType, sub.ExtSubTable
                else:
                    yield lookup.LookupType, sub


def _pre_subset(raw: bytes, ranges: tuple[tuple[int, int], ...]) -> tuple[bytes, frozenset[str]]:
    """The font cut down to the glyphs of `ranges` and all their layout closure, else intact.

    Left intact when `ranges` map more than half of its glyphs (the Arabic fonts: their closure
    kept 93 % of their bytes, for 0.7 s of fontTools each at every start of the certificate
    processes; a certificate's own subset is then the same bytes, made as fast)."""

    def options(*, drop: tuple[str, ...] = ()) -> ftsubset.Options:
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
            drop_tables=["FFTM", *drop],  # FFTM: which fpdf2 drops too
            symbol_cmap=True,
            legacy_cmap=True,
        )

    font = ttLib.TTFont(io.BytesIO(raw), recalcTimestamp=False)
    wanted = {g for u, g in font.getBestCmap().items() if any(a <= u <= b for a, b in ranges)}
    if len(wanted) > len(font.getGlyphOrder()) / 2:
        return raw, frozenset(font.getGlyphOrder())
    # the closure alone, without the names (they hold no glyph; pruning them walks every table)
    subsetter = ftsubset.Subsetter(options(drop=("name",)))
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
    """The certificate's fonts, registered once; `for_document()` for each new FPDF.

    `memo=False` draws as before the memos (font objects, widths, glyph runs), for comparison.
    """

    def __init__(
        self,
        paths: dict[tuple[str, str], Path],
        scripts: dict[str, Any],
        *,
        memo: bool = True,
        composed: Mapping[str, frozenset[str]] | None = None,
        kerned: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """`composed`: by font family, the characters of texts composed from each one's
        shaping (gateway.pdf.monospace); `kerned`: from each one's and each pair's
        (gateway.pdf.kerning)."""
        composed = composed or {}
        kerned = kerned or {}
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
            self._fonts[key] = _Font.adopt(
                font,
                raw,
                scripts[family],
                memo=memo,
                composed=kerned.get(family) or composed.get(family, frozenset()),
                kerned=family in kerned,
            )

    def for_document(
        self, bases: Mapping[str, Sequence[Glyph | None]] | None = None
    ) -> dict[str, _Font]:
        """Each font's copy for one document; `bases`: the glyphs each starts with, by font key."""
        bases = bases or {}
        return {key: font.for_document(bases.get(key, ())) for key, font in self._fonts.items()}

    def digests(self) -> tuple[tuple[str, str], ...]:
        """Each font's key and the digest of its bytes."""
        return tuple((key, font._font_digest()) for key, font in self._fonts.items())


def glyph_key(items: Iterable[tuple[Glyph | None, int]]) -> tuple[object, ...]:
    """Glyphs and their codes as plain values (a key of gateway.pdf.disk_cache)."""
    return tuple((None if g is None else dataclasses.astuple(g), code) for g, code in items)


def glyphs_to_json(picked: Mapping[str, Sequence[Glyph | None]]) -> dict[str, list[Any]]:
    """Each font's glyphs as JSON values, for gateway.pdf.disk_cache (`glyphs_from_json`)."""
    return {
        key: [None if g is None else dataclasses.astuple(g) for g in glyphs]
        for key, glyphs in picked.items()
    }


def glyphs_from_json(kept: Mapping[str, list[Any]]) -> dict[str, tuple[Glyph | None, ...]]:
    """`glyphs_to_json`'s glyphs back: a ligature's characters as a tuple, one as an int."""

    def glyph(value: list[Any] | None) -> Glyph | None:
        if value is None:
            return None
        glyph_id, unicode, name, width = value
        chars = tuple(unicode) if isinstance(unicode, list) else int(unicode)
        return Glyph(int(glyph_id), chars, str(name), int(width))

    return {str(key): tuple(map(glyph, glyphs)) for key, glyphs in kept.items()}


def picked_glyphs(fonts: Mapping[str, object]) -> dict[str, tuple[Glyph | None, ...]]:
    """The glyphs each of a document's fonts has drawn so far, in the order of their codes."""
    return {key: font.picked() for key, font in fonts.items() if isinstance(font, _Font)}


@functools.lru_cache(maxsize=MAX_SHAPES)
def bidi_segments(text: str, direction: Any, alias: str) -> tuple[tuple[str, Any], ...]:
    """The runs of `text` in one direction each, by the Unicode bidi algorithm (fpdf2's)."""
    paragraph = BidiParagraph(
        text=text, base_direction=direction, preserve_bn_chars=True, alias=alias
    )
    return tuple(paragraph.get_bidi_fragments())


def _base_script(char: str) -> UnicodeScript:
    """fpdf2's `get_unicode_script`, a combining mark (script Inherited, UAX #24: an Arabic
    vowel sign, a shadda) counted as Common, as its base letter's script.

    fpdf2 2.8.9 cuts a cell's text where the script changes and shapes each piece alone: at an
    Arabic mark, so the letters around it came out unjoined (استُلم drawn است‌لم, in the content
    section's title of every Arabic certificate). Put in fpdf2's place below, for the texts
    fpdf2 lays out itself; gateway.pdf.layout keeps marks with their letters too (`SHARED`)."""
    script = get_unicode_script(char)
    return UnicodeScript.COMMON if script == UnicodeScript.INHERITED else script


# FPDF.output calls cache_clear(); setattr: mypy knows fpdf2's as an lru_cache wrapper
setattr(_base_script, "cache_clear", get_unicode_script.cache_clear)  # noqa: B010
setattr(fpdf_module, "get_unicode_script", _base_script)  # noqa: B010


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

    memo = True  # False: the bidi algorithm runs again for every text (as before the memo)

    def _preload_bidirectional_text(self, text: str, markdown: bool) -> Sequence[Any]:
        """fpdf2 2.8.9's, the bidi algorithm's result memoised (`bidi_segments`): labels and
        sentences come back in every certificate."""
        if not self.text_shaping or not self.memo:
            return super()._preload_bidirectional_text(text, markdown)
        direction = self.text_shaping["direction"] or auto_detect_base_direction(text)
        self.text_shaping["paragraph_direction"] = direction
        emphasis = (
            "B" in self.font_style,
            "I" in self.font_style,
            self.strikethrough,
            self.underline,
        )
        fragments: list[Any] = []
        for segment, segment_direction in bidi_segments(text, direction, self.str_alias_nb_pages):
            self.text_shaping["fragment_direction"] = segment_direction
            fragments.extend(
                self._preload_font_styles(segment, markdown, _initial_emphasis=emphasis)
            )
            emphasis = getattr(self, "_markdown_emphasis", emphasis)
        return tuple(fragments)

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

    It runs once fpdf2 has drawn everything, page-number substitutions included. The fonts'
    objects are fpdf2's own, their contents taken from each font's memo (`_Font.objects`);
    once serialised, they are written as such in the next documents where they get the same
    numbers (`_Font.written`: the same font objects, the same first object number).
    """

    own_serialisation = True  # False: every object serialised by fpdf2 itself (tests)
    at_once = True  # False: fpdf2's writer even where gateway.pdf.document writes it (tests)

    def bufferize(self) -> bytearray:
        prepare_output(self.fpdf)
        if self.at_once and self.own_serialisation:
            fonts = sorted(self.fpdf.fonts.values(), key=lambda font: int(font.i))
            if all(_plain_truetype(font) for font in fonts):
                made = document.written(self.fpdf, fonts, self._written_font, PAGE_COMPRESSION)
                if made is not None:
                    self.buffer = made
                    return made
        return super().bufferize()

    @staticmethod
    def _written_font(font: _Font, first: int) -> tuple[str, ...] | None:
        """The font's objects as serialised for an earlier document, numbered from `first`."""
        texts = font.written(font.objects(), first)
        if texts is not None:
            _written_out(font)
        return texts

    def _add_pages(self, _slice: slice = slice(0, None)) -> list[PDFPage]:
        """fpdf2's, each page's content stream compressed at `PAGE_COMPRESSION`."""
        fpdf = self.fpdf
        if not fpdf.compress:
            return super()._add_pages(_slice)
        fpdf.compress = False  # fpdf2's pages, their content streams left plain
        try:
            pages = super()._add_pages(_slice)
        finally:
            fpdf.compress = True
        for page in pages:
            stream = cast(PDFContentStream, page.contents)  # made by fpdf2's _add_pages
            stream._contents = zlib.compress(stream._contents, PAGE_COMPRESSION)
            stream.filter = Name("FlateDecode")
            stream.length = len(stream._contents)
        return pages

    def _add_pdf_obj(self, pdf_obj: PDFObject, trace_label: str | None = None) -> int:
        """fpdf2's, the object written by gateway.pdf.serialise when it comes to it."""
        obj_id = super()._add_pdf_obj(pdf_obj, trace_label)
        if self.own_serialisation and self.fpdf._security_handler is None:
            self.pdf_objs[-1] = _Serialised(pdf_obj)
        return obj_id

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        everything = sorted(self.fpdf.fonts.values(), key=lambda font: int(font.i))
        fonts = [font for font in everything if _plain_truetype(font)]
        compliance = self.fpdf._compliance
        if len(fonts) < len(everything) or (
            compliance and compliance.profile == "PDFA" and compliance.part == 1
        ):
            for font in fonts:  # fpdf2's own way (the /CIDSet of PDF/A-1, a colour font…)
                font.ttfont = font.for_subsetting()  # subset in place, then closed
            return dict(super()._add_fonts(*args, **kwargs))
        objects: dict[int, Any] = {}
        for font in fonts:
            made = font.objects()
            written = font.written(made, self.obj_id + 1)
            if written is not None and self.fpdf._security_handler is None:
                for text in written:
                    self._add_pdf_obj(_Written(text), "fonts")
                objects[font.i] = _unwrapped(self.pdf_objs[-len(written)])
            else:
                objects[font.i] = self._font_objects(font, made)
            _written_out(font)
        return objects

    def _font_objects(self, font: _Font, made: FontObjects) -> PDFFont:
        """fpdf2's objects of one font, their contents from its memo; their serialisation
        remembered for the next document (`_Font.written`)."""
        first = self.obj_id + 1
        name = f"MPDFAA+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(
            subtype="CIDFontType2", base_font=name, d_w=font.desc.missing_width, w=made.widths
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        to_unicode = _Compressed(made.to_unicode)
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode
        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info
        descriptor = font.desc
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_to_gid = _Compressed(made.cid_to_gid)
        self._add_pdf_obj(cid_to_gid, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid
        font_file = _Compressed(made.font_file, length1=made.font_length)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file  # type: ignore[attr-defined]
        group = (composite, cid_font, to_unicode, system_info, descriptor, cid_to_gid, font_file)
        if self.fpdf._security_handler is None:
            font.remember_written(made, first, tuple(obj.serialize() for obj in group))
        return composite


def _written_out(font: _Font) -> None:
    """A font's objects are in the file: say what glyphs it lacked, drop its picking memos."""
    if font.missing_glyphs:
        log.warning("font %s lacks glyphs for %r", font.name, font.missing_glyphs[:10])
    font.subset.pick.cache_clear()
    font.subset.get_glyph.cache_clear()


class _Serialised(PDFObject):
    """An object in the writer's list, written by gateway.pdf.serialise (fpdf2's text)."""

    def __init__(self, obj: PDFObject) -> None:
        self.obj = obj

    @property
    def id(self) -> int:
        return self.obj.id

    @id.setter
    def id(self, n: int) -> None:
        self.obj.id = n

    def serialize(
        self, obj_dict: dict[str, object] | None = None, _security_handler: Any = None
    ) -> str:
        return serialised(self.obj)


def _unwrapped(obj: object) -> Any:
    return obj.obj if isinstance(obj, _Serialised) else obj


class _Written(PDFObject):
    """A font object as serialised for an earlier document, where it had the same number."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def serialize(
        self, obj_dict: dict[str, object] | None = None, _security_handler: Any = None
    ) -> str:
        return self._text


def _plain_truetype(font: object) -> TypeGuard[_Font]:
    return isinstance(font, _Font) and not font.color_font and not font.is_cff


class _Compressed(PDFContentStream):
    """A stream whose contents are already Flate-compressed (fpdf2 would compress them again)."""

    def __init__(self, data: bytes, length1: int | None = None) -> None:
        PDFObject.__init__(self)
        self._contents = data
        self.filter = Name("FlateDecode")
        self.length = len(data)
        if length1 is not None:
            self.length1 = length1


def _to_unicode(subset: SubsetMap) -> bytes:
    """The ToUnicode CMap of a subset map, as fpdf2 2.8.9 writes it."""

    def code(unicode: int) -> str:
        if unicode > 0xFFFF:  # a surrogate pair
            return f"{0xD800 | (unicode - 0x10000) >> 10:04X}{0xDC00 | (unicode & 0x3FF):04X}"
        return f"{unicode:04X}"

    entries = [
        f"<{mapped:04X}> <{''.join(code(u) for u in glyph.unicode)}>\n"
        for glyph, mapped in subset.items()
        if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode
    ]
    return (
        "/CIDInit /ProcSet findresource begin\n"
        "12 dict begin\n"
        "begincmap\n"
        "/CIDSystemInfo\n"
        "<</Registry (Adobe)\n"
        "/Ordering (UCS)\n"
        "/Supplement 0\n"
        ">> def\n"
        "/CMapName /Adobe-Identity-UCS def\n"
        "/CMapType 2 def\n"
        "1 begincodespacerange\n"
        "<0000> <FFFF>\n"
        "endcodespacerange\n"
        f"{_build_cmap_blocks(entries, 'bfchar')}"
        "endcmap\n"
        "CMapName currentdict /CMap defineresource pop\n"
        "end\n"
        "end"
    ).encode("latin-1")


def prepare_output(pdf: FPDF) -> None:
    """Forget the fonts no page draws with.

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
