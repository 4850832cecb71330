"""The header fields every gateway mail starts with, written as bytes (RFC 5322, RFC 2047).

The `email` package parses each value into a token tree and folds it again when the message is
flattened: ~0.5 ms for a notification's fields, most of composing one. Our fields have a fixed
shape: From is the provider's address (made by the `email` package once per provider, memo);
To an address; Subject a sentence that may hold any script. An unstructured value is written
here in one pass: ASCII words as they are, each run of words with a non-ASCII character (or
"=?", which a reader would take for an encoded word) as RFC 2047 encoded words of whole
characters, each at most 75 characters, folded so that no line passes 78 characters. Decoding
gives back the value exactly (tests/unit/test_compose_headers.py reads the fields with the
`email` package and with Python's RFC 2047 decoder).
"""

from __future__ import annotations

import base64
import functools
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from gateway.compose.mail import POLICY, one_line
from gateway.core.text import DOT_ATOM

CRLF: Final = b"\r\n"
LINE: Final = 78  # RFC 5322 §2.1.1: lines SHOULD be no longer (CRLF excluded)
ENCODED_WORD: Final = 75  # RFC 2047 §2: an encoded word is at most 75 characters
_PLAIN_ADDRESS: Final = re.compile(
    rf"{DOT_ATOM}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# RFC 2047 §5 (3): in "Q", what may stand for itself even in a phrase; a space is "_"
_Q_SAFE: Final = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")
_Q_TEXT: Final = tuple(
    "_" if byte == 0x20 else chr(byte) if byte in _Q_SAFE else f"={byte:02X}" for byte in range(256)
)
_Q_LENGTH: Final = tuple(map(len, _Q_TEXT))


def header_fields(
    *, sender: Address, to: str, subject: str, message_id: str, date: datetime
) -> bytes:
    """The fields `gateway.compose.mail.new_message` sets, each ending in CRLF (no blank line)."""
    stamp = format_datetime((date if date.tzinfo else date.replace(tzinfo=UTC)).astimezone(UTC))
    message_id = message_id if message_id.startswith("<") else f"<{message_id}>"
    plain_id = message_id.isascii() and len(message_id) <= LINE - len("Message-ID: ")
    return b"".join(
        [
            _from_field(sender.display_name, sender.username, sender.domain),
            _to_field(to),
            unstructured("Subject", one_line(subject) or ""),
            b"Date: " + stamp.encode("ascii") + CRLF,
            (b"Message-ID: " + message_id.encode("ascii") + CRLF)
            if plain_id
            else _package_field("Message-ID", message_id),
            b"Auto-Submitted: auto-generated\r\n",  # RFC 3834 §5
        ]
    )


@functools.lru_cache(maxsize=256)
def unstructured(name: str, value: str) -> bytes:
    """`Name: value`, encoded and folded, ending in CRLF; `value` as `one_line` leaves it (no
    line break, no white space at either end: a reader would drop it). Remembered for the
    last values: a notification's subject names its sender, the same in each of their
    letters (encoding one costs ~0.1 ms)."""
    tokens: list[str] = []
    run: list[str] = []  # consecutive words to encode
    for word in value.split(" "):
        # white space between two encoded words is dropped when read: inside a run it is
        # encoded with the words around it
        if not word.isascii() or "=?" in word or (run and not word.strip(" \t")):
            run.append(word)
            continue
        if run:
            tokens += _encoded_run(name, tuple(run), first=not tokens)
            run = []
        tokens.append(word)
    if run:
        tokens += _encoded_run(name, tuple(run), first=not tokens)
    return _folded(name, tokens)


@functools.lru_cache(maxsize=256)
def _encoded_run(name: str, words: tuple[str, ...], *, first: bool) -> tuple[str, ...]:
    """A run's encoded words; the value's first word fits on the field name's line (a reader
    would keep the space of a line holding only `Name:`). Remembered: the words of a subject
    that change from one mail to the next (a letter's reference) are mostly ASCII, those
    encoded the same in each (a notification's "recommandée", its dash)."""
    room = LINE - len(f"{name}: ") if first else ENCODED_WORD
    return tuple(encoded_words(" ".join(words), first=room))


def encoded_words(text: str, *, first: int = ENCODED_WORD) -> list[str]:
    """`text` as UTF-8 encoded words ("Q" when shorter than "B"), each of whole characters and
    at most ENCODED_WORD long, the first at most `first`. A reader joins adjacent encoded
    words, dropping the white space between them: the spaces of `text` are inside the words."""
    raw = text.encode("utf-8")
    q_length = sum(map(_Q_LENGTH.__getitem__, raw))
    scheme = "q" if q_length <= (len(raw) + 2) // 3 * 4 else "b"
    frame = len("=?utf-8?q??=")
    room = min(first, ENCODED_WORD) - frame
    chunks: list[str] = []
    start = used = 0
    for i, char in enumerate(text):
        size = len(char.encode("utf-8"))
        if scheme == "q":
            grown = used + sum(_Q_LENGTH[byte] for byte in char.encode("utf-8"))
        else:
            grown = used + size  # bytes; encoded as (n + 2) // 3 * 4 characters
        if i > start and (grown if scheme == "q" else (grown + 2) // 3 * 4) > room:
            chunks.append(text[start:i])
            start, grown, room = i, grown - used, ENCODED_WORD - frame
        used = grown
    chunks.append(text[start:])
    return [f"=?utf-8?{scheme}?{_encode(scheme, chunk)}?=" for chunk in chunks]


def _encode(scheme: str, text: str) -> str:
    raw = text.encode("utf-8")
    if scheme == "b":
        return base64.b64encode(raw).decode("ascii")
    return "".join(_Q_TEXT[byte] for byte in raw)


def _folded(name: str, tokens: list[str]) -> bytes:
    """`name:` and the tokens, each after a space; that space becomes a folding one (CRLF SP)
    before a token that would make the line pass LINE, unless the line holds nothing yet
    (the field's name, or white space only: a run of spaces): an overlong word stays whole."""
    lines: list[str] = []
    line = head = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > LINE and line != head and line.strip(" \t"):
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


@functools.lru_cache(maxsize=64)
def _from_field(display_name: str, username: str, domain: str) -> bytes:
    """The provider's From field, as the `email` package writes it (made once)."""
    return _package_field(
        "From", Address(display_name=display_name, username=username, domain=domain)
    )


def _to_field(to: str) -> bytes:
    if _PLAIN_ADDRESS.fullmatch(to) and len(to) <= LINE - len("To: "):
        return b"To: " + to.encode("ascii") + CRLF
    return _package_field("To", to)  # a display name, an international address...


def _package_field(name: str, value: str | Address) -> bytes:
    """One field as the `email` package writes it (gateway.compose.mail.new_message)."""
    msg = EmailMessage(policy=POLICY)
    msg[name] = value
    flat = msg.as_bytes(policy=POLICY)
    return flat[: flat.index(CRLF + CRLF) + 2]
