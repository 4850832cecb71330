"""gateway.pdf.document writes a certificate's document as fpdf2's own writer does, byte for
byte, and fpdf2's writer is then not needed."""

from __future__ import annotations

import io
from dataclasses import replace

import pikepdf
import pytest
from fpdf.output import OutputProducer

from gateway.pdf.fonts import FontOutputProducer
from gateway.pdf.render import CertificateRenderer
from tests.support.certificate_corpus import corpus


def test_every_certificate_of_the_corpus_is_the_bytes_fpdf2_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every proof type, language, name and subject length, number of attachments (one page
    and more): the same bytes from both writers."""
    renderer = CertificateRenderer()
    pages = set()
    for facts in corpus():
        ours = renderer.render(facts)
        monkeypatch.setattr(FontOutputProducer, "at_once", False)
        theirs = renderer.render(facts)
        monkeypatch.undo()
        assert ours == theirs
        pages.add(ours.count(b"/Type /Page\n"))
    assert pages >= {1, 2}  # continuation pages too


def test_fpdf2s_writer_is_not_used_once_the_fonts_were_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A certificate whose glyphs were written before (the fonts' objects are serialised by
    fpdf2's writer for the first document of each glyph set, then kept) is written without
    fpdf2's writer; asked for fpdf2's writer, the same certificate needs it."""
    renderer = CertificateRenderer()

    def refused(self: OutputProducer) -> bytearray:
        raise AssertionError("fpdf2's writer was used")

    for facts in corpus(count=24, seed=5)[::4]:
        first = renderer.render(facts)
        with monkeypatch.context() as patch:
            patch.setattr(OutputProducer, "bufferize", refused)
            assert renderer.render(facts) == first
            patch.setattr(FontOutputProducer, "at_once", False)
            with pytest.raises(AssertionError, match="writer was used"):
                renderer.render(facts)


def test_a_certificates_file_identifier_comes_from_its_facts() -> None:
    """The trailer's /ID (both halves alike) is the same for the same facts, whichever renderer
    draws them, and differs from one evidence to the next and from one language to another."""
    facts = corpus(4)
    first, again = CertificateRenderer(), CertificateRenderer(replayed=False)

    def identifier(pdf: bytes) -> tuple[bytes, bytes]:
        with pikepdf.open(io.BytesIO(pdf)) as document:
            one, two = document.trailer.ID
            return bytes(one), bytes(two)

    seen = set()
    for each in facts:
        made = identifier(first.render(each))
        assert made[0] == made[1]
        assert len(made[0]) == 16
        assert identifier(again.render(each)) == made
        seen.add(made[0])
    other = replace(facts[0], language="en" if facts[0].language != "en" else "fr")
    seen.add(identifier(first.render(other))[0])
    assert len(seen) == len(facts) + 1
