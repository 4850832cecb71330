"""The certificate's QR code written from a template (gateway.pdf.qr) is segno's symbol, module
for module: the same version, error correction level and data mask (the one segno chose for
the first URL of that length), whatever the URL. zbar reads the printed code in
tests/unit/test_pdf_layout.py.
"""

from __future__ import annotations

import random
import string
import uuid

import pytest
import segno

from gateway.pdf import qr
from gateway.pdf.qr import qr_rows


def segnos(url: str, mask: int | None) -> tuple[int, ...]:
    """segno's symbol of `url`, each row's modules as one integer (leftmost the highest bit)."""
    matrix = segno.make(url, error="m", micro=False, mask=mask).matrix
    return tuple(int("".join(str(module) for module in row), 2) for row in matrix)


@pytest.fixture(autouse=True)
def fresh_templates() -> None:
    qr._TEMPLATES.clear()


@pytest.mark.parametrize(
    "public_url",
    [
        "https://lre.example.ma",
        "http://127.0.0.1:8080",
        "https://a.ma",
        "https://registered-mail.gateway-of-a-rather-long-domain-name.example.org/lre",
    ],
)
def test_verification_urls_are_segnos_symbols_with_the_first_ones_mask(public_url: str) -> None:
    """The first certificate's URL is segno's own choice; every later evidence id gives
    segno's symbol with that mask."""
    first = f"{public_url}/verify/{uuid.uuid4()}"
    assert qr_rows(first) == segnos(first, None)
    mask = segno.make(first, error="m", micro=False).mask
    for _ in range(40):
        url = f"{public_url}/verify/{uuid.uuid4()}"
        assert qr_rows(url) == segnos(url, mask)


def test_urls_of_every_length_and_mode_are_segnos_symbols() -> None:
    """Lengths from 1 to 1000 characters (versions 1 to 26, several blocks, error correction
    raised by segno where it fits), and URLs segno writes in another mode than bytes (digits,
    upper-case letters) after a first one in bytes."""
    pick = random.Random(9)  # noqa: S311 - test URLs
    alphabet = string.ascii_letters + string.digits + "/:.-_?=&%~"
    for length in [*range(1, 50), 75, 140, 260, 420, 700, 1000]:
        first = "".join(pick.choice(alphabet) for _ in range(length))
        assert qr_rows(first) == segnos(first, None)
        mask = segno.make(first, error="m", micro=False).mask
        others = [
            "".join(pick.choice(alphabet) for _ in range(length)),
            "".join(pick.choice(string.digits) for _ in range(length)),
            "".join(pick.choice(string.ascii_uppercase + "/:.") for _ in range(length)),
            "é" * length,
        ]
        for url in others:
            assert qr_rows(url) == segnos(url, mask), (length, url)


def test_without_remembering_segno_chooses_the_mask_each_time() -> None:
    url = f"https://lre.example.ma/verify/{uuid.uuid4()}"
    qr_rows(f"https://lre.example.ma/verify/{uuid.uuid4()}")
    assert qr_rows(url, remember=False) == segnos(url, None)
