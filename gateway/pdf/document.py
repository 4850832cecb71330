"""A certificate's document written at once, as fpdf2 (2.8.9) would write it.

fpdf2's writer (`OutputProducer.bufferize`) builds an object for every part of the file, walks
its feature list (images, patterns, shadings, annotations, outlines, structure tree…), numbers
the objects, then serialises them one by one: ~1.3 ms for a one-page certificate, of which the
certificate's own parts need little. `written()` writes the same bytes for what a certificate
holds — its pages, its fonts (their objects as serialised for an earlier document:
gateway.pdf.fonts, `_Font.written`), the output intent with its ICC profile, the embedded
evidence and seal, the XMP metadata and the information dictionary — and returns None for a
document that holds anything else, or whose fonts were not written yet: fpdf2 writes those.

tests/unit/test_pdf_document.py compares both writers on certificates of every proof type,
language and length.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from fpdf import FPDF
from fpdf.annotations import FileSpec, PDFEmbeddedFile
from fpdf.enums import PageLayout, PDFResourceType
from fpdf.syntax import PDFDate, PDFString

from gateway.pdf.serialise import serialised

__all__ = ["written"]

HEADER: Final = "%PDF-{version}\n%éëñ¿\n"
PROC_SET: Final = "[/PDF /Text /ImageB /ImageC /ImageI]"
GROUP: Final = "<</Type /Group /S /Transparency /CS /DeviceRGB>>"
XMP_BEGIN: Final = f'<?xpacket begin="{chr(0xFEFF)}" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XMP_END: Final = '\n<?xpacket end="w"?>\n'
FONTS_EACH: Final = 7  # objects of a TrueType font (gateway.pdf.fonts: `_font_objects`)


def written(
    pdf: FPDF,
    fonts: Sequence[Any],
    font_texts: Callable[[Any, int], tuple[str, ...] | None],
    compression: int,
) -> bytearray | None:
    """The document's bytes, or None when fpdf2 must write it (see the module's text).

    `fonts`: the document's fonts in the order of their numbers, each a TrueType font of
    gateway.pdf.fonts; `font_texts(font, first)` their objects' texts numbered from `first`
    on, or None; `compression`: the zlib level of the pages' content streams."""
    if not _plain(pdf):
        return None
    pages = [pdf.pages[n] for n in range(1, pdf.pages_count + 1)]
    files: list[PDFEmbeddedFile] = list(pdf.embedded_files)
    intent = next(iter(pdf.output_intents))
    profile = intent.dest_output_profile
    catalog = 3
    first_page = catalog + 1
    first_file = first_page + 2 * len(pages)
    first_font = first_file + 2 * len(files)
    first_resources = first_font + FONTS_EACH * len(fonts)
    metadata = first_resources + len(pages)
    info = metadata + 1
    count = info + 1

    texts: list[str] = []
    font_ids: dict[int, int] = {}
    for n, font in enumerate(fonts):
        found = font_texts(font, first_font + FONTS_EACH * n)
        if found is None or len(found) != FONTS_EACH:
            return None
        texts.extend(found)
        font_ids[int(font.i)] = first_font + FONTS_EACH * n

    out = bytearray(HEADER.format(version=pdf.pdf_version).encode("latin-1"))
    offsets = [0] * count

    def put(number: int, text: str | bytes) -> None:
        nonlocal out
        offsets[number] = len(out)
        out += text.encode("latin-1") if isinstance(text, str) else text
        out += b"\n"

    kids = "\n".join(f"{first_page + 2 * n} 0 R" for n in range(len(pages)))  # PDFArray
    width, height = pdf.default_page_dimensions
    put(1, f"1 0 obj\n<<\n/Count {len(pages)}\n/Kids [{kids}]\n"
           f"/MediaBox [0 0 {width:.2f} {height:.2f}]\n/Type /Pages\n>>\nendobj")  # fmt: skip
    put(2, _profile_text(profile))
    specs = [first_file + 2 * n + 1 for n in range(len(files))]
    names = " ".join(
        f"{PDFString(file.basename()).serialize()} {spec} 0 R"
        for file, spec in zip(files, specs, strict=True)
    )
    intent_text = _intent_text(intent)
    lang = getattr(pdf, "lang", None)
    put(
        catalog,
        f"{catalog} 0 obj\n<<\n/AF [{' '.join(f'{spec} 0 R' for spec in specs)}]\n"
        + (f"/Lang {PDFString(lang).serialize()}\n" if lang else "")
        + f"/Metadata {metadata} 0 R\n"
        f"/Names <</EmbeddedFiles <</Names [{names}]>>>>\n"
        f"/OpenAction [{first_page} 0 R /FitH null]\n"
        f"/OutputIntents [{intent_text}]\n"
        f"/PageLayout /OneColumn\n/Pages 1 0 R\n/Type /Catalog\n>>\nendobj",
    )
    for n, page in enumerate(pages):
        number = first_page + 2 * n
        put(number, f"{number} 0 obj\n<<\n/Contents {number + 1} 0 R\n/Group {GROUP}\n"
                    f"/Parent 1 0 R\n/Resources {first_resources + n} 0 R\n/Type /Page\n"
                    ">>\nendobj")  # fmt: skip
        contents = zlib.compress(cast(bytearray, page.contents), compression)  # _plain
        put(
            number + 1,
            f"{number + 1} 0 obj\n<<\n/Filter /FlateDecode\n/Length {len(contents)}\n>>\n"
            "stream\n".encode("latin-1")
            + contents
            + b"\nendstream\nendobj",
        )
    for n, file in enumerate(files):
        file.id = first_file + 2 * n
        put(file.id, _embedded_file(file))
        put(file.id + 1, _file_spec(file, file.id + 1))
    for n, text in enumerate(texts):
        put(first_font + n, text)
    catalogue = pdf._resource_catalog
    for n in range(len(pages)):
        fonts_of_page = catalogue.get_resources_per_page(n + 1, PDFResourceType.FONT)
        used = sorted(int(cast(Any, i)) for i in fonts_of_page)
        font = "\n".join(f"/F{i} {font_ids[i]} 0 R" for i in used)
        number = first_resources + n
        put(number, f"{number} 0 obj\n<<\n" + (f"/Font <<{font}>>\n" if used else "")
                    + f"/ProcSet {PROC_SET}\n>>\nendobj")  # fmt: skip
    xmp = f"{XMP_BEGIN}{pdf.xmp_metadata}{XMP_END}".encode()  # PDFXmpMetadata
    put(
        metadata,
        f"{metadata} 0 obj\n<<\n/Length {len(xmp)}\n/Subtype /XML\n/Type /Metadata\n>>\n"
        "stream\n".encode("latin-1")
        + xmp
        + b"\nendstream\nendobj",
    )
    put(info, _info(pdf, info))

    startxref = len(out)
    file_id = _file_id(pdf, out)
    table = "".join(f"{offset:010} 00000 n \n" for offset in offsets[1:])
    out += (
        f"xref\n0 {count}\n0000000000 65535 f \n{table}trailer\n<<\n/Size {count}\n"
        f"/Root {catalog} 0 R\n/Info {info} 0 R\n/ID [{file_id}]\n>>\nstartxref\n"
        f"{startxref}\n%%EOF\n"
    ).encode("latin-1")
    return out


# the last output intent written (its values) and ICC profile (its class and compressed bytes,
# kept alive: `is` cannot mistake others), and their texts: every certificate has the same
_INTENT: list[tuple[object, str]] = [(None, "")]
_PROFILE: list[tuple[object, bytes, str]] = [(None, b"", "")]


def _intent_text(intent: Any) -> str:
    """The output intent's dictionary (its profile is object 2), written once for its values."""
    key = tuple(
        str(getattr(intent, name))
        for name in ("type", "s", "output_condition_identifier", "output_condition",
                     "registry_name", "info")
    )  # fmt: skip
    known, text = _INTENT[0]
    if known != key:
        intent.dest_output_profile.id = 2
        text = intent.serialize()
        _INTENT[0] = (key, text)
    return text


def _profile_text(profile: Any) -> str:
    """The ICC profile's stream object, numbered 2: the same compressed bytes, object and
    text in every certificate (gateway.pdf.pdfa)."""
    known, contents, text = _PROFILE[0]
    if known is not type(profile) or contents is not profile._contents:
        profile.id = 2
        text = serialised(profile)
        _PROFILE[0] = (type(profile), profile._contents, text)
    return text


# an embedded file's public attributes (fpdf.annotations.PDFEmbeddedFile) written here
EMBEDDED_FILE: Final = frozenset(("filter", "length", "params", "subtype", "type"))


def _embedded_file(file: PDFEmbeddedFile) -> str | bytes:
    """The embedded file's stream object, as fpdf2 serialises it."""
    public = {name for name in vars(file) if not name.startswith("_")}
    subtype = file.subtype
    if not public <= EMBEDDED_FILE or file.type != "EmbeddedFile" or subtype is None:
        return serialised(file)
    contents = file._contents
    flate = getattr(file, "filter", None)
    filtered = f"/Filter {flate.serialize()}\n" if flate is not None else ""
    return (
        (
            f"{file.id} 0 obj\n<<\n{filtered}/Length {len(contents)}\n/Params {file.params}\n"
            f"/Subtype {subtype.serialize()}\n/Type /EmbeddedFile\n>>\nstream\n"
        ).encode("latin-1")
        + contents
        + b"\nendstream\nendobj"
    )


FILE_SPEC: Final = frozenset(("a_f_relationship", "desc", "f", "type", "u_f"))


def _file_spec(file: PDFEmbeddedFile, number: int) -> str:
    """The embedded file's file specification (fpdf.annotations.FileSpec), numbered."""
    spec = file.file_spec()
    spec.id = number
    public = {name for name in vars(spec) if not name.startswith("_")}
    if type(spec) is not FileSpec or not public <= FILE_SPEC or spec.type != "Filespec":
        return serialised(spec)
    relationship = getattr(spec, "a_f_relationship", None)
    desc = getattr(spec, "desc", None)
    return (
        f"{number} 0 obj\n<<\n"
        + (f"/AFRelationship {relationship.serialize()}\n" if relationship else "")
        + (f"/Desc {desc.serialize()}\n" if desc else "")
        + f"/EF <</F {file.id} 0 R>>\n/F {spec.f.serialize()}\n/Type /Filespec\n"
        f"/UF {spec.u_f.serialize()}\n>>\nendobj"
    )


# the information dictionary's entries, in fpdf2's order (sorted), by FPDF attribute
INFO: Final = (("/Author", "author"), ("/Creator", "creator"), ("/Keywords", "keywords"),
               ("/Producer", "producer"), ("/Subject", "subject"), ("/Title", "title"))  # fmt: skip


def _info(pdf: FPDF, number: int) -> str:
    """The document information dictionary (fpdf.output.PDFInfo), as fpdf2 serialises it."""
    entries = {}
    for key, name in INFO:
        value = getattr(pdf, name, None)
        if isinstance(value, list | tuple | set):
            value = ("; " if name == "author" else ", ").join(str(v) for v in value)
        if value:
            entries[key] = PDFString(value, encrypt=True).serialize()
    entries["/CreationDate"] = PDFDate(pdf.creation_date, with_tz=True, encrypt=True).serialize()
    body = "\n".join(f"{key} {value}" for key, value in sorted(entries.items()))
    return f"{number} 0 obj\n<<\n{body}\n>>\nendobj"


def _file_id(pdf: FPDF, buffer: bytearray) -> str:
    """fpdf2's default file identifier (FPDF._default_file_id) of the document so far."""
    found = pdf.file_id()
    if found != -1:
        return str(found)
    id_hash = hashlib.new("md5", usedforsecurity=False)
    id_hash.update(buffer)
    if pdf.creation_date:
        id_hash.update(pdf.creation_date.strftime("%Y%m%d%H%M%S").encode("utf8"))
    digest = id_hash.hexdigest().upper()
    return f"<{digest}><{digest}>"


def _plain(pdf: FPDF) -> bool:
    """Whether `pdf` holds only what a certificate holds, set as the certificate sets it."""
    catalogue = pdf._resource_catalog
    if (
        pdf._security_handler is not None
        or pdf._compliance
        or pdf._sign_key
        or not pdf.compress
        or pdf.viewer_preferences
        or pdf.page_mode is not None
        or pdf.zoom_mode != "fullwidth"
        or pdf.page_layout != PageLayout.ONE_COLUMN
        or pdf.pdf_version <= "1.3"
        or not pdf.allow_images_transparency
        or pdf.single_resources_object
        or pdf.image_cache.images
        or pdf.named_destinations
        or pdf.toc_placeholder
        or pdf._outline
        or pdf.struct_builder.doc_struct_elem.k
        or catalogue.graphics_styles
        or catalogue.optional_content_groups
        or catalogue.soft_mask_xobjects
        or catalogue.form_xobjects
        or {kind for (_, kind) in catalogue.resources_per_page} - {PDFResourceType.FONT}
        or len(pdf.output_intents) != 1
        or next(iter(pdf.output_intents)).dest_output_profile is None
        or not pdf.xmp_metadata
        or pdf.creation_date is None
        or pdf.pages_count < 1
    ):
        return False
    if not all(file.globally_enclosed() for file in pdf.embedded_files):
        return False
    return all(
        isinstance(pdf.pages[n].contents, bytearray)
        and not pdf.pages[n].annots
        and pdf.pages[n].dimensions() == pdf.default_page_dimensions
        and pdf.pages[n].get_page_label() is None
        for n in range(1, pdf.pages_count + 1)
    )
