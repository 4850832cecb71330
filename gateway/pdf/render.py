"""The proof certificate as a one-page PDF (fpdf2), in French, English or Arabic.

Pure apart from reading the font files once: `CertificateRenderer.render()` turns an evidence
record into PDF bytes carrying evidence.xml and its seal as associated files. Arabic is shaped
by HarfBuzz (fpdf2's text shaping) and laid out right to left.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from gateway import i18n
from gateway.core.policy import shows_deadline
from gateway.display import neutralise
from gateway.pdf import disk_cache, kerning, monospace, resources
from gateway.pdf.facts import CertificateFacts, CertificateSources
from gateway.pdf.fonts import (
    ARABIC,
    LATIN,
    FallbackFontPDF,
    FontBook,
    FontOutputProducer,
    Glyph,
    glyphs_from_json,
    glyphs_to_json,
    picked_glyphs,
)
from gateway.pdf.layout import LaidOutPDF
from gateway.pdf.pdfa import DocumentInfo, make_pdfa
from gateway.pdf.qr import qr_rows
from gateway.pdf.replay import Diverged, Recorder, Replayer, StaticCalls, Template
from gateway.pdf.text import (
    event_reason,
    isolate,
    recipient_identification,
    sender_identification,
    text,
    unbroken,
)

log = logging.getLogger(__name__)
EVIDENCE_XML: Final = "evidence.xml"
EVIDENCE_P7S: Final = "evidence.xml.p7s"
SCRIPTS: Final = {"sans": LATIN, "mono": LATIN, "arabic": LATIN + ARABIC}  # see gateway.pdf.fonts
INK: Final = (33, 37, 41)
MUTED: Final = (96, 104, 112)
ACCENT: Final = (26, 54, 93)
RULE: Final = (200, 206, 214)
PANEL: Final = (243, 245, 248)
MARGIN: Final = 15.0
LABEL_WIDTH: Final = 46.0
QR_SIZE: Final = 28.0
LINE: Final = 4.1  # mm per line of a row
ROW_GAP: Final = 0.7
SECTION_HEIGHT: Final = 8.5
TABLE_LINE: Final = 3.1
TABLE_ROW: Final = 2 * TABLE_LINE + 0.9
NUMBER_WIDTH: Final = 7.0
SIZE_WIDTH: Final = 17.0
NEAR_FOOT: Final = 45.0  # mm above the page break below which rows are measured first
HASH_WIDTH: Final = 49.0  # 32 hexadecimal digits of mono at 6.8 pt, and the cell margins
MAX_TEMPLATES: Final = 64  # pages kept to draw the next of their kind from (gateway.pdf.replay)
_ARABIC_LETTER: Final = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
# the characters of most names, addresses and subjects in French, English and Arabic
# certificates: printable ASCII, Latin-1, œ Œ Ÿ and the usual punctuation (prepared_glyphs)
ASCII: Final = "".join(map(chr, range(0x21, 0x7F)))
LATIN_REPERTOIRE: Final = (
    "".join(chr(c) for c in range(0xA1, 0x100) if c != 0xAD)
    + ASCII
    + " \u0152\u0153\u0178\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac"
)
_TATWEEL: Final = "\u0640"
# each Arabic letter alone, initial, medial and final; lam-alef and Allah ligatures; Arabic
# digits and punctuation
ARABIC_REPERTOIRE: Final = (
    *(
        f"{c} {c}{_TATWEEL} {_TATWEEL}{c}{_TATWEEL} {_TATWEEL}{c}"
        for c in map(chr, range(0x621, 0x64B))
    ),
    "\u0644\u0627 \u0640\u0644\u0627 \u0644\u0623 \u0644\u0625 \u0644\u0622",
    "\u0627\u0644\u0644\u0647 \u0644\u0644\u0647",
    # the isolates around values in Arabic sentences (gateway.pdf.text.isolate), as drawn
    # there: each at the edge of an Arabic fragment, the value in the fallback font (alone,
    # "\u2066\u2069" draws neither, and every Arabic certificate then added both glyphs)
    "\u0628 \u2066a\u2069 \u0628 \u20661\u2069",
    "".join(map(chr, range(0x660, 0x66A))) + " \u060c \u061b \u061f",
)


def find_fonts() -> dict[tuple[str, str], Path]:
    """Every font the certificate needs: shipped in the package, never looked up on the machine."""
    resources.check()
    return resources.font_paths()


class CertificateRenderer:
    """Renders certificates; the fonts are read and parsed once (gateway.pdf.fonts), and each
    language's usual glyphs prepared once (`prepared_glyphs`).

    `prepared=False` renders as before that preparation and the memos of font objects, widths,
    glyph runs and bidi runs (the QR code is drawn the new way): the same certificate text,
    its fonts subset afresh for each one, laid out by fpdf2 — the reference the tests compare
    with. `laid_out=False` keeps the preparation and the memos but leaves the layout to fpdf2
    and the QR code's mask to segno, as before gateway.pdf.layout (bench.pdf's --before).
    `replayed=False` draws every page in full, never from the last one of its kind
    (gateway.pdf.replay: the same bytes, which the tests compare).
    """

    def __init__(
        self,
        fonts: dict[tuple[str, str], Path] | None = None,
        *,
        prepared: bool = True,
        laid_out: bool = True,
        replayed: bool = True,
    ) -> None:
        self._prepared = prepared
        self._laid_out = prepared and laid_out
        self._replayed = self._laid_out and replayed
        self._templates: dict[tuple[object, ...], Template] = {}
        # what a page measures of its language's words alone (the reference label's width),
        # kept from its last full drawing for the pages drawn from a template
        self._measured: dict[tuple[str, str], float] = {}
        self.replays = self.diverged = 0  # pages drawn from a template, and tried in vain
        self.units = 0  # rows, titles and table rows those pages took whole (gateway.pdf.replay)
        self.copied = 0  # values of those units drawn from what the template's were: its bytes
        self._fonts = FontBook(
            fonts or find_fonts(),
            SCRIPTS,
            memo=prepared,
            composed=monospace.COMPOSED,
            kerned=kerning.COMPOSED,
        )
        self._icc_profile = resources.srgb_profile()
        self._lock = threading.Lock()
        self._glyphs: dict[str, dict[str, tuple[Glyph | None, ...]]] = {}

    def render(self, facts: CertificateFacts) -> bytes:
        lang = i18n.or_default(facts.language)
        with self._lock:  # the shared HarfBuzz and fontTools objects are not meant for threads
            if not self._replayed:
                return self._page(facts, lang).build()
            kind = _kind(facts, lang)
            template = self._templates.get(kind)
            if template is not None:
                page = self._page(facts, lang, template=template)
                try:
                    made = page.build()
                except Diverged:
                    self.diverged += 1
                except Exception:  # a fault of the replay itself: the full drawing decides
                    log.exception(
                        "certificate %s: drawing it from the last page of its kind failed; "
                        "drawn in full",
                        facts.record.evidence_id,
                    )
                    self.diverged += 1
                    self._templates.pop(kind, None)
                else:
                    self.replays += 1
                    self.units += page.units_taken()
                    self.copied += page.values_copied()
                    return made
            page = self._page(facts, lang, record=True)
            made = page.build()
            if page.template is not None:
                if len(self._templates) >= MAX_TEMPLATES:
                    self._templates.clear()
                self._templates[kind] = page.template
            return made

    def _page(
        self,
        facts: CertificateFacts,
        lang: str,
        *,
        record: bool = False,
        template: Template | None = None,
    ) -> _Page:
        fonts = self._document_fonts(lang)  # each document its own copies
        page = _Page(
            fonts, facts, lang, self._icc_profile, laid_out=self._laid_out,
            record=record, template=template, measured=self._measured,
        )  # fmt: skip
        page.pdf.memo = self._prepared
        return page

    def prepared_fonts(self, lang: str) -> dict[str, Any]:
        """The fonts a document in `lang` starts with: its prepared glyphs and nothing else."""
        with self._lock:
            return self._document_fonts(lang)

    def _document_fonts(self, lang: str) -> dict[str, Any]:
        if lang not in self._glyphs:
            self._glyphs[lang] = self._prepared_glyphs(lang) if self._prepared else {}
        return self._fonts.for_document(self._glyphs[lang])

    def _prepared_glyphs(self, lang: str) -> dict[str, tuple[Glyph | None, ...]]:
        """prepared_glyphs, kept on disk by what it depends on (gateway.pdf.disk_cache)."""
        words = sorted(i18n.CATALOGUES[lang].messages.items())
        key = (lang, self._fonts.digests(), hashlib.sha256(repr(words).encode()).hexdigest())
        return disk_cache.remembered(
            "prepared-glyphs",
            key,
            lambda: prepared_glyphs(self._fonts, lang),
            glyphs_to_json,
            glyphs_from_json,
        )


def new_document(fonts: dict[str, Any], lang: str, *, laid_out: bool = False) -> FallbackFontPDF:
    """An empty A4 certificate in `lang`: margins, fonts and text shaping (RTL for Arabic).

    `laid_out`: its text laid out by gateway.pdf.layout, not by fpdf2 (the same lines).
    """
    rtl = i18n.direction(lang) == "rtl"
    pdf = (LaidOutPDF if laid_out else FallbackFontPDF)(format="A4", unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=MARGIN + 6)
    pdf.fonts.update(fonts)
    pdf.set_fallback_fonts(["sans"] if rtl else ["arabic"], exact_match=False)
    _shape(pdf, "rtl" if rtl else "ltr")
    return pdf


def _shape(pdf: FPDF, direction: str) -> None:
    if direction == "rtl":
        pdf.set_text_shaping(
            use_shaping_engine=True, direction="rtl", script="arab", language="ara"
        )
    else:
        pdf.set_text_shaping(use_shaping_engine=True, direction="ltr", script="latn")


def prepared_glyphs(book: FontBook, lang: str) -> dict[str, tuple[Glyph | None, ...]]:
    """The glyphs every certificate in `lang` starts with, by font: those its words and the
    usual characters of names and addresses draw (gateway.pdf.fonts: `for_document(base)`).

    Found by drawing them the way certificates do, on a page that is thrown away.
    """
    pdf = new_document(book.for_document(), lang)
    pdf.add_page()
    rtl = i18n.direction(lang) == "rtl"
    words = [
        text
        for key, value in i18n.CATALOGUES[lang].messages.items()
        if key.startswith(("pdf.", "proof.", "evidence.", "event."))
        for text in ((value,) if isinstance(value, str) else value)
    ]
    body = "arabic" if rtl else "sans"
    for family, style, texts in (
        (body, "", [*words, LATIN_REPERTOIRE, *(ARABIC_REPERTOIRE if rtl else [])]),
        (body, "B", words),
        ("mono", "", [ASCII]),  # hashes, identifiers, URLs
    ):
        pdf.set_font(family, style, 9)
        for value in texts:
            pdf.multi_cell(pdf.epw, LINE, value)
    if rtl:  # values without an Arabic letter: left to right, in the Latin font (_direction_of)
        _shape(pdf, "ltr")
        for family, style, value in (("sans", "", LATIN_REPERTOIRE), ("mono", "", ASCII)):
            pdf.set_font(family, style, 9)
            pdf.multi_cell(pdf.epw, LINE, value)
    return picked_glyphs(pdf.fonts)


class _Page:
    def __init__(
        self,
        fonts: dict[str, Any],
        facts: CertificateFacts,
        lang: str,
        icc_profile: bytes,
        *,
        laid_out: bool,
        record: bool = False,
        template: Template | None = None,
        measured: dict[tuple[str, str], float] | None = None,
    ) -> None:
        self.facts, self.lang, self.record = facts, lang, facts.record
        self._measured = measured if measured is not None else {}
        self._recording, self._replaying = record, template
        self.template: Template | None = None  # what a recording made, once built
        self._script: Recorder | Replayer | None = None
        self.rtl = i18n.direction(lang) == "rtl"
        self.laid_out = laid_out
        pdf = new_document(fonts, lang, laid_out=laid_out)
        self.body = "arabic" if self.rtl else "sans"
        self.align = "R" if self.rtl else "L"
        info = DocumentInfo(
            title=f"{self._title()} — {self.record.letter_reference}",
            author=facts.provider_name,
            subject=self.record.event.value,
            creator="LRE Gateway",
            created=self.record.event_time,
            language=lang,
        )
        make_pdfa(pdf, info, icc_profile)  # before any drawing (gateway.pdf.pdfa)
        identifier = file_id(facts, lang)
        pdf.file_id = lambda: identifier  # type: ignore[method-assign]
        self.pdf = pdf
        # the document as the static calls see it: the labels, titles, rules and boxes, the
        # same in every certificate of this kind (gateway.pdf.replay); the values are drawn
        # on `pdf` itself, through _value
        self.s: Any = pdf
        self.width = pdf.epw

    def _value(self, draw: Callable[[], object], inputs: tuple[object, ...] | None = None) -> None:
        """Draw a value of this letter (a name, a date, a hash...): `draw` calls `self.pdf`;
        `inputs`, for a value of a unit: what `draw` draws from (see `_drawn_as_unit`)."""
        if self._script is None:
            draw()
        else:
            self._script.value(draw, inputs)

    def _drawn_as_unit(
        self,
        key: tuple[object, ...],
        draws: list[Callable[[], object]],
        inputs: list[tuple[object, ...]] | None = None,
    ) -> bool:
        """Whether this part of the page (a row, a section title: a unit of gateway.pdf.replay)
        was drawn from the template: its values (`draws`, in order), its static calls skipped.
        `key`: all the method's static calls depend on besides the page's state and language
        and its values' heights; `inputs`: for each value, all its draw depends on besides the
        key, the page's language and the state it starts in (a value drawn from the template's
        is taken as drawn there). Else the caller draws it, then calls `_unit_drawn`."""
        script = self._script
        if script is None:
            return False
        if script.unit(key, len(draws)):
            script.take(draws, inputs if inputs is not None else [()] * len(draws))
            return True
        return False

    def units_taken(self) -> int:
        """How many units this page took whole from its template."""
        return self._script.units if isinstance(self._script, Replayer) else 0

    def values_copied(self) -> int:
        """How many values of those units were drawn from what the template's were drawn from
        (their bytes taken from it)."""
        return self._script.copied if isinstance(self._script, Replayer) else 0

    def _unit_drawn(self) -> None:
        if self._script is not None:
            self._script.end_unit()

    def _title(self) -> str:
        return i18n.evidence_title(self.lang, self.record.event)

    def _when(self, dt: datetime) -> str:
        return i18n.format_time(dt, self.lang, self.facts.zone)

    def build(self) -> bytes:
        pdf, record, lang = self.pdf, self.record, self.lang
        pdf.alias_nb_pages("{pages}")
        pdf.header = self._running_header  # type: ignore[method-assign]
        pdf.add_page()
        if self._replaying is not None:
            self._script = Replayer(pdf, self._replaying)
        elif self._recording:
            self._script = Recorder(pdf)
        if self._script is not None:
            self.s = StaticCalls(pdf, self._script)
        self._header()
        self._section(text(lang, "pdf.parties"))
        self._row(text(lang, "pdf.sender"), _party(record.sender_name, record.sender_address))
        declared = record.sender_declared_name
        if declared and declared != record.sender_name:
            self._row(text(lang, "pdf.declared_name"), declared)
        self._row(
            text(lang, "pdf.sender_identified"),
            sender_identification(lang, record.sender_authentication),
        )
        recipient = record.recipient_address
        if record.recipient_phone:
            recipient += f" · {unbroken(record.recipient_phone)}"
        self._row(text(lang, "pdf.recipient"), recipient)
        self._row(
            text(lang, "pdf.recipient_identified"),
            recipient_identification(
                lang, record.recipient_identification, record.extensions, self.facts.zone
            ),
        )
        self._row(text(lang, "pdf.subject"), record.subject or "—")
        self._section(text(lang, "pdf.dates"))
        self._row(text(lang, "proof.deposited"), self._when(record.submission_time))
        self._row(text(lang, "proof.event_time"), self._when(record.event_time))
        if record.acceptance_deadline and shows_deadline(record.event, certificate=True):
            self._row(text(lang, "proof.deadline"), self._when(record.acceptance_deadline))
        reason = event_reason(lang, record.event, record.reason_code, record.reason)
        if reason:
            self._row(text(lang, "proof.reason"), reason)
        self._contents()
        self._section(text(lang, "pdf.provider_title"))
        self._row(text(lang, "pdf.provider"), f"{record.provider_name} ({record.provider_domain})")
        self._row(text(lang, "pdf.policy"), record.policy_id)
        self._row(text(lang, "pdf.status_page"), self.facts.verify_url, mono=True)
        self._row(text(lang, "pdf.log_proof"), self.facts.log_url, mono=True)
        if record.previous_evidence_sha256:
            self._row(text(lang, "proof.previous"), record.previous_evidence_sha256, mono=True)
        self._verify_box()
        self._footer()
        if isinstance(self._script, Recorder):
            self.template = self._script.template()
        elif isinstance(self._script, Replayer):
            self._script.finish()
        pdf.embed_file(
            bytes=self.facts.xml,
            basename=EVIDENCE_XML,
            mime_type="application/xml",
            associated_file_relationship="Source",
            desc="Sealed evidence record (ETSI EN 319 522)",
            modification_date=record.event_time,
            compress=True,
        )
        pdf.embed_file(
            bytes=self.facts.p7s,
            basename=EVIDENCE_P7S,
            mime_type="application/pkcs7-signature",
            associated_file_relationship="Supplement",
            desc="CAdES-T seal of evidence.xml",
            modification_date=record.event_time,
        )
        return bytes(pdf.output(output_producer_class=FontOutputProducer))

    # pieces ----------------------------------------------------------------------------

    def _x(self, offset: float, width: float) -> float:
        """Left edge of a box `offset` mm from the reading start, mirrored in RTL."""
        if self.rtl:
            return self.pdf.l_margin + self.width - offset - width
        return self.pdf.l_margin + offset

    @property
    def _bottom(self) -> float:
        return self.pdf.page_break_trigger

    def _room_for(self, height: float) -> None:
        """Start a continuation page unless `height` mm still fit on this one."""
        if self.pdf.get_y() + height > self._bottom:
            self.s.add_page()

    def _room_for_text(
        self, width: float, line: float, value: str, *, least: float, extra: float = 0.0
    ) -> None:
        """Like _room_for with the height of `value` in the current font, at least `least`.

        The text is measured only near the foot of the page: measuring lays it out twice.
        """
        if self.pdf.get_y() + NEAR_FOOT < self._bottom:
            return
        with self._direction_of(value):
            height = _height(self.pdf, width, line, value, self.align)
        self._room_for(max(height, least) + extra)

    @contextmanager
    def _direction_of(self, value: str) -> Iterator[None]:
        """Lay out a value with no Arabic letter left to right, even on an Arabic page, and
        in the Latin font where the page's text is in the Arabic one.

        An address, a file name or a URL is then shaped and ordered as written (its trailing
        punctuation stays where it belongs) and aligned on the page's reading side; its
        letters, digits, spaces and punctuation are all of one font, as on a French page (in
        the Arabic font, whose Latin letters are the Latin font's by fallback, its digits,
        spaces and punctuation were the Arabic font's: "Lettre 61" was two fonts, an address
        five).
        """
        if not self.rtl or _ARABIC_LETTER.search(value):
            yield
            return
        pdf = self.pdf
        _shape(pdf, "ltr")
        arabic = pdf.font_family == "arabic"
        if arabic:
            style, size = pdf.font_style, pdf.font_size_pt
            pdf.set_font("sans", style, size)
        try:
            yield
        finally:
            if arabic:
                pdf.set_font("arabic", style, size)
            _shape(pdf, "rtl")

    def _header(self) -> None:
        pdf, lang = self.s, self.lang
        top = MARGIN - 4
        text_width = self.width - QR_SIZE - 8
        what = text(
            lang,
            f"event.{self.record.event.value}",
            time=isolate(lang, self._when(self.record.event_time)),
        )
        label = f"  {text(lang, 'pdf.reference')}  "
        reference = self.record.letter_reference
        url = self.facts.verify_url

        def draw_what() -> None:
            self.pdf.multi_cell(text_width, 4.6, what, align=self.align)

        def draw_reference() -> None:
            label_width = self._measured.get((lang, label))
            if label_width is None:  # not measured by a full drawing in this process
                raise Diverged("reference label")
            with self._direction_of(reference):
                self.pdf.cell(text_width - label_width, 7.5, reference, align=self.align)

        qr_x = self._x(self.width - QR_SIZE, QR_SIZE)
        draw_qr = self._qr_code(qr_x, top, url)
        # all its static calls depend on, besides the page's state and language (its title is
        # the proof type's, of the page's kind): the provider's name
        if self._drawn_as_unit(
            ("header", self.facts.provider_name),
            [draw_what, draw_reference, draw_qr],
            [(what,), (reference,), (url,)],
        ):
            return
        pdf.set_fill_color(*ACCENT)
        pdf.rect(0, 0, pdf.w, 5, style="F")
        pdf.set_xy(self._x(0, text_width), top)
        pdf.set_text_color(*MUTED)
        pdf.set_font(self.body, "", 9)
        pdf.cell(
            text_width,
            4.5,
            f"{self.facts.provider_name} · {text(lang, 'pdf.heading')}",
            align=self.align,
        )
        pdf.set_xy(self._x(0, text_width), top + 5.5)
        pdf.set_text_color(*ACCENT)
        pdf.set_font(self.body, "B", 19)
        pdf.multi_cell(text_width, 8.5, self._title(), align=self.align)
        pdf.set_x(self._x(0, text_width))
        pdf.set_text_color(*INK)
        pdf.set_font(self.body, "", 9.5)
        self._value(draw_what, (what,))
        pdf.ln(1.5)
        pdf.set_font(self.body, "", 8)
        label_width = pdf.get_string_width(label) + 2
        self._measured[lang, label] = label_width
        y = pdf.get_y()
        pdf.set_fill_color(*PANEL)
        pdf.rect(self._x(0, text_width), y, text_width, 7.5, style="F")
        pdf.set_xy(self._x(0, label_width), y)
        pdf.set_text_color(*MUTED)
        pdf.cell(label_width, 7.5, label, align=self.align)
        pdf.set_xy(self._x(label_width, text_width - label_width), y)
        pdf.set_font("mono", "", 12)
        pdf.set_text_color(*INK)
        self._value(draw_reference, (reference,))
        bottom = y + 7.5 + 3
        self._qr(qr_x, top, draw_qr, url)
        pdf.set_y(max(bottom, top + QR_SIZE + 5))
        self._unit_drawn()

    def _running_header(self) -> None:
        """On every page after the first: the proof type, the letter reference, a rule."""
        pdf, lang = self.s, self.lang
        if pdf.page <= 1:
            return
        pdf.set_fill_color(*ACCENT)
        pdf.rect(0, 0, pdf.w, 5, style="F")
        top = MARGIN - 4
        half = self.width / 2
        pdf.set_xy(self._x(0, half), top)
        pdf.set_font(self.body, "B", 10)
        pdf.set_text_color(*ACCENT)
        pdf.cell(half, 6, f"{self._title()} ({text(lang, 'pdf.continued')})", align=self.align)
        pdf.set_xy(self._x(half, half), top)
        pdf.set_font("mono", "", 10)
        pdf.set_text_color(*INK)
        pdf.cell(half, 6, self.record.letter_reference, align="L" if self.rtl else "R")
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.2)
        pdf.line(pdf.l_margin, top + 7, pdf.l_margin + self.width, top + 7)
        pdf.set_y(top + 9)

    def _qr_code(self, x: float, y: float, url: str) -> Callable[[], object]:
        """Drawing the QR code of `url` at (x, y): one image mask of a pixel a module, painted
        in the fill colour where a module is dark, scaled to the code's size (~0.4 KB of
        operators, where a rectangle for each run of dark modules took ~8 KB, written,
        compressed, hashed for each certificate). Its symbol is made when it is drawn."""
        pdf = self.pdf
        k = pdf.k
        placement = (QR_SIZE * k, x * k, (pdf.h - y - QR_SIZE) * k)

        def draw() -> None:
            rows = qr_rows(url, remember=self.laid_out)
            placed = _qr_placement(*placement, len(rows))
            self.pdf._out(placed + _qr_samples(rows) + "> EI Q")

        return draw

    def _qr(self, x: float, y: float, draw: Callable[[], object], url: str) -> None:
        pdf = self.s
        pdf.set_fill_color(0, 0, 0)
        self._value(draw, (url,))
        pdf.set_xy(x - 4, y + QR_SIZE + 0.3)
        pdf.set_font(self.body, "", 7)
        pdf.set_text_color(*MUTED)
        pdf.cell(QR_SIZE + 8, 3.5, text(self.lang, "pdf.scan"), align="C")

        # no link annotation: fpdf2 writes /Annots entries as direct objects, which pyHanko's
        # modification analysis rejects once an archive timestamp is added; the URL is printed.

    def _section(self, title: str) -> None:
        if self._drawn_as_unit(("section", title), []):
            return
        pdf = self.s
        pdf.ln(1.8)
        self._room_for(SECTION_HEIGHT + 2 * LINE)  # never a title alone at the foot of a page
        pdf.set_x(pdf.l_margin)
        pdf.set_font(self.body, "B", 10)
        pdf.set_text_color(*ACCENT)
        pdf.cell(self.width, 5.5, title, align=self.align)
        pdf.ln(5.5)
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.35)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(1.2)
        self._unit_drawn()

    def _row(self, label: str, value: str, *, mono: bool = False) -> None:
        value_width = self.width - LABEL_WIDTH

        def draw() -> None:
            with self._direction_of(value):
                self.pdf.multi_cell(
                    value_width, LINE, value, align=self.align, new_x=XPos.LMARGIN,
                    new_y=YPos.NEXT,
                )  # fmt: skip

        if self._drawn_as_unit(("row", label, mono), [draw], [(value,)]):
            return
        pdf = self.s
        pdf.set_font("mono", "", 8) if mono else pdf.set_font(self.body, "", 9)
        self._room_for_text(value_width, LINE, value, least=LINE)
        top = pdf.get_y()
        pdf.set_xy(self._x(0, LABEL_WIDTH), top)
        pdf.set_font(self.body, "", 7.8)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(LABEL_WIDTH - 2, LINE, label, align=self.align)
        label_bottom = pdf.get_y()
        pdf.set_xy(self._x(LABEL_WIDTH, value_width), top)
        pdf.set_text_color(*INK)
        pdf.set_font("mono", "", 8) if mono else pdf.set_font(self.body, "", 9)
        self._value(draw, (value,))
        pdf.set_y(max(label_bottom, pdf.get_y()) + ROW_GAP)
        self._unit_drawn()

    def _contents(self) -> None:
        """The message and its attachments as one table: name, size, SHA-256 on two lines."""
        pdf, lang, record = self.s, self.lang, self.record
        self._section(text(lang, "pdf.content"))
        self._table_row(
            ("", text(lang, "pdf.name"), text(lang, "pdf.size"), "SHA-256"), caption=True
        )
        self._table_row(
            (
                "",
                f"message.eml ({text(lang, 'pdf.whole_message')})",
                i18n.format_size(record.message_size, lang),
                record.message_sha256,
            )
        )
        count = len(record.attachments)
        caption = text(lang, "proof.attachments")
        caption += f" ({count})" if count else f" : {text(lang, 'proof.no_attachments')}"
        if lang != "fr":
            caption = caption.replace(" : ", ": ")
        if not self._drawn_as_unit(("caption", caption), []):
            pdf.set_x(pdf.l_margin)
            pdf.set_font(self.body, "B", 8)
            pdf.set_text_color(*MUTED)
            self._room_for(4.5 + TABLE_ROW)
            pdf.cell(
                self.width, 4.5, caption, align=self.align, new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            self._unit_drawn()
        for number, attachment in enumerate(record.attachments, start=1):
            self._table_row(
                (
                    f"{number}.",
                    neutralise(attachment.name),  # as sent, less bidi and control characters
                    i18n.format_size(attachment.size, lang),
                    attachment.sha256,
                )
            )

    def _table_row(self, cells: tuple[str, str, str, str], *, caption: bool = False) -> None:
        number, name, size, sha256 = cells
        name_width = self.width - NUMBER_WIDTH - SIZE_WIDTH - HASH_WIDTH - 4
        size_align = "L" if self.rtl else "R"
        lines = f"{sha256[:32]}\n{sha256[32:]}"

        def draw_name(target: Any) -> None:
            with self._direction_of(name):
                target.multi_cell(name_width, TABLE_LINE, name, align=self.align)

        def draw_hash(target: Any) -> None:
            with self._direction_of(lines):
                target.multi_cell(HASH_WIDTH, TABLE_LINE, lines, align="L")

        draws: list[Callable[[], object]] = [
            lambda: draw_name(self.pdf),
            lambda: self.pdf.cell(SIZE_WIDTH, TABLE_LINE, size, align=size_align),
            lambda: draw_hash(self.pdf),
        ]
        key = ("table row", number, *(cells if caption else ()))
        inputs: list[tuple[object, ...]] = [(name,), (size,), (sha256,)]
        if self._drawn_as_unit(key, [] if caption else draws, [] if caption else inputs):
            return
        pdf = self.s
        size_font = (self.body, "", 7 if caption else 8)
        pdf.set_font(*size_font)
        hash_height = (1 if caption else 2) * TABLE_LINE
        gap = 0.4 if caption else 0.9
        self._room_for_text(name_width, TABLE_LINE, name, least=hash_height + gap)
        top = pdf.get_y()
        pdf.set_text_color(*(MUTED if caption else INK))
        pdf.set_xy(self._x(0, NUMBER_WIDTH), top)
        pdf.cell(NUMBER_WIDTH, TABLE_LINE, number, align=self.align)
        pdf.set_xy(self._x(NUMBER_WIDTH, name_width), top)
        if caption:
            draw_name(pdf)
        else:
            self._value(draws[0], inputs[0])
        bottom = max(pdf.get_y(), top + hash_height) + gap
        pdf.set_xy(self._x(NUMBER_WIDTH + name_width + 2, SIZE_WIDTH), top)
        if caption:
            pdf.cell(SIZE_WIDTH, TABLE_LINE, size, align=size_align)
        else:
            self._value(draws[1], inputs[1])
        pdf.set_xy(self._x(self.width - HASH_WIDTH, HASH_WIDTH), top)
        if caption:
            pdf.cell(HASH_WIDTH, TABLE_LINE, sha256, align="L")
        else:
            pdf.set_font("mono", "", 6.8)
            self._value(draws[2], inputs[2])
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.15)
        pdf.line(pdf.l_margin, bottom - 0.3, pdf.l_margin + self.width, bottom - 0.3)
        pdf.set_y(bottom)
        self._unit_drawn()

    def _verify_box(self) -> None:
        pdf, lang = self.s, self.lang
        body = text(
            lang,
            "pdf.verify_body",
            provider=self.facts.provider_name,
            url=isolate(lang, self.facts.public_url.rstrip("/") + "/verify"),
            anchors=isolate(lang, self.facts.public_url.rstrip("/") + "/pki/"),
        )
        if self._drawn_as_unit(("verify box", body), []):
            return
        pdf.ln(2.5)
        pdf.set_font(self.body, "", 8)
        padding = (1, 3, 2, 3)
        self._room_for_text(self.width - 6, 3.9, body, least=3 * 3.9, extra=6 + 3)
        pdf.set_x(pdf.l_margin)
        pdf.set_fill_color(*PANEL)
        pdf.set_font(self.body, "B", 9)
        pdf.set_text_color(*ACCENT)
        pdf.cell(
            self.width,
            6,
            f"  {text(lang, 'pdf.verify_title')}  ",
            fill=True,
            align=self.align,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_font(self.body, "", 8)
        pdf.set_text_color(*INK)
        pdf.multi_cell(
            self.width,
            3.9,
            body,
            fill=True,
            align="J" if not self.rtl else "R",
            padding=padding,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self._unit_drawn()

    def _footer(self) -> None:
        pdf = self.s
        pages = self.pdf.page
        footers = [
            text(self.lang, "pdf.footer", id=self.record.evidence_id, page=page, pages=pages)
            for page in range(1, pages + 1)
        ]

        def drawn(footer: str) -> Callable[[], object]:
            return lambda: self.pdf.cell(self.width, 4, footer, align="C")

        draws = [drawn(footer) for footer in footers]
        if self._drawn_as_unit(("footer",), draws, [(footer,) for footer in footers]):
            return
        pdf.set_auto_page_break(False)  # the footer sits inside the bottom margin
        for page in range(1, pages + 1):
            pdf.page = page
            pdf.current_font_is_set_on_page = False  # fpdf2 knows it for the last page only
            pdf.set_xy(pdf.l_margin, pdf.h - MARGIN)
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.2)
            pdf.line(
                pdf.l_margin, pdf.h - MARGIN - 1, pdf.l_margin + self.width, pdf.h - MARGIN - 1
            )
            pdf.set_font(self.body, "", 7.5)
            pdf.set_text_color(*MUTED)
            self._value(draws[page - 1], (footers[page - 1],))
        self._unit_drawn()


@functools.lru_cache(maxsize=16)
def _qr_placement(side: float, left: float, bottom: float, size: int) -> str:
    """The QR code's image mask up to its samples: `size` modules a side, one bit each, 1 for
    a dark module (Decode [1 0]: painted), scaled to `side` points at (`left`, `bottom`); the
    samples in hexadecimal (ASCIIHexDecode: no binary byte in the page's operators)."""
    return (
        f"q {side:.2f} 0 0 {side:.2f} {left:.2f} {bottom:.2f} cm "
        f"BI /IM true /W {size} /H {size} /BPC 1 /D [1 0] /F /AHx ID "
    )


def _qr_samples(rows: tuple[int, ...]) -> str:
    """The rows of modules (gateway.pdf.qr.qr_rows: leftmost the highest bit) as an image's
    samples in hexadecimal: each row padded to whole bytes, as PDF's images are."""
    size = len(rows)
    width = (size + 7) // 8
    shift = width * 8 - size
    return b"".join((bits << shift).to_bytes(width, "big") for bits in rows).hex()


def _height(pdf: FPDF, width: float, line: float, value: str, align: str) -> float:
    """Height in mm of `value` laid out by multi_cell at the current font, without drawing."""
    lines = pdf.multi_cell(width, line, value, align=align, dry_run=True, output="LINES")
    return float(len(cast(list[str], lines))) * line


def _kind(facts: CertificateFacts, lang: str) -> tuple[object, ...]:
    """Certificates whose pages are likely the same but for their values (gateway.pdf.replay
    checks that they are)."""
    record = facts.record
    return (
        lang, record.event, len(record.attachments), bool(record.previous_evidence_sha256),
        bool(record.sender_declared_name), record.reason_code, bool(record.reason),
        record.acceptance_deadline is None,
    )  # fmt: skip


def file_id(facts: CertificateSources, lang: str) -> str:
    """The certificate's file identifier (/ID, both halves alike, as in a file first written):
    a digest of all it is drawn from — the sealed evidence record and its seal, the provider's
    name, URL and time zone, the language —, not of the file's bytes (fpdf2's default, an MD5 of
    the whole file: ~60 µs a certificate). The same facts make the same file and identifier."""
    digest = hashlib.sha256()
    for part in (facts.xml, facts.p7s):
        digest.update(len(part).to_bytes(8, "big") + part)
    given = (facts.provider_name, facts.public_url, facts.zone.key, lang)
    digest.update(repr(given).encode())
    half = digest.hexdigest()[:32].upper()
    return f"<{half}><{half}>"


def _party(name: str, address: str) -> str:
    return f"{name}\n{address}" if name else address


@functools.cache
def shared_renderer() -> CertificateRenderer:
    """One renderer per process: the fonts are parsed once, whatever starts."""
    return CertificateRenderer()
