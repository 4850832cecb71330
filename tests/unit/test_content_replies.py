"""A message's refused content: gateway.mime raises the facts, the doors word them.

The SMTP lines are pinned literally: outside acceptance tests read them at DATA, and the REST
API quotes them in its problem+json.
"""

from __future__ import annotations

import pytest

from gateway.api import problems
from gateway.content_replies import content_refused
from gateway.errors import (
    ContentReason,
    ContentRefused,
    MessageBeyondLimit,
    RecipientHeaderRefused,
    UnreadableMessage,
)
from gateway.smtp_in import replies

R = ContentReason
KEPT_NOTHING = "; nothing was kept"

LINES: list[tuple[ContentRefused, str]] = [
    (
        UnreadableMessage(R.BARE_LINE_ENDING),
        "550 5.6.0 The message contains a bare CR, a bare LF or a NUL byte; every line must end "
        "with CRLF",
    ),
    (
        UnreadableMessage(R.NO_FROM),
        "550 5.6.0 The message must have exactly one From: header holding a valid address",
    ),
    (
        UnreadableMessage(R.MALFORMED),
        "550 5.6.0 The message could not be read: its MIME structure is broken",
    ),
    (
        UnreadableMessage(R.RFC2231_BOUNDARY),
        "554 5.6.0 A MIME boundary is written in the RFC 2231 form (boundary*=), which this "
        "gateway does not read" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_HEADER_BLOCK, 512_000),
        "552 5.3.4 The headers of the message and of its parts total more than 512 kB"
        + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_HEADER_SIZE, 999, "Subject"),
        "552 5.3.4 The Subject: header is longer than 999 bytes" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_HEADER_TOKENS, 2048, "To"),
        "552 5.3.4 The To: header holds more than 2048 separators (quotes, brackets, commas, "
        "encoded words)" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_TOTAL_TOKENS, 8192),
        "552 5.3.4 The headers of the message and of its parts hold more than 8192 separators "
        "(quotes, brackets, commas, encoded words)" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_PARAMETERS, 100, "Content-Type"),
        "552 5.3.4 The Content-Type: header has more than 100 parameters" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_ADDRESSES, 1000, "Cc"),
        "552 5.3.4 The Cc: header holds more than 1000 addresses" + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_PARTS, 1000),
        "552 5.3.4 The message has more than 1000 MIME parts; send fewer attachments per letter"
        + KEPT_NOTHING,
    ),
    (
        MessageBeyondLimit(R.MAX_DEPTH, 32),
        "554 5.6.0 The message's MIME parts are nested more than 32 levels deep" + KEPT_NOTHING,
    ),
    (
        RecipientHeaderRefused(R.BAD_PHONE_HEADER),
        "550 5.1.3 Each LRE-Recipient-Phone header must hold a recipient's address and a mobile "
        "number, e.g. LRE-Recipient-Phone: bob@example.ma +212612345678",
    ),
    (
        RecipientHeaderRefused(R.NOT_A_MOBILE, recipient="bob@example.ma", value="+212522123456"),
        "550 5.1.3 The phone number +212522123456 given for bob@example.ma is not a valid mobile "
        "number; give a mobile number such as +212 6 12 34 56 78, or none" + KEPT_NOTHING,
    ),
    (
        RecipientHeaderRefused(R.PHONE_FOR_STRANGER, recipient="carol@example.ma"),
        "550 5.1.3 LRE-Recipient-Phone names carol@example.ma, who is not a recipient of this "
        "letter" + KEPT_NOTHING,
    ),
    (
        RecipientHeaderRefused(R.BAD_LANGUAGE_HEADER, value="bob@example.ma de"),
        "550 5.6.0 The header LRE-Recipient-Language: bob@example.ma de must hold a recipient's "
        "address and one or more of the languages fr, en, ar, e.g. LRE-Recipient-Language: "
        "bob@example.ma ar" + KEPT_NOTHING,
    ),
    (
        RecipientHeaderRefused(R.LANGUAGE_FOR_STRANGER, recipient="carol@example.ma"),
        "550 5.1.3 LRE-Recipient-Language names carol@example.ma, who is not a recipient of this "
        "letter" + KEPT_NOTHING,
    ),
]


def test_every_reason_has_its_pinned_line() -> None:
    """A new reason without its own wording fails here (it would fall back to "broken MIME")."""
    assert sorted(refusal.reason for refusal, _ in LINES) == sorted(ContentReason)


@pytest.mark.parametrize(("refusal", "line"), LINES, ids=lambda value: str(value)[:24])
def test_the_smtp_door_sends_the_line_of_each_refusal(refusal: ContentRefused, line: str) -> None:
    """The SMTP reply to each refusal: code, RFC 3463 enhanced code and sentence as before."""
    assert replies.content_refused(refusal).line() == line


@pytest.mark.parametrize(("refusal", "line"), LINES, ids=lambda value: str(value)[:24])
def test_the_rest_door_quotes_the_smtp_reply(refusal: ContentRefused, line: str) -> None:
    """The API's problem is a 422 whose detail is the sentence and whose `smtp` is the line."""
    problem = problems.content_refused(refusal)
    assert (problem.status, problem.kind) == (422, "invalid")
    assert line.endswith(problem.detail)
    assert problem.extra == {"smtp": line}


def test_facts_a_sender_wrote_cannot_inject_control_characters() -> None:
    """Control and bidi characters in an address, a number or a header name are left out."""
    refusals: list[ContentRefused] = [
        RecipientHeaderRefused(
            R.NOT_A_MOBILE, recipient="bob@example.ma\r\n250 ok", value="+212\u202e6"
        ),
        RecipientHeaderRefused(R.BAD_LANGUAGE_HEADER, value="x\r\n550 no" + "y" * 200),
        MessageBeyondLimit(R.MAX_HEADER_SIZE, 10, "X-\x00Evil"),
    ]
    for refusal in refusals:
        line = content_refused(refusal).line()
        assert line.isprintable(), line
    language = content_refused(refusals[1]).text
    assert "y" * 80 not in language  # the header is quoted up to 80 characters
