"""Refusals of a message's content: what the MIME reading (gateway.mime) turns away.

Each is an SMTP reply with its RFC 3463 code (X.6.0 content, X.3.4 too big, X.1.3 a bad
recipient detail): the vocabulary mail speaks about a message, whatever door it came in by.
The SMTP ingress sends them as they are; the REST API shows their sentence in a problem+json.
"""

from __future__ import annotations

from typing import Final

from gateway.errors import SmtpReply

BARE_LINE_ENDING: Final = SmtpReply(
    550,
    "5.6.0",
    "The message contains a bare CR, a bare LF or a NUL byte; every line must end with CRLF",
)

NO_FROM: Final = SmtpReply(
    550, "5.6.0", "The message must have exactly one From: header holding a valid address"
)

MALFORMED: Final = SmtpReply(
    550, "5.6.0", "The message could not be read: its MIME structure is broken"
)

BAD_PHONE_HEADER: Final = SmtpReply(
    550,
    "5.1.3",
    "Each LRE-Recipient-Phone header must hold a recipient's address and a mobile number, "
    "e.g. LRE-Recipient-Phone: bob@example.ma +212612345678",
)


def not_a_mobile(recipient: str, number: str) -> SmtpReply:
    """A sender gave a number that cannot receive an SMS: the letter is refused, nothing kept."""
    return SmtpReply(
        550,
        "5.1.3",
        f"The phone number {_printable(number)} given for {_printable(recipient)} is not a valid "
        "mobile number; give a mobile number such as +212 6 12 34 56 78, or none; nothing was kept",
    )


def phone_for_stranger(address: str) -> SmtpReply:
    return SmtpReply(
        550,
        "5.1.3",
        f"LRE-Recipient-Phone names {_printable(address)}, who is not a recipient of this letter; "
        "nothing was kept",
    )


def bad_language_header(value: str) -> SmtpReply:
    """An LRE-Recipient-Language header without an address and languages of the gateway."""
    return SmtpReply(
        550,
        "5.6.0",
        f"The header LRE-Recipient-Language: {_printable(value[:80])} must hold a recipient's "
        "address and one or more of the languages fr, en, ar, e.g. LRE-Recipient-Language: "
        "bob@example.ma ar; nothing was kept",
    )


def language_for_stranger(address: str) -> SmtpReply:
    return SmtpReply(
        550,
        "5.1.3",
        f"LRE-Recipient-Language names {_printable(address)}, who is not a recipient of this "
        "letter; nothing was kept",
    )


UNREADABLE_BOUNDARY: Final = SmtpReply(
    554,
    "5.6.0",
    "A MIME boundary is written in the RFC 2231 form (boundary*=), which this gateway does not "
    "read; nothing was kept",
)


def header_block_too_big(limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The headers of the message and of its parts total more than {_size(limit)}; "
        "nothing was kept",
    )


def header_too_big(name: str, limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The {_printable(name)}: header is longer than {_size(limit)}; nothing was kept",
    )


def header_too_complex(name: str, limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The {_printable(name)}: header holds more than {limit} separators (quotes, brackets, "
        "commas, encoded words); nothing was kept",
    )


def headers_too_complex(limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The headers of the message and of its parts hold more than {limit} separators "
        "(quotes, brackets, commas, encoded words); nothing was kept",
    )


def too_many_parameters(name: str, limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The {_printable(name)}: header has more than {limit} parameters; nothing was kept",
    )


def too_many_addresses(name: str, limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The {_printable(name)}: header holds more than {limit} addresses; nothing was kept",
    )


def too_many_parts(limit: int) -> SmtpReply:
    return SmtpReply(
        552,
        "5.3.4",
        f"The message has more than {limit} MIME parts; send fewer attachments per letter; "
        "nothing was kept",
    )


def too_deep(limit: int) -> SmtpReply:
    return SmtpReply(
        554,
        "5.6.0",
        f"The message's MIME parts are nested more than {limit} levels deep; nothing was kept",
    )


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:320]


def _size(octets: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if octets >= scale:
            return f"{octets / scale:g} {unit}"
    return f"{octets} bytes"
