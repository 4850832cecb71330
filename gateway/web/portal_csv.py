"""The CSV export of a sender's letters: one row per recipient, safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab or carriage return) would be read by spreadsheet
programs as a formula (OWASP "CSV injection"); such a cell gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC
from typing import Final

from gateway.storage.portal_store import LetterLine

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
HEADER: Final = ("reference", "subject", "deposited_at", "recipient", "state", "state_since")


def safe_cell(value: str) -> str:
    """The value, with an apostrophe in front when a spreadsheet would take it for a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def letters_csv(letters: Iterable[LetterLine]) -> str:
    """RFC 4180 text (CRLF line ends): a header, then one row per letter and recipient."""
    return header_csv() + rows_csv(letters)


def header_csv() -> str:
    """The header line (the export streams it first, then rows_csv of each batch)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(HEADER)
    return out.getvalue()


def rows_csv(letters: Iterable[LetterLine]) -> str:
    """One row per letter and recipient, without the header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for letter in letters:
        for rcpt in letter.recipients:
            row = (
                letter.reference,
                letter.subject,
                letter.deposited_at.astimezone(UTC).isoformat(),
                rcpt.recipient,
                rcpt.state.value,
                rcpt.updated_at.astimezone(UTC).isoformat(),
            )
            writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
