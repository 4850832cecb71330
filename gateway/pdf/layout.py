"""Left-to-right text laid out and drawn without fpdf2's per-character line breaking.

fpdf2 (2.8.9) lays out a `cell` or `multi_cell` one character at a time: for each character it
measures the width of the whole line so far (HarfBuzz shapes every prefix), and it draws each
glyph through several layers of Python objects. That was most of a certificate's cost.
`LaidOutPDF` gives the same lines at the same places for the certificate's plain texts:

- the text is cut into fpdf2's fragments (a fallback font for a character the font lacks, a
  new fragment where the Unicode script changes), memoised per text;
- a line ends where fpdf2's ends: at the first character whose width, added to the shaped
  width of the line before it, exceeds the room, found from per-character widths and then
  checked with the exact shaped widths fpdf2 uses (`_Font.shaped_text_width`, memoised); then
  at the last space, else at that character;
- each line is drawn as one text object: the glyphs of each fragment in one TJ array, placed
  at HarfBuzz's advances (fpdf2 moves the text matrix where they differ from the glyph's width),
  word spacing added after each space when justified, inside q … Q with its colour and font
  (fpdf2's account of the page's font and colour is left as it was).

Anything else (right-to-left or bidi text, the total-pages alias, a glyph placed off its
baseline, markdown, links, borders, character spacing) is drawn by fpdf2 itself, which is
also the reference the tests compare these lines with (tests/unit/test_pdf_layout.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from fpdf.enums import Align, PDFResourceType, TextDirection, TextMode, XPos, YPos
from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR, NBSP
from fpdf.table import draw_box_borders
from fpdf.unicode_script import UnicodeScript, get_unicode_script
from fpdf.util import Padding

from gateway.pdf.fonts import FallbackFontPDF, ShapedFont

__all__ = ["LaidOutPDF"]

TOLERANCE: Final = 1e-9  # fpdf.util.FloatTolerance
SPACES: Final = frozenset(BREAKING_SPACE_SYMBOLS_STR)
# bidi classes that make a text more than one left-to-right run (fpdf2's bidi algorithm)
NOT_LTR: Final = frozenset(
    ("R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI")
)
MAX_MEMO: Final = 20_000  # fragments memoised per document class (labels and usual values)
NEUTRAL_SCRIPTS: Final = (UnicodeScript.COMMON, UnicodeScript.UNKNOWN)


class _Unsupported(Exception):
    """This text is left to fpdf2."""


@dataclass(frozen=True)
class _Line:
    """One line: its fragments (text, font key), shaped width, spaces, alignment, newline."""

    pieces: tuple[tuple[str, str], ...]
    width: float
    spaces: int
    align: Align
    trailing_nl: bool


# (start, end, font key) of each fragment of a text, by (text, font key, fallback font keys)
_FRAGMENTS: dict[tuple[str, str, tuple[str, ...]], tuple[tuple[int, int, str], ...] | None] = {}


class LaidOutPDF(FallbackFontPDF):
    """The certificate's FPDF: plain left-to-right cells and multi-cells laid out here."""

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
        align = Align.coerce(align)
        plain = (
            not border
            and ln == "DEPRECATED"
            and not link
            and not center
            and not markdown
            and align in (Align.L, Align.R, Align.C)
        )
        try:
            if w is None or h is None or not plain or not text:
                raise _Unsupported
            fragments = self._fragments(text)
            line = self._line(text, fragments, 0, len(text), align, trailing_nl=False)
            drawn = self._drawn(line, word_spacing=0.0)
        except _Unsupported:
            return super().cell(
                w, h, text, border, ln, align, fill, link, center, markdown, new_x, new_y
            )
        return self._put_line(
            line, drawn, w=w, h=h, fill=fill, margins=(self.c_margin, self.c_margin),
            new_x=XPos.coerce(new_x), new_y=YPos.coerce(new_y),
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
        align = Align.coerce(align)
        pad = Padding.new(padding)
        plain = (
            w > 0
            and not border
            and not split_only
            and not link
            and ln == "DEPRECATED"
            and max_line_height is None
            and not markdown
            and not print_sh
            and str(wrapmode).upper().endswith("WORD")
            and not center
            and align in (Align.L, Align.R, Align.C, Align.J)
            and (not dry_run or str(output).upper().endswith("LINES"))
            and (dry_run or str(output).upper().endswith("PAGE_BREAK"))
        )
        try:
            if h is None or not plain or not text:
                raise _Unsupported
            width = w - pad.right - pad.left
            room = width - self.c_margin * ((not pad.left) + (not pad.right))
            lines = self._lines(text, room, align)
            if dry_run:
                return ["".join(piece for piece, _ in line.pieces) for line in lines]
            drawn = [self._drawn(line, self._word_spacing(line, width, pad)) for line in lines]
        except _Unsupported:
            return super().multi_cell(
                w, h, text, border, align, fill, split_only, link, ln, max_line_height,
                markdown, print_sh, new_x, new_y, wrapmode, dry_run, output, center, padding,
            )  # fmt: skip
        return self._put_lines(
            lines, drawn, width, h, fill, pad, XPos.coerce(new_x), YPos.coerce(new_y)
        )

    # laying out ------------------------------------------------------------------------

    def _fragments(self, text: str) -> tuple[tuple[int, int, str], ...]:
        """fpdf2's fragments of a plain text (FPDF._parse_chars), as (start, end, font key)."""
        shaping = self.text_shaping
        font = self.current_font
        if (
            not shaping
            or shaping.get("direction") not in (None, TextDirection.LTR)
            or font is None
            or not self.is_ttf_font
            or self.char_spacing
            or self.font_stretching != 100
            or self.underline
            or self.strikethrough
            or self.text_mode != TextMode.FILL
            or (self.str_alias_nb_pages and self.str_alias_nb_pages in text)
        ):
            raise _Unsupported
        key = (text, font.fontkey, tuple(self._fallback_font_ids))
        found = _FRAGMENTS.get(key, ())
        if found == ():
            if len(_FRAGMENTS) >= MAX_MEMO:
                _FRAGMENTS.clear()
            found = _FRAGMENTS[key] = self._cut(text)
        if found is None:
            raise _Unsupported
        return found

    def _cut(self, text: str) -> tuple[tuple[int, int, str], ...] | None:
        """FPDF._parse_chars without markdown, then its fragments of one font joined, as a
        line joins them (fpdf.line_break.CurrentLine: same graphics state, one fragment)."""
        own = self.current_font
        assert own is not None  # noqa: S101 - checked by _fragments
        cmap = own.cmap  # type: ignore[union-attr]
        cut: list[tuple[int, int, str]] = []
        start, fallback, script = 0, "", None

        def flush(end: int) -> None:  # fpdf2's frag()
            nonlocal start, fallback, script
            cut.append((start, end, fallback or own.fontkey))
            start = end
            if fallback:
                fallback, script = "", None

        for i, char in enumerate(text):
            if char in "\r\u00ad" or unicodedata.bidirectional(char) in NOT_LTR:
                return None
            char_script = get_unicode_script(char)
            if char_script not in (*NEUTRAL_SCRIPTS, script):
                if i > start and script:
                    flush(i)
                script = char_script
            if char != "\n" and ord(char) not in cmap:
                other = self.get_fallback_font(char, self.font_style)
                if not other:
                    return None  # no font draws it: left to fpdf2
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
        joined: list[tuple[int, int, str]] = []
        for a, b, key in cut:
            if joined and joined[-1][2] == key:
                joined[-1] = (joined[-1][0], b, key)
            else:
                joined.append((a, b, key))
        return tuple(joined)

    def _params(self) -> dict[str, Any]:
        params = dict(self.text_shaping or {})
        params["fragment_direction"] = TextDirection.LTR
        params["paragraph_direction"] = TextDirection.LTR
        return params

    def _lines(self, text: str, room: float, align: Align) -> list[_Line]:
        """fpdf2's lines of `text` in `room` mm (fpdf.line_break.MultiLineBreak, word wrap)."""
        fragments = self._fragments(text)
        params = self._params()
        size = self.font_size_pt
        k = self.k
        widths: dict[tuple[str, str], float] = {}

        def measure(piece: str, key: str) -> float:
            width = widths.get((piece, key))
            if width is None:
                font = self.fonts[key]
                width = font.get_text_width(piece, size, params)[1] / k
                widths[piece, key] = width
            return width

        line_text = text.replace(NBSP, " ")

        def width_of(start: int, end: int) -> float:
            return sum(
                measure(line_text[max(start, a) : min(end, b)], key)
                for a, b, key in fragments
                if a < end and b > start
            )

        font_at = [key for a, b, key in fragments for _ in range(a, b)]

        def over(start: int, i: int) -> bool:
            return width_of(start, i) + measure(text[i], font_at[i]) - room > TOLERANCE

        lines: list[_Line] = []
        last = Align.L if align == Align.J else align  # a paragraph's last line
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            i = self._first_over(text, start, end, room, over, measure, font_at)
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

    @staticmethod
    def _first_over(
        text: str, start: int, end: int, room: float, over: Any, measure: Any, font_at: list[str]
    ) -> int | None:
        """The first index in [start, end) whose character no longer fits on the line.

        Guessed from the characters' own widths, then settled with the shaped widths (they
        differ by kerning only)."""
        total = 0.0
        guess = end
        for i in range(start, end):
            width = measure(text[i], font_at[i])
            if total + width - room > TOLERANCE:
                guess = i
                break
            total += width
        i = guess
        while i > start and over(start, i - 1):
            i -= 1
        while i < end and not over(start, i):
            i += 1
        return None if i >= end else i

    def _line(
        self,
        text: str,
        fragments: Sequence[tuple[int, int, str]],
        start: int,
        end: int,
        align: Align,
        *,
        trailing_nl: bool,
    ) -> _Line:
        params = self._params()
        size, k = self.font_size_pt, self.k
        pieces = []
        width = 0.0
        for a, b, key in fragments:
            if a < end and b > start:
                piece = text[max(start, a) : min(end, b)].replace(NBSP, " ")
                pieces.append((piece, key))
                width += self.fonts[key].get_text_width(piece, size, params)[1] / k
        spaces = sum(1 for c in text[start:end] if c in SPACES or c == NBSP)
        return _Line(tuple(pieces), width, spaces, align, trailing_nl)

    def _word_spacing(self, line: _Line, width: float, pad: Padding) -> float:
        if line.align != Align.J or not line.spaces:
            return 0.0
        margins = (0 if pad.left else self.c_margin) + (0 if pad.right else self.c_margin)
        return (width - margins - line.width) / line.spaces

    # drawing ---------------------------------------------------------------------------

    def _drawn(self, line: _Line, word_spacing: float) -> str:
        """The line's text operators after its Td: fonts, TJ arrays (no position yet)."""
        params = self._params()
        size = self.font_size_pt
        gap = (word_spacing * self.k) * 1000 / size
        out = []
        for piece, key in line.pieces:
            font = self.fonts[key]
            if not isinstance(font, ShapedFont):
                raise _Unsupported
            array = font.text_array(piece, size, params, gap)
            if array is None:
                raise _Unsupported  # a glyph off the baseline: fpdf2 moves the text matrix
            out.append(f"/F{font.i} {size:.2f} Tf {array} TJ")
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
        color = self.text_color.serialize().lower() if self.text_color else "0 g"
        size = self.font_size
        baseline = (self.h - self.y - 0.5 * h - 0.3 * size) * k
        parts.append(f"{color} BT {(self.x + dx) * k:.2f} {baseline:.2f} Td {drawn} ET Q")
        self._out(" ".join(parts))
        self._lasth = h
        if new_x == XPos.RIGHT:
            self.x += w
        elif new_x == XPos.LMARGIN:
            self.x = self.l_margin
        elif new_x != XPos.LEFT:
            raise ValueError(f"new_x={new_x} is not laid out here")  # not used by certificates
        if new_y == YPos.NEXT:
            self.y += h
        elif new_y != YPos.TOP:
            raise ValueError(f"new_y={new_y} is not laid out here")
        return broke

    def _put_lines(
        self,
        lines: list[_Line],
        drawn: list[str],
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
