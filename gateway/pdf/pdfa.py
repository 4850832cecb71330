"""PDF/A-3b (ISO 19005-3, level B) for the proof certificates.

What the archival format asks of a certificate, and where it is done:

- XMP metadata with the PDF/A identification (pdfaid:part 3, conformance B) and the document
  information dictionary mirrored in it (title, author, subject, creator tool, creation date):
  `xmp_metadata()`, written by `make_pdfa()`;
- an output intent GTS_PDFA1 with an embedded ICC profile (sRGB, shipped in the package);
- every font embedded: the certificate only draws with the TrueType fonts shipped in the
  package (gateway.pdf.resources), never with a PDF standard font;
- the header version is the catalog's: PDF 1.7 (the base of PDF/A-3) from the first byte, and
  `PdfA3Writer` keeps pyHanko's signature and timestamps from raising it to PDF 2.0 (pyHanko
  declares ISO/TS 32002, a PDF 2.0 extension, for ECDSA seals);
- evidence.xml and its seal are embedded files with /AFRelationship, listed in the catalog's
  /AF array, with their MIME type as /Subtype (render.py's `embed_file` calls);
- no encryption, JavaScript, transparency or annotations without appearance (none is made).

The checks, with pikepdf as the independent reader, are in tests/unit/test_pdfa.py.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from xml.sax.saxutils import escape

from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile
from fpdf.syntax import Name, PDFObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

PDF_VERSION: Final = "1.7"  # PDF/A-3 is based on ISO 32000-1, PDF 1.7
MAX_VERSION: Final = (1, 7)
PDFA_PART: Final = 3
PDFA_CONFORMANCE: Final = "B"
SRGB_CONDITION: Final = "sRGB IEC61966-2.1"  # ICC characterisation data registry name
SRGB_REGISTRY: Final = "http://www.color.org"


@dataclass(frozen=True)
class DocumentInfo:
    """The document information of a certificate, written both to /Info and to XMP."""

    title: str
    author: str
    subject: str
    creator: str
    created: datetime
    language: str


def _text(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _xmp_date(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def xmp_metadata(info: DocumentInfo) -> str:
    """The XMP packet body (fpdf2 adds the xpacket wrapper) identifying PDF/A-3b."""
    created = _xmp_date(info.created)
    return "\n".join(
        [
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
            '  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
            '    <rdf:Description rdf:about=""',
            '        xmlns:dc="http://purl.org/dc/elements/1.1/"',
            '        xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
            '        xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">',
            f"      <pdfaid:part>{PDFA_PART}</pdfaid:part>",
            f"      <pdfaid:conformance>{PDFA_CONFORMANCE}</pdfaid:conformance>",
            "      <dc:format>application/pdf</dc:format>",
            "      <dc:title><rdf:Alt>",
            f'        <rdf:li xml:lang="x-default">{_text(info.title)}</rdf:li>',
            "      </rdf:Alt></dc:title>",
            "      <dc:creator><rdf:Seq>",
            f"        <rdf:li>{_text(info.author)}</rdf:li>",
            "      </rdf:Seq></dc:creator>",
            "      <dc:description><rdf:Alt>",
            f'        <rdf:li xml:lang="x-default">{_text(info.subject)}</rdf:li>',
            "      </rdf:Alt></dc:description>",
            "      <dc:language><rdf:Bag>",
            f"        <rdf:li>{_text(info.language)}</rdf:li>",
            "      </rdf:Bag></dc:language>",
            f"      <xmp:CreatorTool>{_text(info.creator)}</xmp:CreatorTool>",
            f"      <xmp:CreateDate>{created}</xmp:CreateDate>",
            f"      <xmp:ModifyDate>{created}</xmp:ModifyDate>",
            "    </rdf:Description>",
            "  </rdf:RDF>",
            "</x:xmpmeta>",
        ]
    )


def make_pdfa(pdf: FPDF, info: DocumentInfo, icc_profile: bytes) -> None:
    """Make `pdf` (before anything is drawn) a PDF/A-3b document with this information."""
    pdf.set_title(info.title)
    pdf.set_author(info.author)
    pdf.set_subject(info.subject)
    pdf.set_creator(info.creator)
    pdf.set_lang(info.language)
    pdf.set_creation_date(info.created)
    pdf.set_xmp_metadata(xmp_metadata(info))
    pdf.pdf_version = PDF_VERSION
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier=SRGB_CONDITION,
        output_condition=SRGB_CONDITION,
        registry_name=SRGB_REGISTRY,
        dest_output_profile=_SharedICCProfile(_compressed(icc_profile), n=3, alternate="DeviceRGB"),
        info=SRGB_CONDITION,
    )


@functools.lru_cache(maxsize=4)
def _compressed(icc_profile: bytes) -> bytes:
    """The profile as fpdf2's PDFICCProfile compresses it: once per process, not per PDF."""
    return zlib.compress(icc_profile, level=PDFICCProfile._COMPRESSION_LEVEL)


class _SharedICCProfile(PDFICCProfile):
    """fpdf2's ICC profile stream, its contents already compressed (`_compressed`)."""

    __slots__ = ()

    def __init__(self, compressed: bytes, n: int, alternate: str) -> None:
        PDFObject.__init__(self)
        self._contents = compressed
        self.filter = Name("FlateDecode")
        self.length = len(compressed)
        self.n = n
        self.alternate = Name(alternate)


def _version(name: object) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in str(name).lstrip("/").split("."))
    except ValueError:
        return (99,)


class PdfA3Writer(IncrementalPdfFileWriter):
    """pyHanko's incremental writer that keeps a PDF/A-3 document at PDF 1.7.

    pyHanko raises the catalog /Version to 2.0 and declares the ISO/TS 32002 extension when
    it signs with ECDSA on a NIST or Brainpool curve. PDF/A-3 is a PDF 1.7 format (ECDSA
    signatures are PAdES's own, declared by the ESIC extension that is kept): requests for a
    version above 1.7, and extensions to such a version, are ignored.
    """

    def ensure_output_version(self, version: Any) -> None:
        if tuple(version) <= MAX_VERSION:
            super().ensure_output_version(version)  # type: ignore[no-untyped-call]

    def register_extension(self, ext: Any) -> None:
        if _version(ext.base_version) <= MAX_VERSION:
            super().register_extension(ext)
