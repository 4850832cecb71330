"""The portal's CSV export: one row per recipient, and no cell a spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from gateway.core.letter import State
from gateway.storage.portal_store import LetterLine, RecipientLine
from gateway.web.portal_csv import letters_csv, safe_cell

AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\r=1", "'\r=1"),
        ("Mise en demeure", "Mise en demeure"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_get_an_apostrophe(cell: str, shown: str) -> None:
    """Cells starting with = + - @ tab or CR are prefixed with ', others are kept as they are."""
    assert safe_cell(cell) == shown


def test_one_row_per_recipient_with_utc_times() -> None:
    """Each recipient of a letter is one row: reference, subject, UTC times, state."""
    letter = LetterLine(
        "id1",
        "LRE-20261130-ABCDEFGH",
        '=HYPERLINK("https://evil.example")',
        AT,
        (
            RecipientLine("d1", "bob@example.ma", State.ACCEPTED, AT),
            RecipientLine("d2", "carol@example.org", State.NOTIFIED, AT),
        ),
    )
    text = letters_csv([letter])
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["reference", "subject", "deposited_at", "recipient", "state", "state_since"],
        [
            "LRE-20261130-ABCDEFGH",
            '\'=HYPERLINK("https://evil.example")',
            "2026-11-30T09:15:00+00:00",
            "bob@example.ma",
            "accepted",
            "2026-11-30T09:15:00+00:00",
        ],
        [
            "LRE-20261130-ABCDEFGH",
            '\'=HYPERLINK("https://evil.example")',
            "2026-11-30T09:15:00+00:00",
            "carol@example.org",
            "notified",
            "2026-11-30T09:15:00+00:00",
        ],
    ]
