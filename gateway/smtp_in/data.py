"""The DATA section read in blocks, with the result aiosmtpd's line-by-line loop gives.

aiosmtpd's `smtp_DATA` awaits `readuntil(b"\\r\\n")` for every line and runs a dozen Python
operations on it: ~1,400 turns for a 100 KB letter, most of the SMTP process's CPU for one.
`DataSection` takes whatever the connection delivered and looks at it with a few byte scans:
the end-of-data line, the longest line, the size. Only a block holding a line too long for
aiosmtpd goes line by line, with aiosmtpd's own rules, so the outcome is the same in every case
(tests/unit/test_smtp_data.py drives both servers with the same generated streams):

- a line is what ends with CRLF; the data ends at a line that is exactly ".\\r\\n";
- a line whose text is longer than `line_limit` (aiosmtpd's StreamReader limit) makes the
  section "too long" as soon as it is seen; otherwise its bytes are counted, then a count
  over `size_limit` makes it "too much", then a line longer than `line_limit` (CRLF included)
  makes it "too long"; the first of these wins and the rest is read and dropped;
- a line that starts with "." loses that first "." (RFC 5321 §4.5.2).
"""

from __future__ import annotations

import enum
from typing import Final

CRLF: Final = b"\r\n"
END: Final = b".\r\n"


class Outcome(enum.Enum):
    NOMINAL = "nominal"
    TOO_LONG = "too long"  # aiosmtpd: 500 Line too long
    TOO_MUCH = "too much"  # aiosmtpd: 552 Too much mail data


class DataSection:
    """Feed it what the connection delivers (`feed`) until it finds the end; then `content`
    (when `outcome` is NOMINAL) is the message, un-dot-stuffed."""

    def __init__(self, *, size_limit: int | None, line_limit: int) -> None:
        self.outcome = Outcome.NOMINAL
        self._size_limit = size_limit
        self._line_limit = line_limit
        self._counted = 0
        self._parts: list[bytes] = []
        self._pending = b""  # the start of the current line (no CRLF yet)

    def feed(self, chunk: bytes) -> int | None:
        """Read `chunk`; once the end-of-data line is in it, return where it ends in `chunk`
        (what follows belongs to the next command), else None."""
        held = len(self._pending)
        data = self._pending + chunk
        last = data.rfind(CRLF)
        if last < 0:
            self._pending = self._bounded(data)
            return None
        block, self._pending = data[: last + 2], data[last + 2 :]
        if block.startswith(END):
            end = 0
        else:
            found = block.find(b"\r\n.\r\n")
            end = found + 2 if found >= 0 else -1
        if end >= 0:
            self._lines(block[:end])
            self._pending = b""
            return end + len(END) - held
        self._lines(block)
        self._pending = self._bounded(self._pending)
        return None

    @property
    def content(self) -> bytes:
        """The message: each line that starts with "." without that first "."."""
        joined = b"".join(self._parts)
        if b"\r\n." not in joined and not joined.startswith(b"."):
            return joined
        return (CRLF + joined).replace(b"\r\n.", CRLF)[2:]

    def _lines(self, block: bytes) -> None:
        """Whole lines, in order."""
        if self.outcome is not Outcome.NOMINAL or not block:
            return
        if fits(block, self._line_limit):  # no line decides anything: only the size can
            self._counted += len(block)
            if self._size_limit and self._counted > self._size_limit:
                self._too(Outcome.TOO_MUCH)
            else:
                self._parts.append(block)
            return
        for line in block.split(CRLF)[:-1]:  # aiosmtpd's order, line by line
            size = len(line) + 2
            if size > self._line_limit + 2:  # readuntil's limit overrun: before any count
                return self._too(Outcome.TOO_LONG)
            self._counted += size
            if self._size_limit and self._counted > self._size_limit:
                return self._too(Outcome.TOO_MUCH)
            if size > self._line_limit:
                return self._too(Outcome.TOO_LONG)
            self._parts.append(line + CRLF)
        return None

    def _bounded(self, pending: bytes) -> bytes:
        """The current line's start, kept short: a line already longer than aiosmtpd reads
        in one piece is too long whatever follows (nothing before it is left to count)."""
        text = len(pending) - pending.endswith(b"\r")
        if text > self._line_limit:
            if self.outcome is Outcome.NOMINAL:
                self._too(Outcome.TOO_LONG)
            return b"x" + pending[-1:]  # no longer a possible end line; a CR stays a CR
        if self.outcome is not Outcome.NOMINAL and len(pending) > 2:
            return b"x" + pending[-1:]
        return pending

    def _too(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._parts = []  # dropped at once, as aiosmtpd does


def fits(block: bytes, limit: int) -> bool:
    """Whether every line of `block` (whole lines, each ending in CRLF) is at most `limit`
    octets long, CRLF included: `max(map(len, block.split(CRLF))) + 2 <= limit`, without cutting
    the block into lines (~2 ms for 1 MB of text): from a line's start, the last CRLF within
    `limit` octets ends a run of lines that all fit, and the next line starts after it."""
    pos, end = 0, len(block)
    while pos < end:
        found = block.rfind(CRLF, pos, pos + limit)
        if found < 0:
            return False
        pos = found + 2
    return True
