"""A certificate page drawn again from the last one of its kind: only its values laid out anew.

From one letter to the next, most of a certificate is the same: the labels, titles, rules and
boxes, at the same places, in the same fonts. The page code (gateway.pdf.render's `_Page`) makes
two kinds of calls on its document: *static* calls, through a `StaticCalls` proxy, and *value*
calls (the letter's reference, dates, names, hashes, QR code, footer), directly.

- `Recorder`: the page drawn in full, as always; the proxy forwards each static call and logs
  it (name and arguments, and for a drawing call the position it leaves), and the bytes the
  static calls drew between two value calls are kept. The result is a `Template`, kept only
  when it is safe to draw from: one page, the static calls drew only glyphs every document
  starts with (gateway.pdf.fonts' prepared sets: the same codes in every document), and they
  changed nothing of the document's state but what the log restores.
- `Replayer`: the next certificate of the same kind runs the same page code. Each static call
  must be the one logged at that place (else `Diverged`); the state-only ones (a font, a
  colour, a position) are made, the drawing ones are not: they leave the position logged,
  and the template's bytes go in their place. Each value call is made for real, and must leave
  the document where the template's did (the same number of lines; else `Diverged`).

- Units: a part of the page drawn by one method from its arguments (a row from its label, a
  section title, a table row; the header from the provider's name, the footer), its state at
  the start and its values' heights. Recorded as a
  call of its own around its calls; replayed whole when it begins at the same place with the
  same arguments in the same state: its values drawn, each from the state the template's
  started in and leaving what it left, its static calls skipped and the state they left set.
  A value of a unit drawn from the same text as the template's (the sender, the provider, the
  identifications: most of a page repeats from one letter to the next) is not laid out again:
  its bytes and fonts are the template's, when it drew there only glyphs every document starts
  with (their codes are the same in every document).

What the static calls draw depends on their arguments and the document's state only; the
state before each call is the template's (by induction: the same calls from the same start, and
each value call leaves what the template's left), so the page is byte for byte the one a full
drawing makes (tests/unit/test_pdf_replay.py compares them on random letters). The caller
draws in full on `Diverged`, with a new document.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final

from fpdf.enums import PDFResourceType
from fpdf.graphics_state import GraphicsState

from gateway.pdf.fonts import ShapedFont

__all__ = ["Diverged", "Recorder", "Replayer", "StaticCalls", "Template"]

# static calls that only set the document's state: made in both modes
STATE: Final = (
    "set_font", "set_text_color", "set_xy", "set_x", "set_y", "ln", "set_auto_page_break",
)  # fmt: skip
# static calls that draw (or set a colour or width by drawing its operator): made when recording,
# replaced by their bytes and the state they leave when replaying
DRAWING: Final = (
    "cell", "multi_cell", "rect", "line", "_out", "add_page",
    "set_fill_color", "set_draw_color", "set_line_width",
)  # fmt: skip
# what a drawing call leaves, restored when it is replayed
LEFT: Final = ("x", "y", "_lasth", "fill_color", "draw_color", "line_width")


class Diverged(Exception):
    """This page is not the template's: draw it in full."""


def _state(pdf: Any) -> tuple[object, ...]:
    """What of the document's state a call may change and the page's later calls read (its
    fonts by key: each document has its own font objects)."""
    graphics = pdf._GraphicsStateMixin__statestack[-1]  # read as fpdf2's properties read it
    font = graphics.current_font
    shaping = graphics.text_shaping or {}
    return (
        pdf.page, pdf.x, pdf.y, pdf._lasth, pdf.auto_page_break, pdf.page_break_trigger,
        graphics.font_family, graphics.font_style, graphics.font_size_pt,
        font.fontkey if font is not None else None, graphics.current_font_is_set_on_page,
        graphics.text_color, graphics.fill_color, graphics.draw_color, graphics.line_width,
        id(shaping.get("direction")), shaping.get("script"), shaping.get("language"),
    )  # fmt: skip


_MOVED: Final = frozenset((1, 2, 3, 12, 13, 14))  # _state's places of LEFT


def _contents(pdf: Any) -> bytearray:
    contents: bytearray = pdf.pages[pdf.page].contents
    return contents


def _glyph_counts(pdf: Any) -> tuple[int, ...]:
    return tuple(len(f.subset) for f in pdf.fonts.values() if isinstance(f, ShapedFont))


def _page_fonts(pdf: Any) -> set[Any]:
    fonts: set[Any] = pdf._resource_catalog.resources_per_page[(pdf.page, PDFResourceType.FONT)]
    return fonts


# one static call: its name and arguments (keyword arguments as items), and for a drawing call
# what it left (LEFT; None for a state call)
_Call = tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]]
_Static = tuple[_Call, tuple[Any, ...] | None]


@dataclass(frozen=True)
class _Snapshot:
    """The document's state as `_restore` sets it again: its position and page break, and
    fpdf2's graphics state (its font by key: each document has its own font objects)."""

    state: tuple[object, ...]  # _state's
    graphics: Any  # fpdf2's GraphicsState, as copied
    font: str | None


def _snapshot(pdf: Any) -> _Snapshot:
    font = pdf.current_font
    return _Snapshot(
        _state(pdf), pdf._get_current_graphics_state(), font.fontkey if font is not None else None
    )


_GRAPHICS: Final = operator.attrgetter(*(field.name for field in fields(GraphicsState)))


def graphics_copy(graphics: GraphicsState) -> GraphicsState:
    """fpdf2's `GraphicsState.copy()`, made field by field: its `copy.copy` of a slotted
    dataclass takes the generic path (__reduce_ex__), a third of a replayed row's cost."""
    new = GraphicsState(*_GRAPHICS(graphics))
    if new.text_shaping is not None:
        new.text_shaping = new.text_shaping.copy()
    return new


def _restore(pdf: Any, snapshot: _Snapshot) -> None:
    graphics = graphics_copy(snapshot.graphics)
    graphics.current_font = pdf.fonts[snapshot.font] if snapshot.font is not None else None
    pdf._GraphicsStateMixin__statestack[-1] = graphics
    # _state's first six: the document's own attributes (the rest is the graphics state's)
    pdf.page, pdf.x, pdf.y, pdf._lasth, pdf.auto_page_break, pdf.page_break_trigger = (
        snapshot.state[:6]
    )


@dataclass(frozen=True)
class _Value:
    """A value call: how many static calls came before it, the bytes they drew since the
    value call before, the document's state before it and what it left (`_state`); for a value
    of a unit given with what it is drawn from (`inputs`), the bytes it drew and the fonts it
    used (`drawn`: None unless it drew only glyphs every document starts with, on its page)."""

    before: int
    static: bytes
    snapshot: _Snapshot
    left: tuple[object, ...]
    inputs: tuple[object, ...] | None = None
    drawn: bytes | None = None
    fonts: frozenset[Any] = frozenset()


@dataclass(frozen=True)
class _Unit:
    """A part of the page (a row, a section title) drawn by one method of the page code from
    its arguments, the state it starts in and its values' (a unit, `Replayer.unit`): the
    state it starts in, where its static calls end, and the state it leaves."""

    start: tuple[object, ...]
    end: int
    values: int  # how many
    left: _Snapshot


@dataclass(frozen=True)
class Template:
    """A page's static calls in order; its value calls; the bytes after the last; the fonts
    the static calls used; its units, by the place of their first call."""

    calls: tuple[_Static, ...]
    values: tuple[_Value, ...]
    tail: bytes
    fonts: frozenset[Any]
    units: dict[int, _Unit]


class _Script:
    """Recorder's and Replayer's common part, for StaticCalls."""

    def static(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def setattr(self, name: str, value: Any) -> None:
        raise NotImplementedError

    def unit(self, key: tuple[object, ...], draws: int) -> bool:
        raise NotImplementedError

    def take(self, draws: list[Callable[[], object]], inputs: list[tuple[object, ...]]) -> None:
        raise NotImplementedError

    def end_unit(self) -> None:
        raise NotImplementedError


class StaticCalls:
    """The document as the page's static calls see it: its calls go through the script (STATE
    and DRAWING), anything else (a query, an attribute) is the document's."""

    def __init__(self, pdf: Any, script: _Script) -> None:
        object.__setattr__(self, "_pdf", pdf)
        object.__setattr__(self, "_script", script)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pdf, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._script.setattr(name, value)


def _call(name: str) -> Callable[..., Any]:
    def call(self: StaticCalls, *args: Any, **kwargs: Any) -> Any:
        return self._script.static(name, args, kwargs)

    call.__name__ = name
    return call


for _name in STATE + DRAWING:
    setattr(StaticCalls, _name, _call(_name))


class Recorder(_Script):
    """Draws the page in full and logs it (`template()` when done: None if unsafe)."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self.calls: list[_Static] = []
        self.values: list[_Value] = []
        self.units: dict[int, _Unit] = {}
        self._open: list[tuple[int, int, tuple[object, ...]]] = []  # units begun, not ended
        self.safe = True
        self._mark = len(_contents(pdf))
        self._glyphs = self._started = _glyph_counts(pdf)
        self._value_fonts: dict[tuple[int, Any], set[Any]] = {}  # by page, as the catalog

    def static(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pdf = self.pdf
        before = _state(pdf)
        written = len(_contents(pdf))
        result = getattr(pdf, name)(*args, **kwargs)
        after = _state(pdf)
        if name in DRAWING:
            if any(
                a != b
                for i, (a, b) in enumerate(zip(before, after, strict=True))
                if i not in _MOVED
            ):
                self.safe = False  # it changed what a replay would not restore
            left = tuple(getattr(pdf, attr) for attr in LEFT)
        else:
            left = None
            if len(_contents(pdf)) != written:
                self.safe = False  # a state call that draws: its bytes would be drawn twice
        self.calls.append(((name, args, tuple(kwargs.items()) if kwargs else ()), left))
        return result

    def setattr(self, name: str, value: Any) -> None:
        self.calls.append((("=" + name, (value,), ()), None))
        setattr(self.pdf, name, value)

    def unit(self, key: tuple[object, ...], draws: int) -> bool:
        """Begin a unit of the page (`Replayer.unit`): logged as a call of its own."""
        del draws
        self._open.append((len(self.calls), len(self.values), _state(self.pdf)))
        self.calls.append((("<unit", key, ()), None))
        return False

    def take(self, draws: list[Callable[[], object]], inputs: list[tuple[object, ...]]) -> None:
        raise RuntimeError("a recording draws its units the usual way")

    def end_unit(self) -> None:
        begun, values, start = self._open.pop()
        self.calls.append(((">unit", (), ()), None))
        count = len(self.values) - values
        self.units[begun] = _Unit(start, len(self.calls), count, _snapshot(self.pdf))

    def value(self, draw: Callable[[], object], inputs: tuple[object, ...] | None = None) -> None:
        """Make a value call (`draw`), keeping the static bytes before it apart; `inputs`: all
        a value of a unit is drawn from besides the unit's key and the state it starts in
        (its text), to take its bytes again for a value drawn from the same (`Replayer.take`)."""
        pdf = self.pdf
        contents = _contents(pdf)
        static = bytes(contents[self._mark :])
        before = _snapshot(pdf)
        glyphs = _glyph_counts(pdf)
        if glyphs != self._glyphs:
            self.safe = False  # a static call drew a glyph the document did not start with
        catalog = pdf._resource_catalog.resources_per_page
        key = (pdf.page, PDFResourceType.FONT)
        fonts = catalog[key]
        catalog[key] = set()  # the value's fonts apart from the static calls' ones
        start = len(contents)
        try:
            draw()
        finally:
            used = frozenset(catalog[key])
            self._value_fonts.setdefault(key, set()).update(used)
            catalog[key] = fonts
        left = _state(pdf)
        self._mark = len(_contents(pdf))
        self._glyphs = _glyph_counts(pdf)
        # its bytes only if they are all it changed but the state: on its page, in the glyphs
        # every document starts with (their codes are the same in every document; a glyph an
        # earlier value added has a code of this document's)
        same = (
            inputs is not None
            and glyphs == self._glyphs == self._started
            and pdf.page == before.state[0]
        )
        drawn = bytes(_contents(pdf)[start:]) if same else None
        self.values.append(
            _Value(
                len(self.calls), static, before, left, inputs, drawn, used if same else frozenset()
            )
        )

    def template(self) -> Template | None:
        """The template, once the page is drawn; also adds the values' fonts to the page."""
        pdf = self.pdf
        tail = bytes(_contents(pdf)[self._mark :])
        catalog = pdf._resource_catalog.resources_per_page
        fonts = frozenset(catalog[1, PDFResourceType.FONT])
        for key, used in self._value_fonts.items():
            catalog[key].update(used)
        single = len(pdf.pages) == 1 and pdf.page == 1
        others = [
            kind
            for (page, kind), found in pdf._resource_catalog.resources_per_page.items()
            if found and kind != PDFResourceType.FONT
        ]
        if not (self.safe and single and not others) or _glyph_counts(pdf) != self._glyphs:
            return None
        return Template(tuple(self.calls), tuple(self.values), tail, fonts, self.units)


class Replayer(_Script):
    """Draws a page from a template: its static calls checked and replaced, its values drawn.

    `finish()` when the page code is done; `Diverged` from any call that is not the
    template's."""

    def __init__(self, pdf: Any, template: Template) -> None:
        self.pdf = pdf
        self.template = template
        self._at = 0  # the next static call
        self._values = 0  # the next value call
        self._unit: tuple[_Unit, tuple[_Value, ...]] | None = None  # the unit being drawn
        self.units = 0  # units taken whole
        self.copied = 0  # values of those units taken as the template drew them
        _page_fonts(pdf).update(template.fonts)

    def static(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        at = self._at
        calls = self.template.calls
        if at >= len(calls):
            raise Diverged(name)
        call, left = calls[at]
        if call != (name, args, tuple(kwargs.items()) if kwargs else ()):
            raise Diverged(name)
        self._at = at + 1
        pdf = self.pdf
        if left is None:
            return getattr(pdf, name)(*args, **kwargs)
        pdf.x, pdf.y, pdf._lasth, fill, draw, width = left
        if fill is not pdf.fill_color:  # each a property of fpdf2's graphics state
            pdf.fill_color = fill
        if draw is not pdf.draw_color:
            pdf.draw_color = draw
        if width != pdf.line_width:
            pdf.line_width = width
        return None

    def setattr(self, name: str, value: Any) -> None:
        calls = self.template.calls
        if self._at >= len(calls) or calls[self._at] != (("=" + name, (value,), ()), None):
            raise Diverged(name)
        self._at += 1
        setattr(self.pdf, name, value)

    def value(self, draw: Callable[[], object], inputs: tuple[object, ...] | None = None) -> None:
        del inputs  # drawn again, whatever it is drawn from (`take` takes a unit's values)
        values = self.template.values
        if self._values >= len(values):
            raise Diverged("value")
        found = values[self._values]
        if found.before != self._at:
            raise Diverged("value")
        _contents(self.pdf).extend(found.static)
        draw()
        if _state(self.pdf) != found.left:
            raise Diverged("value")  # another number of lines, say
        self._values += 1

    def unit(self, key: tuple[object, ...], draws: int) -> bool:
        """Draw a unit of the page from the template, when it begins here with the same
        arguments (`key`) in the same state: its values drawn (`take`), each from the state the
        template's started in, leaving the same state; its static calls skipped, the state
        they left set. False (draw it the usual way) when `draws` is not its number of values;
        `Diverged` when it is not the template's unit."""
        at, calls = self._at, self.template.calls
        found = self.template.units.get(at)
        if found is None or calls[at][0] != ("<unit", key, ()):
            raise Diverged("unit")
        if _state(self.pdf) != found.start:
            raise Diverged("unit")
        if found.values != draws:
            raise Diverged("unit")
        inside = self.template.values[self._values : self._values + draws]
        self._unit = (found, inside)
        return True

    def take(self, draws: list[Callable[[], object]], inputs: list[tuple[object, ...]]) -> None:
        """The values of the unit `unit` found, drawn; the unit's end state set. A value drawn
        from the same `inputs` as the template's (from the same state: the template's, as every
        value of a unit starts) is not drawn again: its bytes and fonts are the template's."""
        if self._unit is None:
            raise RuntimeError("take() without unit()")
        (found, inside), self._unit = self._unit, None
        pdf = self.pdf
        contents = _contents(pdf)
        for value, draw, given in zip(inside, draws, inputs, strict=True):
            contents.extend(value.static)
            if value.drawn is not None and value.inputs == given:
                contents.extend(value.drawn)
                _page_fonts(pdf).update(value.fonts)
                self.copied += 1
            else:
                _restore(pdf, value.snapshot)
                draw()
                if _state(pdf) != value.left:
                    raise Diverged("value")
            self._values += 1
        _restore(pdf, found.left)
        self._at = found.end
        self.units += 1

    def end_unit(self) -> None:
        raise RuntimeError("a replayed unit is drawn by take()")

    def finish(self) -> None:
        if self._at != len(self.template.calls) or self._values != len(self.template.values):
            raise Diverged("end")
        _contents(self.pdf).extend(self.template.tail)
