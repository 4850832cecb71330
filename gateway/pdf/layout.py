"""The certificate's text laid out and drawn without fpdf2's per-character line breaking.

fpdf2 (2.8.9) lays out a `cell` or `multi_cell` one character at a time: for each character it
measures the width of the whole line so far (HarfBuzz shapes every prefix), and it draws each
glyph through several layers of Python objects. That was most of a certificate's cost.
`LaidOutPDF` gives the same lines at the same places for the certificate's plain texts, in
either direction:

- the text is cut as fpdf2 cuts it: into runs of one direction by fpdf2's own bidi algorithm
  (memoised, `gateway.pdf.fonts.bidi_segments`), then into fragments where the font changes
  (a fallback font for a character the font lacks) or, in a cell, the Unicode script does;
  memoised per text;
- a line ends where fpdf2's ends: at the first character whose width alone, added to the
  shaped width of the line before it, exceeds the room, guessed from the characters' widths
  and settled with the shaped widths fpdf2 uses (`shaped_text_width`, memoised); then at the
  last space before it, else at that character;
- each line is drawn as one text object inside q … Q with its colour and fonts, its fragments
  in fpdf2's visual order (right-to-left runs reversed on an Arabic page), each as TJ arrays
  that place the glyphs at HarfBuzz's advances and offsets, word spacing added after each
  space when justified (`ShapedFont.text_operators`, memoised while a document draws only its
  prepared glyphs). fpdf2's account of the page's font and colour is left as it was;
- a text's lines and operators are memoised whole, by all they depend on, while the document
  draws only its prepared glyphs (`LaidOutPDF._laid_out`): labels and sentences come back in
  every certificate, only the values are laid out anew.

Anything else (the total-pages alias, a glyph that moves the pen vertically or that fpdf2
leaves out with an advance, markdown, links, borders, character spacing) is drawn by fpdf2
itself, which is also the reference the tests compare these lines with
(tests/unit/test_pdf_layout.py: the words pdftotext reads and their boxes).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from fpdf.drawing_primitives import DeviceCMYK, DeviceGray, DeviceRGB, convert_to_device_color
from fpdf.enums import Align, PDFResourceType, TextDirection, TextMode, XPos, YPos
from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR, NBSP
from fpdf.table import draw_box_borders
from fpdf.unicode_script import UnicodeScript, get_unicode_script
from fpdf.util import FloatTolerance, Padding

from gateway.pdf.fonts import FallbackFontPDF, ShapedFont, bidi_segments

__all__ = ["LaidOutPDF"]

TOLERANCE: Final = 1e-9  # fpdf.util.FloatTolerance
SPACES: Final = frozenset(BREAKING_SPACE_SYMBOLS_STR)
_LINE_SPACES: Final = SPACES | {NBSP}  # what a line counts as its spaces (justified lines)
_SURE: Final = 1e-6  # a margin far above a sum's rounding (`_each_on_one_line`)
# bidi classes that make a text more than one left-to-right run (fpdf2's bidi algorithm)
NOT_LTR: Final = frozenset(
    ("R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI")
)
MOVES_X: Final = (XPos.RIGHT, XPos.LEFT, XPos.LMARGIN)  # where the certificate moves next
MOVES_Y: Final = (YPos.TOP, YPos.NEXT)
MAX_MEMO: Final = 20_000  # fragments memoised per document class (labels and usual values)
# laid-out texts memoised per renderer (~1 KB each): ~60 labels and sentences per language and
# ~20 values per certificate, so the labels are laid out again once in ~200 certificates
MAX_LAID_OUT: Final = 4_000


class _Unsupported(Exception):
    """This text is left to fpdf2."""


@dataclass(frozen=True)
class _Line:
    """One line: its fragments (text, font key, direction) in logical order, its shaped width,
    spaces, alignment and whether a newline ends it."""

    pieces: tuple[tuple[str, str, TextDirection], ...]
    width: float
    spaces: int
    align: Align
    trailing_nl: bool


# a fragment of a text: its start and end, font key and direction
_Fragment = tuple[int, int, str, TextDirection]
# text shaping parameters, by fragment direction and the page's direction, script, language
_PARAMS: dict[tuple[object, ...], dict[str, Any]] = {}
# each text's fragments, by text, font key, direction, style and fallback font keys
_FRAGMENTS: dict[tuple[object, ...], tuple[_Fragment, ...] | None] = {}


# scripts that never end a fragment: punctuation and digits (Common), unassigned characters,
# and combining marks (Inherited: they take their base letter's script, UAX #24)
SHARED: Final = frozenset((UnicodeScript.COMMON, UnicodeScript.UNKNOWN, UnicodeScript.INHERITED))


# each character's Unicode script (fpdf2's get_unicode_script: a walk through its table of
# ranges), memoised: the same few hundred characters come back in every certificate
_SCRIPTS: dict[str, UnicodeScript] = {}


def _script(char: str) -> UnicodeScript:
    if len(_SCRIPTS) >= MAX_MEMO:
        _SCRIPTS.clear()
    script = _SCRIPTS[char] = get_unicode_script(char)
    return script


# fpdf2's coercion of a cell's alignment and moves (CoerciveEnum.coerce), by the values given
_COERCED: dict[tuple[object, object, object], tuple[Align, XPos, YPos]] = {}


def _by_id(value: object) -> object:
    """A key for a str or an enum member (by id: a member lives as long as the process, and
    hashing one is a Python call)."""
    return value if type(value) is str else id(value)


def _coerced(align: str | Align, new_x: str | XPos, new_y: str | YPos) -> tuple[Align, XPos, YPos]:
    key = (_by_id(align), _by_id(new_x), _by_id(new_y))
    found = _COERCED.get(key)
    if found is None:
        found = (Align.coerce(align), XPos.coerce(new_x), YPos.coerce(new_y))
        if len(_COERCED) < MAX_MEMO:
            _COERCED[key] = found
    return found


_STRING_WIDTHS: dict[tuple[object, ...], float] = {}  # LaidOutPDF.get_string_width
# LaidOutPDF.set_font's arguments, by (family, style) given: (family, style, font key) as
# fpdf2's set_font makes them, for a family and a style of B and I only
_FONT_NAMES: dict[tuple[object, object], tuple[str, str, str]] = {}


def _font_names(family: object, style: str, aliases: Any) -> tuple[str, str, str] | None:
    """fpdf2's reading of set_font's family and style, when they are plain: a family named,
    not an alias of a core font nor Symbol or ZapfDingbats, a style of B and I only (no
    underline, strikethrough or letter it refuses)."""
    if not isinstance(family, str) or not family:
        return None
    lowered = family.lower()
    clean = "".join(sorted(style.upper()))
    if any(letter not in "BI" for letter in clean):
        return None
    if lowered in aliases or lowered in ("symbol", "zapfdingbats"):
        return None
    names = (lowered, clean, lowered + clean)
    if len(_FONT_NAMES) < MAX_MEMO:
        _FONT_NAMES[family, style] = names
    return names


# fpdf2's Padding.new by the value given (the certificate gives a few), and whether an
# option's text (fpdf2 coerces a str or an enum member) ends with a word
_PADDINGS: dict[object, Padding] = {}
_ENDINGS: dict[tuple[object, str], bool] = {}


def _padding(padding: Any) -> Padding:
    key = padding if type(padding) in (int, float, tuple) else None
    found = _PADDINGS.get(key) if key is not None else None
    if found is None:
        found = Padding.new(padding)
        if key is not None and len(_PADDINGS) < MAX_MEMO:
            _PADDINGS[key] = found
    return found


def _ends_with(option: Any, word: str) -> bool:
    key = (_by_id(option), word)
    found = _ENDINGS.get(key)
    if found is None:
        found = str(option).upper().endswith(word)
        if (type(option) is str or isinstance(option, Enum)) and len(_ENDINGS) < MAX_MEMO:
            _ENDINGS[key] = found
    return found


_Colour = DeviceGray | DeviceRGB | DeviceCMYK
# fpdf2's colours (convert_to_device_color) by the numbers given, and their fill and stroke
# operators (serialize().lower() and .upper()) by colour: the certificate has a few colours
_COLOURS: dict[tuple[object, ...], _Colour] = {}
_FILL: dict[_Colour, str] = {}
_STROKE: dict[_Colour, str] = {}


def _colour(r: Any, g: Any, b: Any) -> _Colour:
    if not all(type(value) in (int, float) for value in (r, g, b)):
        return convert_to_device_color(r, g, b)
    key = (r, g, b)
    found = _COLOURS.get(key)
    if found is None:
        found = convert_to_device_color(r, g, b)
        if len(_COLOURS) < MAX_MEMO:
            _COLOURS[key] = found
    return found


def _fill_operator(colour: _Colour) -> str:
    found = _FILL.get(colour)
    if found is None:
        found = colour.serialize().lower()
        if len(_FILL) < MAX_MEMO:
            _FILL[colour] = found
    return found


def _stroke_operator(colour: _Colour) -> str:
    found = _STROKE.get(colour)
    if found is None:
        found = colour.serialize().upper()
        if len(_STROKE) < MAX_MEMO:
            _STROKE[colour] = found
    return found


# by a font's cmap (id()): the characters of a text that is one fragment (_plain_latin)
_PLAIN_LATIN: dict[int, tuple[object, frozenset[str]]] = {}
# where they are looked for: ASCII, Latin-1 and Latin Extended-A (accented letters, «», °, the
# no-break space), and the general punctuation (dashes, quotes, …, ‰) and the euro sign
_LATIN_CODES: Final = (
    *range(0x20, 0x7F), *range(0xA0, 0x180), *range(0x2010, 0x2028), *range(0x2030, 0x205F),
    0x20AC,
)  # fmt: skip


def _plain_latin(cmap: Any) -> frozenset[str]:
    """The characters of which a text is one fragment of the font with this cmap when laid
    out left to right (`LaidOutPDF._cut`): those of _LATIN_CODES the font has whose script is
    Latin or Common (so no cut: `_parse`) and whose bidi class is none of NOT_LTR (so one run),
    but the carriage return and the soft hyphen (which fpdf2 lays out itself); and the newline,
    never given a fallback font (`_parse`)."""
    found = _PLAIN_LATIN.get(id(cmap))
    if found is None or found[0] is not cmap:
        chars = (chr(code) for code in _LATIN_CODES if code in cmap)
        plain = (
            char
            for char in chars
            if get_unicode_script(char) in (UnicodeScript.LATIN, UnicodeScript.COMMON)
            and unicodedata.bidirectional(char) not in NOT_LTR
            and char not in "\r\u00ad"
        )
        found = _PLAIN_LATIN[id(cmap)] = (cmap, frozenset((*plain, "\n")))
    return found[1]


def _first_over(
    own: Sequence[float],
    start: int,
    end: int,
    room: float,
    over: Callable[[int, int], bool],
    widening: float = math.inf,
) -> int | None:
    """The first index in [start, end) whose character no longer fits on the line.

    Guessed from the characters' own widths, then settled with the shaped widths of the line
    (`over`, fpdf2's test; they differ by kerning and ligatures only). When the characters'
    widths leave room for `widening` (what shaping may add per pair, at most) on every pair
    before the last, the rest fits: fpdf2's test is not made."""
    total = 0.0
    guess = end
    for i in range(start, end):
        if total + own[i] - room > TOLERANCE:
            guess = i
            break
        total += own[i]
    if guess == end and total + max(0, end - start - 2) * widening - room <= TOLERANCE:
        return None  # its last test, over(start, end - 1), would have found it fits
    i = guess
    while i > start and over(start, i - 1):
        i -= 1
    while i < end and not over(start, i):
        i += 1
    return None if i >= end else i


def _visual_order(
    pieces: Sequence[tuple[str, str, TextDirection]], shaping: dict[str, Any] | None
) -> list[tuple[str, str, TextDirection]]:
    runs: list[list[tuple[str, str, TextDirection]]] = []
    for piece in pieces:
        if runs and runs[-1][0][2] == piece[2]:
            runs[-1].append(piece)
        else:
            runs.append([piece])
    if (shaping or {}).get("direction") == TextDirection.RTL:
        runs.reverse()
    return [p for run in runs for p in (run[::-1] if run[0][2] == TextDirection.RTL else run)]


class LaidOutPDF(FallbackFontPDF):
    """The certificate's FPDF: its cells and multi-cells laid out here, as fpdf2 lays them out
    (anything this module does not lay out goes to fpdf2's own methods)."""

    def set_text_color(self, r: Any, g: Any = -1, b: Any = -1) -> None:
        """fpdf2's, the colour made once for each (r, g, b) given (`_colour`)."""
        self.text_color = _colour(r, g, b)

    def set_fill_color(self, r: Any, g: Any = -1, b: Any = -1) -> None:
        """fpdf2's, the colour and its operator made once for each (r, g, b) given."""
        fill_color = _colour(r, g, b)
        if fill_color != self.fill_color:
            self.fill_color = fill_color
            if self.page > 0:
                self._out(_fill_operator(fill_color))

    def set_draw_color(self, r: Any, g: Any = -1, b: Any = -1) -> None:
        """fpdf2's, the colour and its operator made once for each (r, g, b) given."""
        draw_color = _colour(r, g, b)
        if draw_color != self.draw_color:
            self.draw_color = draw_color
            if self.page > 0:
                self._out(_stroke_operator(draw_color))

    def set_font(self, family: str | None = None, style: Any = "", size: float = 0) -> None:
        """fpdf2's, its arguments read once per (family, style) given (`_font_names`): the
        certificate sets a font some fifty times. Anything else goes to fpdf2's."""
        if type(style) is not str or not size:
            super().set_font(family, style, size)
            return
        names = _FONT_NAMES.get((family, style))
        if names is None:
            names = _font_names(family, style, self.font_aliases)
        if names is None:
            super().set_font(family, style, size)
            return
        family, style, fontkey = names
        if self.underline:
            self.underline = False
        if self.strikethrough:
            self.strikethrough = False
        current = self.current_font
        if (
            self.font_family == family
            and self.font_style == style
            and FloatTolerance.equal(self.font_size_pt, size)
            and (current is None or current.fontkey == fontkey)
        ):
            return
        font = self.fonts.get(fontkey)
        if font is None:  # a core font, or none: fpdf2 adds it or says why not
            super().set_font(family, style, size)
            return
        self.font_family = family
        self.font_style = style
        self.font_size_pt = size
        self.current_font = font
        self.current_font_is_set_on_page = False

    def get_string_width(self, s: str, normalized: bool = False, markdown: bool = False) -> float:
        """fpdf2's, remembered by all it depends on: the text, the font and its size, the
        fallback fonts, the shaping, spacing and stretching (a label's width, in every
        certificate: fpdf2 cuts the text into fragments each time)."""
        key = (s, normalized, markdown, self.char_spacing, self.font_stretching, *self._state())
        found = _STRING_WIDTHS.get(key)
        if found is None:
            found = float(super().get_string_width(s, normalized, markdown))
            if len(_STRING_WIDTHS) >= MAX_MEMO:
                _STRING_WIDTHS.clear()
            _STRING_WIDTHS[key] = found
        return found

    def cell(
        self,
        w: float | None = None,
        h: float | None = None,
        text: str = "",
        border: Any = 0,
        ln: Any = "DEPRECATED",
        align: str | Align = Align.L,
        fill: bool = False,
        link: Any = "",
        center: bool = False,
        markdown: bool = False,
        new_x: str | XPos = XPos.RIGHT,
        new_y: str | YPos = YPos.TOP,
    ) -> bool:
        align, new_x, new_y = _coerced(align, new_x, new_y)
        plain = (
            not border
            and ln == "DEPRECATED"
            and not link
            and not center
            and not markdown
            and align in (Align.L, Align.R, Align.C)
            and new_x in MOVES_X
            and new_y in MOVES_Y
        )
        try:
            if w is None or h is None or not plain:
                raise _Unsupported
            if text:
                (line,), (drawn,) = self._laid_out(text, None, align, (), by_script=True)
            else:  # a fill or just a move
                line, drawn = _Line((), 0.0, 0, align, trailing_nl=False), ""
        except _Unsupported:
            return super().cell(
                w, h, text, border, ln, align, fill, link, center, markdown, new_x, new_y
            )
        return self._put_line(
            line, drawn, w=w, h=h, fill=fill, margins=(self.c_margin, self.c_margin),
            new_x=new_x, new_y=new_y,
        )  # fmt: skip

    def multi_cell(
        self,
        w: float,
        h: float | None = None,
        text: str = "",
        border: Any = 0,
        align: str | Align = Align.J,
        fill: bool = False,
        split_only: bool = False,
        link: Any = None,
        ln: Any = "DEPRECATED",
        max_line_height: float | None = None,
        markdown: bool = False,
        print_sh: bool = False,
        new_x: str | XPos = XPos.RIGHT,
        new_y: str | YPos = YPos.NEXT,
        wrapmode: Any = "WORD",
        dry_run: bool = False,
        output: Any = "PAGE_BREAK",
        center: bool = False,
        padding: Any = 0,
    ) -> Any:
        align, new_x, new_y = _coerced(align, new_x, new_y)
        pad = _padding(padding)
        plain = (
            w > 0
            and not border
            and not split_only
            and not link
            and ln == "DEPRECATED"
            and max_line_height is None
            and not markdown
            and not print_sh
            and _ends_with(wrapmode, "WORD")
            and not center
            and align in (Align.L, Align.R, Align.C, Align.J)
            and new_x in MOVES_X
            and new_y in MOVES_Y
            and (not dry_run or _ends_with(output, "LINES"))
            and (dry_run or _ends_with(output, "PAGE_BREAK"))
        )
        try:
            if h is None or not plain or not text:
                raise _Unsupported
            width = w - pad.right - pad.left
            room = width - self.c_margin * ((not pad.left) + (not pad.right))
            if dry_run:
                measured = self._lines(text, room, align)
                return ["".join(piece for piece, *_ in line.pieces) for line in measured]
            lines, drawn = self._laid_out(text, room, align, (width, pad.left, pad.right))
        except _Unsupported:
            return super().multi_cell(
                w, h, text, border, align, fill, split_only, link, ln, max_line_height,
                markdown, print_sh, new_x, new_y, wrapmode, dry_run, output, center, padding,
            )  # fmt: skip
        return self._put_lines(lines, drawn, width, h, fill, pad, new_x, new_y)

    # laying out ------------------------------------------------------------------------

    def _laid_out(
        self,
        text: str,
        room: float | None,
        align: Align,
        box: tuple[float, ...],
        *,
        by_script: bool = False,
    ) -> tuple[tuple[_Line, ...], tuple[str, ...]]:
        """The lines of `text` in `room` mm (None: one line, a cell's) and their operators,
        justified in a box of `box` (width, left and right padding).

        A text that surely fits on one line is laid out at once (`_each_on_one_line`),
        never memoised: most are a letter's own values (an address, a hash, a URL), not seen
        again, and a memo of them cost more than it saved (its entries walked by the garbage
        collector, the memo emptied every few hundred certificates). Any other text is
        memoised while every font of the document has drawn only the glyphs it started
        with (a prepared set: the same codes in every document starting with it), by all
        they depend on: labels and sentences come back in every certificate. The memo is
        the fonts' (`ShapedFont.layouts`): it lives and dies with their glyph sets."""
        made = self._each_on_one_line(text, room, align)
        if made is not None:
            return made
        fonts = self._shaped_fonts()
        # all the fragments (`_fragments`), lines and operators depend on
        key = (text, room, id(align), box, by_script, self.c_margin, *self._state())
        memo = fonts[0].layouts if fonts else {}
        found = memo.get(key)
        if found is not None:
            self._check_plain(text)
            lines, drawn, used = found
            for font_id in used:
                self._resource_catalog.add(PDFResourceType.FONT, font_id, self.page)
            return lines, drawn
        if room is None:
            fragments = self._fragments(text, by_script=by_script)
            lines = (self._line(text, fragments, 0, len(text), align, trailing_nl=False),)
            drawn = (self._drawn(lines[0], word_spacing=0.0),)
        else:
            fragments = self._fragments(text, by_script=by_script)
            width, left, right = box
            pad = Padding(left=left, right=right)
            lines = tuple(self._lines(text, room, align))
            drawn = tuple(self._drawn(line, self._word_spacing(line, width, pad)) for line in lines)
        if all(font.stable() for font in fonts):
            if len(memo) >= MAX_LAID_OUT:
                memo.clear()
            ids = {self.fonts[piece[1]].i for line in lines for piece in line.pieces}
            memo[key] = (lines, drawn, tuple(sorted(ids)))
        return lines, drawn

    def _each_on_one_line(
        self, text: str, room: float | None, align: Align
    ) -> tuple[tuple[_Line, ...], tuple[str, ...]] | None:
        """`_laid_out`'s lines and operators, made without its general steps, for the values
        most certificates draw (a reference, an address, a hash, a URL): a text of the
        current font alone, left to right (one fragment: `_cut`), each of its paragraphs
        fitting on one line by a wide margin — the widest of its characters times their
        number, and what shaping may add (`_first_over`'s sure case), leave room to spare.
        None for any other text: laid out the general way (the same lines when this fits)."""
        shaping = self.text_shaping
        font = self.current_font
        if not shaping or shaping.get("direction") != TextDirection.LTR or font is None:
            return None
        self._check_plain(text)  # as `_fragments` does first
        chars = set(text)
        if not isinstance(font, ShapedFont) or not chars <= _plain_latin(font.cmap):
            return None
        size, k = self.font_size_pt, self.k
        params = self._params(TextDirection.LTR)
        if room is None:
            if "\n" in text:
                return None
            paragraphs = [text]
            last = align
        else:
            paragraphs = text.split("\n")
            if not all(paragraphs):
                return None  # an empty paragraph, a trailing newline
            table = font.char_widths(size, params)
            widest = 0.0
            for char in chars:
                if char != "\n":
                    width = table.get(char)
                    if width is None:  # as `_lines` measures it
                        width = table[char] = font.get_text_width(char, size, params)[1]
                    widest = max(widest, width / k)
            widening = max(0.0, font.widening(text.replace("\n", ""), size, params) / k)
            if not math.isfinite(widening):
                return None  # not composed: how it is shaped is not bounded (`_first_over`)
            for paragraph in paragraphs:
                count = len(paragraph)
                if count * widest * (1 + _SURE) + max(0, count - 2) * widening >= room - _SURE:
                    return None  # it may not fit: fpdf2's test decides (`_lines`)
            last = Align.L if align == Align.J else align  # every line ends its paragraph
        key = str(font.fontkey)
        spacing = chars & _LINE_SPACES
        lines = []
        drawn: list[str | None] = []
        for index, paragraph in enumerate(paragraphs):
            piece = paragraph.replace(NBSP, " ")
            # its width and operators in one walk, as `_drawn` would write a line of one piece
            both = font.one_line(piece, size, params)
            if both is None:
                width = font.get_text_width(piece, size, params)[1] / k
                drawn.append(None)
            else:
                width = both[0] / k
                drawn.append(f"/F{font.i} {size:.2f} Tf {both[1]}")
                self._resource_catalog.add(PDFResourceType.FONT, font.i, self.page)
            spaces = sum(paragraph.count(char) for char in spacing) if spacing else 0
            ends = index < len(paragraphs) - 1
            lines.append(_Line(((piece, key, TextDirection.LTR),), width, spaces, last, ends))
        return tuple(lines), tuple(
            self._drawn(line, word_spacing=0.0) if made is None else made
            for line, made in zip(lines, drawn, strict=True)
        )

    def _shaped_fonts(self) -> tuple[ShapedFont, ...]:
        """The document's fonts (fixed once it draws: gateway.pdf.render.new_document)."""
        fonts = self.__dict__.get("_shaped")
        if fonts is None:
            fonts = tuple(font for font in self.fonts.values() if isinstance(font, ShapedFont))
            self.__dict__["_shaped"] = fonts
        return fonts

    def _state(self) -> tuple[object, ...]:
        """What laying out or measuring a text depends on besides the text and its box: the
        font, style and size, the fallback fonts, the shaping (the direction, an enum member,
        by id: it lives as long as the process, and hashing one is a Python call) and the
        glyph sets the document's fonts started with."""
        shaping = self.text_shaping or {}
        font = self.current_font
        features = shaping.get("features")
        return (
            font.fontkey if font is not None else None, self.font_style, self.font_size_pt,
            tuple(self._fallback_font_ids), id(shaping.get("direction")), shaping.get("script"),
            shaping.get("language"), tuple(sorted(features.items())) if features else (),
            self._bases(),
        )  # fmt: skip

    def _bases(self) -> tuple[int, ...]:
        """The glyph sets the document's fonts started with (fixed, as its fonts are)."""
        bases = self.__dict__.get("_bases_made")
        if bases is None:
            bases = self.__dict__["_bases_made"] = tuple(f.base for f in self._shaped_fonts())
        return bases

    def _check_plain(self, text: str) -> None:
        """_Unsupported unless `text` is laid out here in this state: shaped by HarfBuzz in
        one direction, in a TrueType font, with none of what only fpdf2 draws."""
        shaping = self.text_shaping
        if (
            not shaping
            or shaping.get("direction") not in (TextDirection.LTR, TextDirection.RTL)
            or self.current_font is None
            or not self.is_ttf_font
            or self.char_spacing
            or self.font_stretching != 100
            or self.underline
            or self.strikethrough
            or self.text_mode != TextMode.FILL
            or (self.str_alias_nb_pages and self.str_alias_nb_pages in text)
        ):
            raise _Unsupported

    def _fragments(self, text: str, *, by_script: bool = False) -> tuple[_Fragment, ...]:
        """fpdf2's fragments of a plain text (FPDF._preload_bidirectional_text)."""
        self._check_plain(text)
        shaping = self.text_shaping
        font = self.current_font
        assert shaping is not None  # noqa: S101 - _check_plain
        assert font is not None  # noqa: S101
        direction = shaping["direction"]
        fallbacks = tuple(self._fallback_font_ids)
        key = (text, font.fontkey, direction, self.font_style, fallbacks, by_script)
        found = _FRAGMENTS.get(key, ())
        if found == ():
            if len(_FRAGMENTS) >= MAX_MEMO:
                _FRAGMENTS.clear()
            found = _FRAGMENTS[key] = self._cut(text, direction, by_script=by_script)
        if found is None:
            raise _Unsupported
        return found

    def _cut(
        self, text: str, direction: TextDirection, *, by_script: bool
    ) -> tuple[_Fragment, ...] | None:
        """The text's runs in one direction (fpdf2's bidi algorithm, `bidi_segments`), each
        cut into fpdf2's fragments (`_parse`). A line of a multi-cell joins adjacent ones of
        the same font and direction (fpdf.line_break.CurrentLine), whatever their script;
        a cell keeps them apart (`by_script`), each shaped alone. A combining mark (script
        Inherited, UAX #24: an Arabic vowel sign, a shadda) belongs to the letter before it;
        fpdf2 (2.8.9) cuts a cell there, and the letters around the mark came out unjoined
        (استُلم drawn است‌لم): here it stays in its letter's fragment."""
        own = self.current_font
        assert own is not None  # noqa: S101 - checked by _fragments
        cmap = own.cmap  # type: ignore[union-attr]
        if text and direction == TextDirection.LTR and set(text) <= _plain_latin(cmap):
            # one left-to-right run, no fallback font, no script but Latin: one fragment
            return ((0, len(text), str(own.fontkey), direction),)
        if any(char in "\r\u00ad" for char in text):
            return None
        if direction == TextDirection.LTR and not any(
            unicodedata.bidirectional(char) in NOT_LTR for char in text
        ):
            segments: Sequence[tuple[str, Any]] = ((text, TextDirection.LTR),)
        else:
            segments = bidi_segments(text, direction, self.str_alias_nb_pages)
        cut: list[_Fragment] = []
        at = 0
        for segment, segment_direction in segments:
            cut += self._parse(segment, at, segment_direction, str(own.fontkey), cmap)
            at += len(segment)
        if at != len(text):
            return None  # the bidi algorithm dropped or added characters
        if by_script:
            return tuple(cut)
        joined: list[_Fragment] = []
        for fragment in cut:
            if joined and joined[-1][2:] == fragment[2:] and joined[-1][1] == fragment[0]:
                joined[-1] = (joined[-1][0], fragment[1], *fragment[2:])
            else:
                joined.append(fragment)
        return tuple(joined)

    def _parse(
        self, text: str, at: int, direction: TextDirection, own: str, cmap: Any
    ) -> list[_Fragment]:
        """FPDF._parse_chars without markdown: a fragment ends where the font changes (a
        fallback font for a character the font lacks) or the Unicode script does."""
        cut: list[_Fragment] = []
        start, fallback, script = 0, "", None

        def flush(end: int) -> None:  # fpdf2's frag()
            nonlocal start, fallback, script
            cut.append((at + start, at + end, fallback or own, direction))
            start = end
            if fallback:
                fallback, script = "", None

        scripts = _SCRIPTS
        for i, char in enumerate(text):
            char_script = scripts.get(char)
            if char_script is None:
                char_script = _script(char)
            if char_script not in SHARED and char_script != script:
                if i > start and script:
                    flush(i)
                script = char_script
            other = None
            if char != "\n" and ord(char) not in cmap:
                # None: no font has it (bidi isolates, say), left in this one as fpdf2 does
                other = self.get_fallback_font(char, self.font_style)
            if other:
                if other == fallback:
                    continue
                if i > start:
                    flush(i)
                fallback = other
                continue
            if fallback:
                if i > start:
                    flush(i)
                fallback = ""
        if len(text) > start:
            flush(len(text))
        return cut

    def _params(self, direction: TextDirection) -> dict[str, Any]:
        """fpdf2's text shaping parameters of a fragment in `direction` (made once each)."""
        shaping = self.text_shaping or {}
        key = (direction, shaping.get("direction"), shaping.get("script"), shaping.get("language"))
        params = _PARAMS.get(key)
        if params is None or params.get("features") != shaping.get("features"):
            params = _PARAMS[key] = {
                **shaping,
                "fragment_direction": direction,
                "paragraph_direction": shaping.get("direction"),
            }
        return params

    def _lines(self, text: str, room: float, align: Align) -> list[_Line]:
        """fpdf2's lines of `text` in `room` mm (fpdf.line_break.MultiLineBreak, word wrap)."""
        fragments = self._fragments(text)
        size, k = self.font_size_pt, self.k
        params = {d: self._params(d) for d in (TextDirection.LTR, TextDirection.RTL)}
        widths: dict[tuple[str, str, TextDirection], float] = {}

        def measure(piece: str, key: str, direction: TextDirection) -> float:
            width = widths.get((piece, key, direction))
            if width is None:
                font = self.fonts[key]
                width = font.get_text_width(piece, size, params[direction])[1] / k
                widths[piece, key, direction] = width
            return width

        own: list[float] = []  # each character's width alone, as fpdf2 measures it
        # and what shaping adds at most per pair, in mm (infinite: unknown for a fragment;
        # the lines measured hold no line feed)
        widening = 0.0
        for a, b, key, direction in fragments:
            font = self.fonts[key]
            if not isinstance(font, ShapedFont):
                raise _Unsupported
            piece = text[a:b].replace("\n", "")
            widening = max(widening, font.widening(piece, size, params[direction]) / k)
            table = font.char_widths(size, params[direction])
            for char in text[a:b]:
                width = table.get(char)
                if width is None:
                    width = table[char] = font.get_text_width(char, size, params[direction])[1]
                own.append(width / k)

        line_text = text.replace(NBSP, " ")

        def width_of(start: int, end: int) -> float:
            return sum(
                measure(line_text[max(start, a) : min(end, b)], key, direction)
                for a, b, key, direction in fragments
                if a < end and b > start
            )

        def over(start: int, i: int) -> bool:
            return width_of(start, i) + own[i] - room > TOLERANCE

        lines: list[_Line] = []
        last = Align.L if align == Align.J else align  # a paragraph's last line
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            if end == start:
                raise _Unsupported  # an empty line (two newlines in a row): fpdf2 lays it out
            i = _first_over(own, start, end, room, over, widening)
            if i is None:  # the rest of the paragraph fits
                nl = end < len(text)
                lines.append(self._line(text, fragments, start, end, last, trailing_nl=nl))
                start = end + 1
                if nl and start == len(text):
                    raise _Unsupported  # a trailing newline: fpdf2 adds a line feed
                continue
            if text[i] in SPACES:
                lines.append(self._line(text, fragments, start, i, align, trailing_nl=False))
                start = i + 1
                continue
            space = max((j for j in range(start, i) if text[j] in SPACES), default=-1)
            if space >= 0:
                lines.append(self._line(text, fragments, start, space, align, trailing_nl=False))
                start = space + 1
                continue
            if i == start:
                raise _Unsupported  # not even one character fits: fpdf2 raises
            lines.append(self._line(text, fragments, start, i, last, trailing_nl=False))
            start = i
        return lines

    def _line(
        self,
        text: str,
        fragments: Sequence[_Fragment],
        start: int,
        end: int,
        align: Align,
        *,
        trailing_nl: bool,
    ) -> _Line:
        size, k = self.font_size_pt, self.k
        pieces = []
        width = 0.0
        for a, b, key, direction in fragments:
            if a < end and b > start:
                piece = text[max(start, a) : min(end, b)].replace(NBSP, " ")
                pieces.append((piece, key, direction))
                params = self._params(direction)
                width += self.fonts[key].get_text_width(piece, size, params)[1] / k
        spaces = sum(1 for c in text[start:end] if c in _LINE_SPACES)
        return _Line(tuple(pieces), width, spaces, align, trailing_nl)

    def _word_spacing(self, line: _Line, width: float, pad: Padding) -> float:
        if line.align != Align.J or not line.spaces:
            return 0.0
        margins = (0 if pad.left else self.c_margin) + (0 if pad.right else self.c_margin)
        return (width - margins - line.width) / line.spaces

    # drawing ---------------------------------------------------------------------------

    def _drawn(self, line: _Line, word_spacing: float) -> str:
        """The line's text operators after its Td: fonts, TJ arrays (no position yet), the
        fragments in the order they are seen (fpdf.line_break.TextLine.get_ordered_fragments:
        on a right-to-left page the runs of one direction right to left, and in a
        right-to-left run its fragments)."""
        size = self.font_size_pt
        gap = (word_spacing * self.k) * 1000 / size
        out = []
        offset = 0.0  # from the line matrix's origin to the pen, in points
        for piece, key, direction in _visual_order(line.pieces, self.text_shaping):
            font = self.fonts[key]
            if not isinstance(font, ShapedFont) or not piece:
                raise _Unsupported  # another font; an empty line (a break at a space)
            made = font.text_operators(piece, size, self._params(direction), gap)
            if made is None:
                raise _Unsupported  # a glyph moving the pen up or down: fpdf2 follows it
            operators, advance, moved = made
            out.append(f"/F{font.i} {size:.2f} Tf")
            if moved and abs(offset) > 0.0005:
                out.append(f"{offset:.3f} 0 Td")  # their line matrix starts at the pen
            out.append(operators)
            offset = 0.0 if moved else offset + advance * size / 1000
            self._resource_catalog.add(PDFResourceType.FONT, font.i, self.page)
        return " ".join(out)

    def _put_line(
        self,
        line: _Line,
        drawn: str,
        *,
        w: float,
        h: float,
        fill: bool,
        margins: tuple[float, float],
        new_x: XPos,
        new_y: YPos,
    ) -> bool:
        """fpdf2's FPDF._render_styled_text_line for one plain line, at the current position."""
        broke = self._perform_page_break_if_need_be(h)
        k, left_margin = self.k, margins[0]
        parts = ["q"]
        if fill:
            x0, y0 = self.x * k, (self.h - self.y) * k
            parts.append(f"{x0:.2f} {y0:.2f} {w * k:.2f} {-h * k:.2f} re f")
        if line.align == Align.R:
            dx = w - left_margin - line.width
        elif line.align == Align.C:
            dx = (w - line.width) / 2
        else:
            dx = left_margin
        if drawn:
            color = _fill_operator(self.text_color) if self.text_color else "0 g"
            baseline = (self.h - self.y - 0.5 * h - 0.3 * self.font_size) * k
            parts.append(f"{color} BT {(self.x + dx) * k:.2f} {baseline:.2f} Td {drawn} ET")
        if len(parts) > 1:
            self._out(" ".join([*parts, "Q"]))
        self._lasth = h
        if new_x == XPos.RIGHT:
            self.x += w
        elif new_x == XPos.LMARGIN:
            self.x = self.l_margin
        elif new_x != XPos.LEFT:
            raise ValueError(f"new_x={new_x} is not laid out here")  # MOVES_X
        if new_y == YPos.NEXT:
            self.y += h
        elif new_y != YPos.TOP:
            raise ValueError(f"new_y={new_y} is not laid out here")  # MOVES_Y
        return broke

    def _put_lines(
        self,
        lines: Sequence[_Line],
        drawn: Sequence[str],
        width: float,
        h: float,
        fill: bool,
        pad: Padding,
        new_x: XPos,
        new_y: YPos,
    ) -> bool:
        """fpdf2's FPDF.multi_cell after line breaking: page breaks, the box, each line."""
        prev_y = self.y
        self.x += pad.left
        self.y += pad.top
        broke = False
        margins = (0.0 if pad.left else self.c_margin, 0.0 if pad.right else self.c_margin)
        for index, (line, ops) in enumerate(zip(lines, drawn, strict=True)):
            new_page = self._perform_page_break_if_need_be(h + pad.bottom)
            if new_page:
                broke = True
                self.y += pad.top
            if fill and (index == 0 or new_page):
                bottom_gap = pad.bottom + self.b_margin
                fits = int((self.h - self.y - bottom_gap) // h)
                count = min(fits, len(lines) - index)
                box = max(h - index * h, count * h)
                draw_box_borders(
                    self,
                    self.x - pad.left,
                    self.y - pad.top,
                    self.x + width + pad.right,
                    self.y + box + pad.bottom,
                    0,
                    self.fill_color,
                )
            last = index == len(lines) - 1
            self._put_line(
                line, ops, w=width, h=h, fill=False, margins=margins,
                new_x=new_x if last else XPos.LEFT, new_y=new_y if last else YPos.NEXT,
            )  # fmt: skip
        if broke and new_y == YPos.TOP:
            prev_y = self.y
        if new_y == YPos.TOP:
            self.y = prev_y
        elif new_y == YPos.NEXT:
            self.y += pad.bottom
        if new_x == XPos.RIGHT:
            self.x += pad.right
        elif new_x == XPos.LEFT:
            self.x -= pad.left
        return broke
