"""The gateway's log lines: plain text (default) or JSON lines (`logging.format = "json"`).

A line about a letter carries its reference: JSON lines have it in the `letter` field, taken
from the record (`extra={"letter": reference}`), from the message when it names one, or from
the task's current letter (`about_letter`, for work done one letter per task, such as handing
a mail over). Nothing logged
may hold a secret: no password, one-time code or link token is ever passed to a logger, and as a
safety net the link token of a recipient's URL (`/l/<token>`) is masked in every line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Final, TextIO

FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LINK: Final = re.compile(r"/l/[A-Za-z0-9_-]{8,}")
_REFERENCE: Final = re.compile(r"\bLRE-\d{8}-[A-Z2-7]{8}\b")  # gateway.core.letter's references
_current_letter: ContextVar[str | None] = ContextVar("letter", default=None)


def about_letter(reference: str | None) -> None:
    """The rest of the current task is about this letter (asyncio copies the context per task)."""
    _current_letter.set(reference)


def letter_of(record: logging.LogRecord) -> str | None:
    """The record's `letter`, else the reference its message names, else the task's letter."""
    letter = getattr(record, "letter", None)
    if letter:
        return str(letter)
    named = _REFERENCE.search(record.getMessage())
    return named.group(0) if named else _current_letter.get()


def mask(text: str) -> str:
    return _LINK.sub("/l/…", text)


def redact(text: str, *secrets: str) -> str:
    """`text` (e.g. a provider's error answer) without any of `secrets` nor the one-time codes
    (six digits) and link tokens they hold, in case the answer echoes what it was sent."""
    words = {s for s in secrets if s} | {c for s in secrets for c in re.findall(r"\b\d{6}\b", s)}
    words |= {m.group(0)[3:] for s in secrets for m in _LINK.finditer(s)}
    for word in sorted(words, key=len, reverse=True):
        text = text.replace(word, "…")
    return mask(text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")  # the last second written, as text

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As logging.Formatter's, the date and time written once per second (a line's
        localtime and strftime, ~15 µs, were a fifth of its cost)."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        last = self._second  # a tuple: read whole, whatever another thread stores meanwhile
        if last[0] != second:
            last = (second, time.strftime(self.default_time_format, self.converter(second)))
            self._second = last
        return f"{last[1]},{int(record.msecs):03d}"  # default_msec_format: '%s,%03d'


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, letter, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        letter = letter_of(record)
        if letter:
            line["letter"] = letter
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(format: str = "text", *, stream: TextIO | None = None) -> logging.Handler:
    """Send the gateway's log to `stream` (stderr) in `format`; quiet the chatty libraries."""
    handler = _GatewayHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(old)  # configured again once the settings are read
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # neither format shows where a line was logged from, nor its thread or process: each
    # record would look them up (the caller's frame, ~13 % of a line's cost), as the logging
    # documentation's "Optimization" section says to leave out
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per check otherwise
    smtp_log = logging.getLogger("mail.log")  # aiosmtpd
    smtp_log.setLevel(logging.WARNING)  # not every SMTP command
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting details
    return handler


class _GatewayHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` installs (and replaces; other handlers are left alone)."""
