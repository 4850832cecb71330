"""A certificate is the very same bytes as before issue 9's render work, for varied facts in
every language (tests.support.certificate_corpus: the digests pinned then), its fonts hinted as
they were then: the only differences since are the hinting dropped from the embedded fonts
(gateway.pdf.fonts.HINTING), which tests/unit/test_pdf_hinting.py shows draws the same pages,
the pages' content streams compressed at a lower zlib level (gateway.pdf.fonts.
PAGE_COMPRESSION; the same pages, tests/unit/test_pdf_compression.py), the QR code drawn
as an image mask (the digests written again then; its modules read back from the printed page
by tests/unit/test_pdf_layout.py), the file identifier taken from the certificate's facts
rather than from its bytes (gateway.pdf.render.file_id; the digests written again), and on an
Arabic page a value with no Arabic letter drawn in the Latin font alone (the Arabic digests
written again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.pdf import qr
from tests.support.certificate_corpus import as_pinned, digests

PINNED = Path(__file__).parents[1] / "fixtures" / "certificate_digests.json"


def test_every_certificate_of_the_corpus_is_byte_for_byte_as_pinned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as in the fresh process that pinned them: the QR code of a URL length keeps the data mask
    # chosen for the first URL of that length the process drew (gateway/pdf/qr.py), which an
    # earlier test of this process may have drawn
    monkeypatch.setattr(qr, "_TEMPLATES", {})
    as_pinned(monkeypatch)
    pinned = json.loads(PINNED.read_text())
    made = digests()
    assert len(made) == len(pinned)
    differ = [n for n, (a, b) in enumerate(zip(made, pinned, strict=True)) if a != b]
    assert not differ, f"certificates {differ} differ from the pinned bytes"
