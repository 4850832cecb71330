"""The pages' content streams are compressed at zlib's level `gateway.pdf.fonts.PAGE_COMPRESSION`,
faster than fpdf2's: the very same document otherwise, the same pages once decoded.

Read back with pikepdf (qpdf decodes the streams), independent of the code that wrote them.
"""

from __future__ import annotations

import io
import zlib

import pikepdf
import pytest
from fpdf.syntax import PDFContentStream

from gateway.pdf import fonts
from gateway.pdf.render import CertificateRenderer
from tests.support.certificate_corpus import corpus

FPDF2_LEVEL = PDFContentStream._COMPRESSION_LEVEL  # zlib's default, 6


def objects(pdf: bytes) -> tuple[dict[int, bytes], list[bytes], list[bytes]]:
    """Every object but the pages' content streams (streams decoded, /Length left out), each
    page's content stream as stored, and decoded."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        contents = {page.obj.Contents.objgen for page in document.pages}
        stored = [page.obj.Contents.read_raw_bytes() for page in document.pages]
        decoded = [page.obj.Contents.read_bytes() for page in document.pages]
        others = {}
        for obj in document.objects:
            if obj.objgen in contents or obj.objgen == (0, 0):
                continue
            if isinstance(obj, pikepdf.Stream):
                dictionary = pikepdf.Dictionary(dict(obj.stream_dict.items()))
                del dictionary["/Length"]
                others[obj.objgen[0]] = dictionary.unparse(resolved=True) + obj.read_bytes()
            else:
                others[obj.objgen[0]] = obj.unparse(resolved=True)
    return others, stored, decoded


@pytest.mark.parametrize("number", [0, 7, 16, 30, 47, 61, 75, 89])  # every language, two pages
def test_the_pages_are_those_fpdf2s_level_writes_and_smaller_work(
    monkeypatch: pytest.MonkeyPatch, number: int
) -> None:
    facts = corpus()[number]
    renderer = CertificateRenderer()
    renderer.render(facts)  # the QR code's mask chosen for this URL length (gateway/pdf/qr.py)
    faster = renderer.render(facts)
    monkeypatch.setattr(fonts, "PAGE_COMPRESSION", FPDF2_LEVEL)
    as_fpdf2 = renderer.render(facts)

    assert faster != as_fpdf2
    others, stored, decoded = objects(faster)
    others_fpdf2, stored_fpdf2, decoded_fpdf2 = objects(as_fpdf2)
    assert others == others_fpdf2
    assert decoded == decoded_fpdf2
    monkeypatch.undo()
    for page, raw in zip(decoded, stored, strict=True):
        assert raw == zlib.compress(page, fonts.PAGE_COMPRESSION)
    for page, raw in zip(decoded_fpdf2, stored_fpdf2, strict=True):
        assert raw == zlib.compress(page, FPDF2_LEVEL)
