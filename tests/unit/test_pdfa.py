"""Every proof.pdf is PDF/A-3b: checked with pikepdf (qpdf) as an independent reader.

The certificates are made as the PDF job makes them (render, seal PAdES-B-LT, and for one the
PAdES-LTA archive timestamp), so what is checked is what a sender receives and what is kept.
No PDF/A validator is packaged for Debian (veraPDF needs its own Java build, not to be had
here). pikepdf's allowlist validator (`pikepdf.pdfa`, veraPDF's rule ids) checks the page
content, fonts, colour, metadata and structure; it does not check embedded files, signature
forms, the DSS or developer extensions, so those are asserted one by one below, as is each
PDF/A-3b requirement the certificate could break.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pikepdf
import pikepdf.pdfa
import pytest

from gateway.pdf import resources
from gateway.pdf.pdfa import DocumentInfo, xmp_metadata
from gateway.pdf.render import EVIDENCE_P7S, EVIDENCE_XML
from gateway.verification.pdf import verify_pdf
from tests.support.certificates import CertificateKit, certificate_kit, record

KINDS = ("fr", "en", "ar", "ar archived")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> CertificateKit:
    return certificate_kit(tmp_path_factory.mktemp("pki"), now)


@pytest.fixture(scope="module")
def proofs(kit: CertificateKit) -> dict[str, bytes]:
    made = {lang: kit.sealed(kit.facts(lang)) for lang in ("fr", "en", "ar")}
    made["ar archived"] = kit.archived(made["ar"])
    return made


@pytest.fixture(params=KINDS)
def proof(request: pytest.FixtureRequest, proofs: dict[str, bytes]) -> Iterator[pikepdf.Pdf]:
    with pikepdf.open(io.BytesIO(proofs[request.param])) as pdf:
        yield pdf


def _date(value: str) -> datetime:
    """A PDF date (D:YYYYMMDDHHmmSSZ or with +hh'mm') or an XMP (ISO 8601) date, aware."""
    if value.startswith("D:"):
        found = re.fullmatch(r"D:(\d{14})(Z|([+-])(\d\d)'(\d\d)'?)?", value)
        assert found, value
        offset = "+0000" if found[2] in (None, "Z") else f"{found[3]}{found[4]}{found[5]}"
        return datetime.strptime(found[1] + offset, "%Y%m%d%H%M%S%z")
    return datetime.fromisoformat(value)


# what pikepdf.pdfa leaves unchecked (each is asserted by a test below)
UNCHECKED_BY_PIKEPDF = {
    "interactive forms (/AcroForm) are not supported",  # the invisible seal fields
    "/OpenAction is not supported",  # fpdf2's open-at-page-1 destination, no action
    "unrecognized key(s) /DSS are not checked",  # PAdES validation data
    "embedded files are not supported",  # evidence.xml and its seal
}


def test_pikepdf_finds_no_pdfa_3b_violation(proof: pikepdf.Pdf) -> None:
    """pikepdf's PDF/A-3b validator finds no violation, only the parts it does not check."""
    report = pikepdf.pdfa.check(proof, "3b")
    assert report.violations == ()
    assert {finding.message for finding in report.unsupported} <= UNCHECKED_BY_PIKEPDF


def test_pikepdf_approves_everything_but_the_unchecked_parts(proof: pikepdf.Pdf) -> None:
    """Without the parts pikepdf does not check, its PDF/A-3b validator approves the file."""
    for key in ("/AF", "/Names", "/OpenAction", "/AcroForm", "/DSS", "/Extensions"):
        if key in proof.Root:
            del proof.Root[key]
    for page in proof.pages:
        if "/Annots" in page.obj:
            del page.obj["/Annots"]
    report = pikepdf.pdfa.check(proof, "3b")
    assert report.verdict == "pass", report.summary()


def test_the_xmp_identifies_pdfa_3b(proof: pikepdf.Pdf) -> None:
    """The XMP metadata says PDF/A part 3, conformance B, after sealing and archiving too."""
    meta = proof.open_metadata()
    assert meta.pdfa_status == "3B"
    assert meta["pdfaid:part"] == "3"
    assert meta["pdfaid:conformance"] == "B"


def test_the_document_information_is_mirrored_in_the_xmp(proof: pikepdf.Pdf) -> None:
    """Title, author, subject, creator, producer and dates say the same in /Info and in XMP."""
    info, meta = proof.docinfo, proof.open_metadata()
    assert str(info["/Title"]).endswith("— LRE-20260302-K7Q2M9XW")
    assert meta["dc:title"] == str(info["/Title"])
    assert meta["dc:creator"] == [str(info["/Author"])] == ["LRE Gateway <Test> & Co"]
    assert meta["dc:description"] == str(info["/Subject"]) == "SubmissionAcceptance"
    assert meta["xmp:CreatorTool"] == str(info["/Creator"])
    if "/Producer" in info:  # written by pyHanko to both when it archives; absent before
        assert meta["pdf:Producer"] == str(info["/Producer"])
    else:
        assert "pdf:Producer" not in meta
    created = _date(str(info["/CreationDate"]))
    assert created == _date(meta["xmp:CreateDate"]) == datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)
    if "/ModDate" in info:
        assert _date(str(info["/ModDate"])) == _date(meta["xmp:ModifyDate"])
    assert "/Keywords" not in info
    assert "/Trapped" not in info


def test_the_metadata_stream_is_plain_xmp(proof: pikepdf.Pdf) -> None:
    """The XMP stream is unfiltered, its packet header has no bytes/encoding attribute."""
    stream = proof.Root.Metadata
    assert stream.Type == "/Metadata"
    assert stream.Subtype == "/XML"
    assert "/Filter" not in stream
    raw = stream.read_raw_bytes()
    header = raw.split(b"?>", 1)[0]
    assert header.startswith(b"<?xpacket begin=")
    assert b"bytes=" not in header
    assert b"encoding=" not in header
    ET.fromstring(raw.split(b"?>", 1)[1].rsplit(b"<?xpacket", 1)[0])  # noqa: S314 - ours


def test_the_output_intent_is_srgb_with_its_icc_profile(proof: pikepdf.Pdf) -> None:
    """One GTS_PDFA1 output intent carries an embedded RGB (N=3) ICC profile of PDF 1.7's age:
    the shipped sRGB profile, byte for byte (compressed once per process, gateway.pdf.pdfa)."""
    intents = list(proof.Root.OutputIntents)
    assert len(intents) == 1
    intent = intents[0]
    assert intent.Type == "/OutputIntent"
    assert intent.S == "/GTS_PDFA1"
    assert str(intent.OutputConditionIdentifier)
    profile = intent.DestOutputProfile
    assert int(profile.N) == 3
    icc = profile.read_bytes()
    assert int.from_bytes(icc[:4], "big") == len(icc)
    assert icc[12:16] == b"mntr"
    assert icc[16:20] == b"RGB "
    assert icc[36:40] == b"acsp"
    assert icc[8] <= 4  # ICC major version PDF 1.7 (ISO 32000-1) reads: 2 or 4.0-4.2
    assert icc == resources.srgb_profile()


def _fonts(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Dictionary]:
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font":
            yield obj


def test_every_font_is_embedded(proof: pikepdf.Pdf) -> None:
    """Every font of the file (pages and appearances alike) carries its font program."""
    fonts = list(_fonts(proof))
    assert fonts
    for font in fonts:
        assert font.Subtype != "/Type3"
        parts: Any = font.DescendantFonts if font.Subtype == "/Type0" else [font]
        for part in parts:
            descriptor = part.FontDescriptor
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor.keys()), part
            if part.Subtype == "/CIDFontType2":
                assert "/CIDToGIDMap" in part
    # every page's fonts are among them, so nothing is drawn with an unembedded font
    for page in proof.pages:
        used: Any = page.Resources.get("/Font", {})
        for name in used:
            assert used[name].Subtype == "/Type0"


def _shown(pdf: pikepdf.Pdf) -> Iterator[tuple[int, Any, float, list[int]]]:
    """(text object, font, size, codes) of every string shown, as a PDF reader sees them.

    The font and size are those of the text state in effect: part of the graphics state, so
    q saves them and Q restores them (ISO 32000-1, 8.4.2 and 9.3.1); a Tf set inside q … Q
    is gone after it. The fonts are Identity-H, two bytes a code.
    """
    shows = (pikepdf.Operator("Tj"), pikepdf.Operator("TJ"))
    for page in pdf.pages:
        fonts: Any = page.Resources.get("/Font", {})
        current: tuple[str, float] | None = None
        saved: list[tuple[str, float] | None] = []
        objects = 0
        instruction: Any
        for instruction in pikepdf.parse_content_stream(page):
            operands, operator = instruction
            if operator == pikepdf.Operator("BT"):
                objects += 1
            elif operator == pikepdf.Operator("q"):
                saved.append(current)
            elif operator == pikepdf.Operator("Q"):
                current = saved.pop()
            elif operator == pikepdf.Operator("Tf"):
                current = (str(operands[0]), float(operands[1]))
            elif operator in shows:
                assert current is not None
                items = [operands[0]] if operator == shows[0] else list(operands[0])
                data = b"".join(bytes(item) for item in items if isinstance(item, pikepdf.String))
                codes = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
                yield objects, fonts[current[0]], current[1], codes


def _glyph_ids(pdf: pikepdf.Pdf) -> Iterator[int]:
    """The glyph of every character shown on every page (fonts are CIDFontType2)."""
    for _, font, _, codes in _shown(pdf):
        cid_map = font.DescendantFonts[0].CIDToGIDMap
        table = None if isinstance(cid_map, pikepdf.Name) else cid_map.read_bytes()
        for cid in codes:
            yield cid if table is None else int.from_bytes(table[2 * cid : 2 * cid + 2], "big")


def _text_and_sizes(pdf: pikepdf.Pdf) -> dict[int, tuple[str, set[float]]]:
    """Each text object's text, read back through the ToUnicode maps, and its sizes in pt."""
    maps: dict[Any, dict[int, str]] = {}
    objects: dict[int, tuple[str, set[float]]] = {}
    for number, font, size, codes in _shown(pdf):
        key = font.objgen
        if key not in maps:
            cmap = font.ToUnicode.read_bytes().decode("ascii")
            maps[key] = {
                int(code, 16): bytes.fromhex(text).decode("utf-16-be")
                for code, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]+)>", cmap)
            }
        text, sizes = objects.get(number, ("", set()))
        text += "".join(maps[key].get(code, "\ufffd") for code in codes)
        objects[number] = (text, sizes | {size})
    return objects


def test_no_text_shows_the_notdef_glyph(proof: pikepdf.Pdf) -> None:
    """Every character drawn has a real glyph: PDF/A forbids showing .notdef (glyph 0)."""
    glyphs = list(_glyph_ids(proof))
    assert len(glyphs) > 300  # the whole certificate's text was read
    assert 0 not in glyphs


def test_content_sizes_are_printed_at_the_table_size(proof: pikepdf.Pdf) -> None:
    """The message's and the attachment's sizes are printed at 8 pt, not the caption's 7 pt.

    On the Arabic certificate the previous line starts in the fallback font (DejaVu), which
    fpdf2 alone would leave the next size cell to draw in the font the q … Q restored.
    """
    shown = _text_and_sizes(proof).values()
    number = r"(20[.,]5|10)"  # the sizes (20 480 and 10 000 bytes), unit before or after
    sizes = [sizes for text, sizes in shown if re.fullmatch(rf"(\S+ )?{number}( \S+)?", text)]
    assert len(sizes) == 2, shown
    assert sizes == [{8.0}, {8.0}]


def test_header_and_catalog_agree_on_pdf_17(
    proof: pikepdf.Pdf, proofs: dict[str, bytes], request: pytest.FixtureRequest
) -> None:
    """The file starts %PDF-1.7 (PDF/A-3's base) and the catalog never claims a later version."""
    raw = proofs[request.node.callspec.params["proof"]]
    assert raw.startswith(b"%PDF-1.7\n")
    assert sum(b >= 128 for b in raw.split(b"\n", 2)[1]) >= 4  # the binary comment line
    assert proof.pdf_version == "1.7"
    assert "/Version" not in proof.Root or str(proof.Root.Version) <= "/1.7"
    for prefix, extension in proof.Root.get("/Extensions", {}).items():
        for entry in extension if isinstance(extension, pikepdf.Array) else [extension]:
            assert str(entry.BaseVersion) <= "/1.7", prefix


def test_evidence_files_are_associated_files(proof: pikepdf.Pdf) -> None:
    """evidence.xml (Source) and its seal (Supplement) are in /AF, with MIME type and dates."""
    associated = {str(spec.F): spec for spec in proof.Root.AF}
    assert set(associated) == {EVIDENCE_XML, EVIDENCE_P7S}
    expected = {
        EVIDENCE_XML: ("/Source", "application/xml"),
        EVIDENCE_P7S: ("/Supplement", "application/pkcs7-signature"),
    }
    for name, (relationship, mime) in expected.items():
        spec = associated[name]
        assert spec.Type == "/Filespec"
        assert str(spec.UF) == name
        assert spec.AFRelationship == relationship
        stream = spec.EF.F
        assert stream.Type == "/EmbeddedFile"
        assert str(stream.Subtype) == "/" + mime
        assert "/ModDate" in stream.Params
    # the same files are listed in the EmbeddedFiles name tree, as PDF/A-3 wants
    names = proof.Root.Names.EmbeddedFiles.Names
    assert {str(names[i]) for i in range(0, len(names), 2)} == {EVIDENCE_XML, EVIDENCE_P7S}


def _walk(pdf: pikepdf.Pdf) -> Iterator[pikepdf.Dictionary]:
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary):
            yield obj
        elif isinstance(obj, pikepdf.Stream):
            yield obj.stream_dict


def test_nothing_pdfa_forbids(proof: pikepdf.Pdf) -> None:
    """No encryption, JavaScript, actions, soft masks or blending; annotations are printed."""
    assert "/Encrypt" not in proof.trailer
    assert len(proof.trailer.ID) == 2
    assert "/JavaScript" not in proof.Root.get("/Names", {})
    assert "/AA" not in proof.Root
    assert isinstance(proof.Root.OpenAction, pikepdf.Array)  # a destination (page 1), no action
    acroform: Any = proof.Root.get("/AcroForm", {})
    assert not bool(acroform.get("/NeedAppearances", False))
    for obj in _walk(proof):
        assert not {"/JS", "/AA", "/JavaScript"} & set(obj.keys())
        assert obj.get("/S") not in ("/JavaScript", "/Launch", "/ImportData", "/ResetForm")
        assert obj.get("/SMask", pikepdf.Name.None_) == pikepdf.Name.None_
        assert float(obj.get("/CA", 1)) == 1
        assert float(obj.get("/ca", 1)) == 1
        assert obj.get("/BM", pikepdf.Name.Normal) in (pikepdf.Name.Normal, "/Compatible")
        filters: Any = obj.get("/Filter", [])
        for name in filters if isinstance(filters, pikepdf.Array) else [filters]:
            assert name not in ("/LZWDecode", "/Crypt"), obj
    for page in proof.pages:
        for annotation in page.get("/Annots", []):
            flags = int(annotation.get("/F", 0))
            assert flags & 4
            assert not flags & (1 | 2 | 32)
            rect = [float(x) for x in annotation.Rect]
            if rect[2] - rect[0] or rect[3] - rect[1]:
                assert set(annotation.AP.keys()) == {"/N"}
    assert proof.check_pdf_syntax() == []


def test_the_sealed_pdfa_still_verifies(proofs: dict[str, bytes], kit: CertificateKit) -> None:
    """Keeping the file at PDF 1.7 leaves the seal, its timestamp and the archive valid."""
    for kind, data in proofs.items():
        verdict = verify_pdf(data, kit.anchors, source=f"{kind}.pdf")
        assert verdict.valid, verdict.problems
    assert verify_pdf(proofs["ar archived"], kit.anchors, source="a.pdf").archived


def test_xmp_escapes_what_the_provider_name_and_title_contain() -> None:
    """Markup characters in names stay text in the XMP, which remains well-formed."""
    info = DocumentInfo(
        title='Preuve <b>"x"</b> & co',
        author="A & B <c>",
        subject="SubmissionAcceptance",
        creator="LRE Gateway",
        created=datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC),
        language="fr",
    )
    tree = ET.fromstring(xmp_metadata(info))  # noqa: S314 - our own XMP
    texts = [element.text for element in tree.iter()]
    assert 'Preuve <b>"x"</b> & co' in texts
    assert "A & B <c>" in texts
    assert "2026-01-02T03:04:05+00:00" in texts


def test_names_in_other_scripts_keep_the_certificate_pdfa(kit: CertificateKit) -> None:
    """Greek, Cyrillic and Arabic names are drawn with shipped fonts, no glyph is .notdef."""
    facts = kit.facts("fr", record(sender_name="Ωμέγα Привет محمد", subject="Ελληνικά — Русский"))
    with pikepdf.open(io.BytesIO(kit.sealed(facts))) as pdf:
        assert pdf.open_metadata().pdfa_status == "3B"
        assert 0 not in set(_glyph_ids(pdf))
        assert len(list(_fonts(pdf))) >= 3  # sans, mono and the Arabic fallback


def test_fonts_are_read_from_the_package_only() -> None:
    """The certificate's fonts are files of the gateway package, not of the machine."""
    from gateway.pdf import render

    package = Path(render.__file__).parent
    for path in render.find_fonts().values():
        assert path.is_file()
        assert path.parent == package / "fontfiles"
