"""The SMTP reply to a message whose content was refused (a `ContentRefused` of gateway.mime).

Each reason gets its RFC 3463 code (X.6.0 content, X.3.4 too big, X.1.3 a bad recipient
detail) and a sentence a person understands. The SMTP doors (submission, MX) send the reply as
it is; the REST API quotes it in its problem+json (detail and `smtp`), so both doors use this
one wording and neither imports the other. gateway.mime only raises the errors, with facts.
"""

from __future__ import annotations

from typing import Final

from gateway.errors import (
    ContentReason,
    ContentRefused,
    MessageBeyondLimit,
    RecipientHeaderRefused,
    SmtpReply,
)

_FIXED: Final[dict[ContentReason, SmtpReply]] = {  # the refusals that carry no facts
    ContentReason.BARE_LINE_ENDING: SmtpReply(
        550,
        "5.6.0",
        "The message contains a bare CR, a bare LF or a NUL byte; every line must end with CRLF",
    ),
    ContentReason.NO_FROM: SmtpReply(
        550, "5.6.0", "The message must have exactly one From: header holding a valid address"
    ),
    ContentReason.MALFORMED: SmtpReply(
        550, "5.6.0", "The message could not be read: its MIME structure is broken"
    ),
    ContentReason.RFC2231_BOUNDARY: SmtpReply(
        554,
        "5.6.0",
        "A MIME boundary is written in the RFC 2231 form (boundary*=), which this gateway does "
        "not read; nothing was kept",
    ),
    ContentReason.BAD_PHONE_HEADER: SmtpReply(
        550,
        "5.1.3",
        "Each LRE-Recipient-Phone header must hold a recipient's address and a mobile number, "
        "e.g. LRE-Recipient-Phone: bob@example.ma +212612345678",
    ),
}


def content_refused(refusal: ContentRefused) -> SmtpReply:
    """The reply to a refused message: its code, enhanced code and sentence."""
    if isinstance(refusal, MessageBeyondLimit):
        return _beyond_limit(refusal)
    if isinstance(refusal, RecipientHeaderRefused):
        return _recipient_header(refusal)
    return _fixed(refusal.reason)


def _fixed(reason: ContentReason) -> SmtpReply:
    return _FIXED.get(reason, _FIXED[ContentReason.MALFORMED])


def _beyond_limit(refusal: MessageBeyondLimit) -> SmtpReply:
    limit, header = refusal.limit, _printable(refusal.header or "")
    match refusal.reason:
        case ContentReason.MAX_HEADER_BLOCK:
            text = f"The headers of the message and of its parts total more than {_size(limit)}"
        case ContentReason.MAX_HEADER_SIZE:
            text = f"The {header}: header is longer than {_size(limit)}"
        case ContentReason.MAX_HEADER_TOKENS:
            text = (
                f"The {header}: header holds more than {limit} separators (quotes, brackets, "
                "commas, encoded words)"
            )
        case ContentReason.MAX_TOTAL_TOKENS:
            text = (
                f"The headers of the message and of its parts hold more than {limit} separators "
                "(quotes, brackets, commas, encoded words)"
            )
        case ContentReason.MAX_PARAMETERS:
            text = f"The {header}: header has more than {limit} parameters"
        case ContentReason.MAX_ADDRESSES:
            text = f"The {header}: header holds more than {limit} addresses"
        case ContentReason.MAX_PARTS:
            text = (
                f"The message has more than {limit} MIME parts; send fewer attachments per letter"
            )
        case ContentReason.MAX_DEPTH:  # a structure too deep to read, not a size
            text = f"The message's MIME parts are nested more than {limit} levels deep"
            return _kept_nothing(554, "5.6.0", text)
        case _:
            return _fixed(refusal.reason)
    return _kept_nothing(552, "5.3.4", text)


def _recipient_header(refusal: RecipientHeaderRefused) -> SmtpReply:
    recipient, value = _printable(refusal.recipient or ""), refusal.value or ""
    match refusal.reason:
        case ContentReason.NOT_A_MOBILE:
            return _kept_nothing(
                550,
                "5.1.3",
                f"The phone number {_printable(value)} given for {recipient} is not a valid "
                "mobile number; give a mobile number such as +212 6 12 34 56 78, or none",
            )
        case ContentReason.PHONE_FOR_STRANGER:
            return _kept_nothing(
                550,
                "5.1.3",
                f"LRE-Recipient-Phone names {recipient}, who is not a recipient of this letter",
            )
        case ContentReason.BAD_LANGUAGE_HEADER:
            return _kept_nothing(
                550,
                "5.6.0",
                f"The header LRE-Recipient-Language: {_printable(value[:80])} must hold a "
                "recipient's address and one or more of the languages fr, en, ar, e.g. "
                "LRE-Recipient-Language: bob@example.ma ar",
            )
        case ContentReason.LANGUAGE_FOR_STRANGER:
            return _kept_nothing(
                550,
                "5.1.3",
                f"LRE-Recipient-Language names {recipient}, who is not a recipient of this letter",
            )
        case _:
            return _fixed(refusal.reason)


def _kept_nothing(code: int, enhanced: str, text: str) -> SmtpReply:
    return SmtpReply(code, enhanced, f"{text}; nothing was kept")


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:320]


def _size(octets: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if octets >= scale:
            return f"{octets / scale:g} {unit}"
    return f"{octets} bytes"
