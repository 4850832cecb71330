"""The proof certificate as a one-page PDF (fpdf2), in French, English or Arabic.

Pure apart from reading the font files once: `CertificateRenderer.render()` turns an evidence
record into PDF bytes carrying evidence.xml and its seal as associated files. Arabic is shaped
by HarfBuzz (fpdf2's text shaping) and laid out right to left.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from gateway import i18n
from gateway.core.evidence import EvidenceRecord, EvidenceType
from gateway.pdf import resources
from gateway.pdf.fonts import ARABIC, LATIN, FontBook, FontOutputProducer
from gateway.pdf.pdfa import DocumentInfo, make_pdfa
from gateway.pdf.text import recipient_identification, sender_identification, text

EVIDENCE_XML: Final = "evidence.xml"
EVIDENCE_P7S: Final = "evidence.xml.p7s"
SCRIPTS: Final = {"sans": LATIN, "mono": LATIN, "arabic": LATIN + ARABIC}  # see gateway.pdf.fonts
INK: Final = (33, 37, 41)
MUTED: Final = (96, 104, 112)
ACCENT: Final = (26, 54, 93)
RULE: Final = (200, 206, 214)
PANEL: Final = (243, 245, 248)
MARGIN: Final = 18.0
LABEL_WIDTH: Final = 52.0
QR_SIZE: Final = 30.0


def find_fonts() -> dict[tuple[str, str], Path]:
    """Every font the certificate needs: shipped in the package, never looked up on the machine."""
    resources.check()
    return resources.font_paths()


@dataclass(frozen=True)
class CertificateFacts:
    """What one certificate shows, besides the evidence record itself."""

    record: EvidenceRecord
    xml: bytes
    p7s: bytes
    provider_name: str
    public_url: str
    zone: ZoneInfo
    language: str

    @property
    def verify_url(self) -> str:
        return verify_url(self.public_url, self.record.evidence_id)


def verify_url(public_url: str, evidence_id: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{evidence_id}"


class CertificateRenderer:
    """Renders certificates; the fonts are read and parsed once (gateway.pdf.fonts)."""

    def __init__(self, fonts: dict[tuple[str, str], Path] | None = None) -> None:
        self._fonts = FontBook(fonts or find_fonts(), SCRIPTS)
        self._icc_profile = resources.srgb_profile()
        self._lock = threading.Lock()

    def render(self, facts: CertificateFacts) -> bytes:
        lang = facts.language if facts.language in i18n.LANGUAGES else i18n.DEFAULT
        with self._lock:  # the shared HarfBuzz and fontTools objects are not meant for threads
            return _Page(self._fonts.for_document(), facts, lang, self._icc_profile).build()


class _Page:
    def __init__(
        self, fonts: dict[str, Any], facts: CertificateFacts, lang: str, icc_profile: bytes
    ) -> None:
        self.facts, self.lang, self.record = facts, lang, facts.record
        self.rtl = i18n.direction(lang) == "rtl"
        pdf = FPDF(format="A4", unit="mm")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=MARGIN + 6)
        pdf.fonts.update(fonts)
        pdf.set_fallback_fonts(["sans"] if self.rtl else ["arabic"], exact_match=False)
        pdf.set_text_shaping(
            use_shaping_engine=True,
            direction="rtl" if self.rtl else "ltr",
            script="arab" if self.rtl else "latn",
            language="ara" if self.rtl else None,
        )
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
        self.pdf = pdf
        self.width = pdf.epw

    def _title(self) -> str:
        return i18n.evidence_title(self.lang, self.record.event)

    def _when(self, dt: datetime) -> str:
        return i18n.format_time(dt, self.lang, self.facts.zone)

    def build(self) -> bytes:
        pdf, record, lang = self.pdf, self.record, self.lang
        pdf.alias_nb_pages("{pages}")
        pdf.add_page()
        self._header()
        self._section(text(lang, "pdf.parties"))
        self._row(text(lang, "pdf.sender"), _party(record.sender_name, record.sender_address))
        self._row(
            text(lang, "pdf.sender_identified"),
            sender_identification(lang, record.sender_authentication),
        )
        self._row(text(lang, "pdf.recipient"), record.recipient_address)
        self._row(
            text(lang, "pdf.recipient_identified"),
            recipient_identification(lang, record.recipient_identification),
        )
        self._row(text(lang, "pdf.subject"), record.subject or "—")
        self._section(text(lang, "pdf.dates"))
        self._row(text(lang, "proof.deposited"), self._when(record.submission_time))
        self._row(text(lang, "proof.event_time"), self._when(record.event_time))
        if record.acceptance_deadline and record.event in (
            EvidenceType.SubmissionAcceptance,
            EvidenceType.AcceptanceRejectionExpiry,
            EvidenceType.ConsignmentAcceptance,
            EvidenceType.ConsignmentRejection,
        ):
            self._row(text(lang, "proof.deadline"), self._when(record.acceptance_deadline))
        if record.reason:
            self._row(text(lang, "proof.reason"), record.reason)
        self._section(text(lang, "pdf.message"))
        self._file_row("message.eml", record.message_size, record.message_sha256)
        self._section(f"{text(lang, 'proof.attachments')} ({len(record.attachments)})")
        if not record.attachments:
            self._row("", text(lang, "proof.no_attachments"))
        for attachment in record.attachments:
            self._file_row(attachment.name, attachment.size, attachment.sha256)
        self._section(text(lang, "pdf.provider_title"))
        self._row(text(lang, "pdf.provider"), f"{record.provider_name} ({record.provider_domain})")
        self._row(text(lang, "pdf.policy"), record.policy_id)
        self._row(text(lang, "proof.evidence_id"), record.evidence_id, mono=True)
        self._row(text(lang, "pdf.status_page"), self.facts.verify_url, mono=True)
        if record.previous_evidence_sha256:
            self._row(text(lang, "proof.previous"), record.previous_evidence_sha256, mono=True)
        self._verify_box()
        self._footer()
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

    def _header(self) -> None:
        pdf, lang = self.pdf, self.lang
        pdf.set_fill_color(*ACCENT)
        pdf.rect(0, 0, pdf.w, 6, style="F")
        top = MARGIN - 4
        text_width = self.width - QR_SIZE - 8
        pdf.set_xy(self._x(0, text_width), top)
        pdf.set_text_color(*MUTED)
        pdf.set_font(self.body, "", 9.5)
        pdf.cell(
            text_width,
            5,
            f"{self.facts.provider_name} · {text(lang, 'pdf.heading')}",
            align=self.align,
        )
        pdf.set_xy(self._x(0, text_width), top + 7)
        pdf.set_text_color(*ACCENT)
        pdf.set_font(self.body, "B", 22)
        pdf.multi_cell(text_width, 10, self._title(), align=self.align)
        pdf.set_x(self._x(0, text_width))
        pdf.set_text_color(*INK)
        pdf.set_font(self.body, "", 10.5)
        what = text(
            lang, f"event.{self.record.event.value}", time=self._when(self.record.event_time)
        )
        pdf.multi_cell(text_width, 5.4, what, align=self.align)
        pdf.ln(2)
        pdf.set_x(self._x(0, text_width))
        pdf.set_fill_color(*PANEL)
        pdf.set_font(self.body, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(text_width, 6, f"  {text(lang, 'pdf.reference')}", fill=True, align=self.align)
        pdf.ln(6)
        pdf.set_x(self._x(0, text_width))
        pdf.set_font("mono", "", 13)
        pdf.set_text_color(*INK)
        pdf.cell(text_width, 8, f"  {self.record.letter_reference}  ", fill=True, align=self.align)
        bottom = pdf.get_y() + 8
        self._qr(self._x(self.width - QR_SIZE, QR_SIZE), top)
        pdf.set_y(max(bottom, top + QR_SIZE + 10))

    def _qr(self, x: float, y: float) -> None:
        pdf = self.pdf
        code = segno.make(self.facts.verify_url, error="m", micro=False)
        matrix = list(code.matrix)
        module = QR_SIZE / len(matrix)
        pdf.set_fill_color(0, 0, 0)
        for row, cells in enumerate(matrix):
            start = None
            for col, dark in enumerate([*cells, 0]):
                if dark and start is None:
                    start = col
                elif not dark and start is not None:
                    pdf.rect(
                        x + start * module,
                        y + row * module,
                        (col - start) * module,
                        module,
                        style="F",
                    )
                    start = None
        pdf.set_xy(x - 4, y + QR_SIZE + 0.5)
        pdf.set_font(self.body, "", 7.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(QR_SIZE + 8, 4, text(self.lang, "pdf.scan"), align="C")

        # no link annotation: fpdf2 writes /Annots entries as direct objects, which pyHanko's
        # modification analysis rejects once an archive timestamp is added; the URL is printed.

    def _section(self, title: str) -> None:
        pdf = self.pdf
        pdf.ln(3)
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        pdf.set_x(pdf.l_margin)
        pdf.set_font(self.body, "B", 11)
        pdf.set_text_color(*ACCENT)
        pdf.cell(self.width, 7, title, align=self.align)
        pdf.ln(7)
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.4)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(1.5)

    def _row(self, label: str, value: str, *, mono: bool = False) -> None:
        pdf = self.pdf
        top = pdf.get_y()
        pdf.set_xy(self._x(0, LABEL_WIDTH), top)
        pdf.set_font(self.body, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(LABEL_WIDTH - 2, 5, label, align=self.align)
        label_bottom = pdf.get_y()
        value_width = self.width - LABEL_WIDTH
        pdf.set_xy(self._x(LABEL_WIDTH, value_width), top)
        pdf.set_text_color(*INK)
        if mono:
            pdf.set_font("mono", "", 8.5)
        else:
            pdf.set_font(self.body, "", 10)
        pdf.multi_cell(value_width, 5, value, align=self.align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(label_bottom, pdf.get_y()) + 1)

    def _file_row(self, name: str, size: int, sha256: str) -> None:
        lang = self.lang
        self._row(text(lang, "pdf.name"), f"{name} — {i18n.format_size(size, lang)}")
        self._row("SHA-256", sha256, mono=True)

    def _verify_box(self) -> None:
        pdf, lang = self.pdf, self.lang
        body = text(
            lang,
            "pdf.verify_body",
            provider=self.facts.provider_name,
            url=self.facts.public_url.rstrip("/") + "/verify",
            anchors=self.facts.public_url.rstrip("/") + "/pki/",
        )
        pdf.ln(4)
        if pdf.get_y() > pdf.h - 55:
            pdf.add_page()
        pdf.set_x(pdf.l_margin)
        pdf.set_fill_color(*PANEL)
        pdf.set_font(self.body, "B", 10)
        pdf.set_text_color(*ACCENT)
        pdf.cell(
            self.width,
            7,
            f"  {text(lang, 'pdf.verify_title')}  ",
            fill=True,
            align=self.align,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_font(self.body, "", 8.8)
        pdf.set_text_color(*INK)
        pdf.multi_cell(
            self.width,
            4.6,
            body,
            fill=True,
            align="J" if not self.rtl else "R",
            padding=(1, 3, 3, 3),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )

    def _footer(self) -> None:
        pdf = self.pdf
        pdf.set_auto_page_break(False)  # the footer sits inside the bottom margin
        for page in range(1, pdf.page + 1):
            pdf.page = page
            pdf.set_xy(pdf.l_margin, pdf.h - MARGIN)
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.2)
            pdf.line(
                pdf.l_margin, pdf.h - MARGIN - 1, pdf.l_margin + self.width, pdf.h - MARGIN - 1
            )
            pdf.set_font(self.body, "", 7.5)
            pdf.set_text_color(*MUTED)
            pdf.cell(
                self.width,
                4,
                text(
                    self.lang, "pdf.footer", id=self.record.evidence_id, page=page, pages="{pages}"
                ),
                align="C",
            )


def _party(name: str, address: str) -> str:
    return f"{name}\n{address}" if name else address


@functools.cache
def shared_renderer() -> CertificateRenderer:
    """One renderer per process: the fonts are parsed once, whatever starts."""
    return CertificateRenderer()
