"""Pure helpers for what the web sends: download file names and plain text with links."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from gateway.display import neutralise

_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f"\\/;:*?<>|%]')
_SPACES: Final = re.compile(r"\s+")
MAX_FILENAME: Final = 150  # characters kept from a sender's file name
_URL: Final = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING: Final = ".,;:!?)]}»"


def safe_filename(name: str, fallback: str) -> str:
    """The file name without directories, control, bidi or shell-special characters; never empty."""
    name = neutralise(_UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]))
    name = _SPACES.sub(" ", name).strip(" .")
    return name[:MAX_FILENAME] or fallback


def content_disposition(name: str, fallback: str) -> str:
    """RFC 6266 attachment header: an ASCII filename plus filename*=UTF-8''… when needed."""
    clean = safe_filename(name, fallback)
    stem, dot, extension = clean.rpartition(".")
    if not dot:
        stem, extension = clean, ""
    ascii_stem = _ascii(stem) or fallback
    ascii_extension = _ascii(extension)
    ascii_name = f"{ascii_stem}.{ascii_extension}" if ascii_extension else ascii_stem
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != clean:
        header += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return header


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip(" .")


@dataclass(frozen=True)
class Segment:
    """A piece of plain text; link is True when the piece is an http(s) URL."""

    text: str
    link: bool = False


def linkify(text: str) -> list[Segment]:
    """Split text into plain pieces and http(s) URLs (trailing punctuation stays text)."""
    segments: list[Segment] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        if match.start() > position:
            segments.append(Segment(text[position : match.start()]))
        segments.append(Segment(url, link=True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments
