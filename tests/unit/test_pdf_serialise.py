"""gateway.pdf.serialise writes every object of a certificate as fpdf2 itself serialises it."""

from __future__ import annotations

import pytest
from fpdf.output import PDFCatalog, PDFPage
from fpdf.syntax import PDFContentStream

from gateway.pdf import serialise
from gateway.pdf.fonts import FontOutputProducer
from gateway.pdf.render import CertificateRenderer
from tests.support.certificate_corpus import corpus


def test_certificates_are_the_bytes_fpdf2_serialises(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = CertificateRenderer()
    for facts in corpus()[::4]:
        ours = renderer.render(facts)
        monkeypatch.setattr(FontOutputProducer, "own_serialisation", False)
        theirs = renderer.render(facts)
        monkeypatch.setattr(FontOutputProducer, "own_serialisation", True)
        assert ours == theirs
    for written in (PDFCatalog, PDFPage, PDFContentStream):  # by gateway.pdf.serialise
        assert serialise._PLANS[written] is not None
