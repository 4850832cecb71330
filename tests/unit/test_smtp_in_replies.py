"""The SMTP reply catalogue: enhanced codes everywhere, aiosmtpd's fixed replies translated."""

from __future__ import annotations

import re

import pytest

from gateway.errors import AccountDisabled, NotADsn, PhoneRequired, SmtpReply, UnknownBounceAddress
from gateway.smtp_in import inbound, replies

ENHANCED = re.compile(r"^[245]\d\d [245]\.\d{1,3}\.\d{1,3} \S")

CATALOGUE = [value for value in vars(replies).values() if isinstance(value, SmtpReply)] + [
    replies.accepted("LRE-2026-0001"),
    replies.too_many_recipients(100),
    replies.too_big(25 * 10**6),
]


@pytest.mark.parametrize("reply", CATALOGUE, ids=lambda reply: reply.text[:30])
def test_every_reply_has_an_enhanced_code_and_a_sentence(reply: SmtpReply) -> None:
    """Each reply line is code, matching enhanced code, then readable text on one line."""
    line = reply.line()
    assert ENHANCED.match(line), line
    assert str(reply.code)[0] == reply.enhanced[0]
    assert "\r" not in line
    assert "\n" not in line
    assert len(reply.text.split()) >= 3


def test_accepted_names_the_reference() -> None:
    """The 250 to DATA names the letter reference and announces the proof of deposit."""
    assert replies.accepted("LRE-7").line() == (
        "250 2.0.0 Registered letter LRE-7 deposited; the proof of deposit follows by email"
    )


def test_accepted_cannot_be_split_by_the_reference() -> None:
    """A reference with CR/LF or spaces cannot inject a second reply line."""
    assert replies.accepted("A\r\n250 ok").line().count("\n") == 0


def test_too_big_names_the_limit_readably() -> None:
    """The size refusal states the limit in units a person reads."""
    assert replies.too_big(25 * 10**6).line() == (
        "552 5.3.4 The message is too big: this gateway accepts at most 25 MB"
    )
    assert replies.too_big(512).text.endswith("512 bytes")


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("552 Error: Too much mail data", "552 5.3.4 "),
        ("552 Error: message size exceeds fixed maximum message size", "552 5.3.4 "),
        ("530 Must issue a STARTTLS command first", "530 5.7.0 Must issue a STARTTLS"),
        ("530 5.7.0 Authentication required", "530 5.7.0 Authentication required"),
        ("500 Line too long (see RFC5321 4.5.3.1.6)", "500 5.5.2 "),
        ("250 OK", "250 OK"),
    ],
)
def test_native_replies_are_translated(native: str, expected: str) -> None:
    """aiosmtpd's own fixed replies get catalogue lines; others pass unchanged."""
    assert replies.native(native, max_message_size=1000).startswith(expected)


def test_the_deposit_services_refusals_have_their_smtp_reply() -> None:
    """AccountDisabled is 550 5.7.13 (disabled since the login); PhoneRequired 550 5.1.0 naming
    the recipient whose mobile number is missing."""
    assert replies.deposit_refused(AccountDisabled("a@example.ma")) == replies.ACCOUNT_DISABLED_NOW
    reply = replies.deposit_refused(PhoneRequired("bob@example.ma"))
    assert (reply.code, reply.enhanced) == (550, "5.1.0")
    assert "bob@example.ma" in reply.text


def test_the_bounce_services_refusals_have_their_smtp_reply() -> None:
    """At the MX port, a mail that is no DSN gets 550 5.6.0 and an unknown bounce address
    550 5.1.1, as the RCPT check says it."""
    assert inbound.bounce_refused(NotADsn("bounce+x@lre.localhost")).line() == (
        "550 5.6.0 Only delivery status notifications (RFC 3464 multipart/report) are accepted "
        "at this address"
    )
    assert inbound.bounce_refused(UnknownBounceAddress("bounce+x@lre.localhost")).line() == (
        "550 5.1.1 No such bounce address here"
    )
