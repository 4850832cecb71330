"""The SMTP ingress's reply catalogue: every reply a sender can see, with an RFC 3463 code.

Texts are sentences a person understands; they never name the software, its version or an
internal error. `native()` rewrites the few fixed replies of aiosmtpd that lack an enhanced
status code (or say too little) into catalogue replies. The services' refusals are worded
here (`deposit_refused`); a message's refused content by `content_refused`, whose wording
gateway.content_replies keeps for this door and for the REST API, which quotes it.
"""

from __future__ import annotations

from typing import Final

from gateway.content_replies import content_refused as content_refused  # shared with the API
from gateway.errors import AccountDisabled, DepositRefused, PhoneRequired, SmtpReply

GREETING_IDENT: Final = "ESMTP"  # the greeting is "220 <hostname> ESMTP": no product, no version

SENDER_OK: Final = SmtpReply(250, "2.1.0", "Sender address accepted")
RECIPIENT_OK: Final = SmtpReply(
    250, "2.1.5", "Recipient accepted; it gets its own registered delivery"
)
RECIPIENT_REPEATED: Final = SmtpReply(
    250, "2.1.5", "Recipient already listed; it gets a single registered delivery"
)
CANNOT_VRFY: Final = SmtpReply(
    252, "2.5.0", "Addresses are not verified here; send the letter and each recipient is notified"
)

AUTH_REQUIRED: Final = SmtpReply(
    530, "5.7.0", "Authentication required: log in with your sender account before sending a letter"
)
TLS_REQUIRED: Final = SmtpReply(530, "5.7.0", "Must issue a STARTTLS command first")
# RFC 3207 §4.2: STARTTLS once a session is TLS already (Postfix says 554 5.5.1 likewise)
TLS_ACTIVE: Final = SmtpReply(503, "5.5.1", "This session is already protected by TLS")
AUTH_THROTTLED: Final = SmtpReply(
    454, "4.7.0", "Too many failed logins from your address: try again in a quarter of an hour"
)
BAD_CREDENTIALS: Final = SmtpReply(
    535, "5.7.8", "Authentication failed: the account address or the password is wrong"
)
# RFC 5248 X.7.13 "User Account Disabled"; said only once the password was right
ACCOUNT_DISABLED: Final = SmtpReply(
    525,
    "5.7.13",
    "This sender account is disabled by the gateway's operator; no letter can be deposited",
)
ACCOUNT_DISABLED_NOW: Final = SmtpReply(
    550,
    "5.7.13",
    "This sender account was disabled by the gateway's operator; nothing was kept",
)
AUTH_MALFORMED: Final = SmtpReply(501, "5.5.2", "The AUTH data could not be read")
SENDER_MISMATCH: Final = SmtpReply(
    550, "5.7.1", "The envelope sender must be the address of the account you logged in with"
)
FROM_MISMATCH: Final = SmtpReply(
    550, "5.7.1", "The From: header must be the address of the account you logged in with"
)
BAD_RECIPIENT: Final = SmtpReply(550, "5.1.3", "The recipient address is not a valid email address")
MALFORMED_ADDRESS: Final = SmtpReply(
    553, "5.1.3", "This address cannot be read: write it as name@domain, between < and >"
)
LINE_TOO_LONG: Final = SmtpReply(
    500, "5.5.2", "A line is longer than 1000 characters (RFC 5321 4.5.3.1.6); nothing was kept"
)
COMMAND_TOO_LONG: Final = SmtpReply(500, "5.5.2", "The command line is too long")
TRY_LATER: Final = SmtpReply(
    451, "4.3.0", "Temporary problem on our side; nothing was kept, please try again later"
)
STORAGE_FULL: Final = SmtpReply(
    452, "4.3.1", "Our storage is full; nothing was kept, please try again later"
)


def accepted(reference: str) -> SmtpReply:
    """250 to DATA, sent only once the letter and its deposit evidence are durably stored."""
    reference = "".join(ch for ch in reference if ch.isprintable() and not ch.isspace())
    return SmtpReply(
        250,
        "2.0.0",
        f"Registered letter {reference} deposited; the proof of deposit follows by email",
    )


def phone_required(recipient: str) -> SmtpReply:
    """letters.recipient_verification = sms_required and the sender gave no number."""
    return SmtpReply(
        550,
        "5.1.0",
        f"This gateway identifies recipients by SMS: give the mobile number of "
        f'{_printable(recipient)}, e.g. "Name (+212 6 12 34 56 78)" <{_printable(recipient)}>; '
        "nothing was kept",
    )


def deposit_refused(refusal: DepositRefused) -> SmtpReply:
    """The reply to the deposit service's refusal of a letter."""
    if isinstance(refusal, PhoneRequired):
        return phone_required(refusal.recipient)
    if isinstance(refusal, AccountDisabled):
        return ACCOUNT_DISABLED_NOW
    return TRY_LATER


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:320]


def too_many_recipients(limit: int) -> SmtpReply:
    return SmtpReply(
        452,
        "4.5.3",
        f"Too many recipients: a letter goes to at most {limit}; send the others a separate letter",
    )


def too_big(limit: int) -> SmtpReply:
    return SmtpReply(
        552, "5.3.4", f"The message is too big: this gateway accepts at most {_size(limit)}"
    )


def _size(octets: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if octets >= scale:
            return f"{octets / scale:g} {unit}"
    return f"{octets} bytes"


def native(line: str, *, max_message_size: int) -> str:
    """The catalogue line for one of aiosmtpd's fixed replies; any other line unchanged."""
    if line in _NATIVE:
        return _NATIVE[line].line()
    if line in _NATIVE_TOO_BIG:
        return too_big(max_message_size).line()
    return line


# aiosmtpd 1.4.6, smtp.py: replies it pushes itself, without asking the handler.
_NATIVE: Final[dict[str, SmtpReply]] = {
    "530 Must issue a STARTTLS command first": TLS_REQUIRED,
    "530 5.7.0 Authentication required": AUTH_REQUIRED,
    "535 5.7.8 Authentication credentials invalid": BAD_CREDENTIALS,
    "500 Line too long (see RFC5321 4.5.3.1.6)": LINE_TOO_LONG,
    "500 Command line too long": COMMAND_TOO_LONG,
    "553 5.1.3 Error: malformed address": MALFORMED_ADDRESS,  # MAIL FROM and RCPT TO
}
_NATIVE_TOO_BIG: Final = frozenset(
    {
        "552 Error: message size exceeds fixed maximum message size",  # MAIL FROM ... SIZE=
        "552 Error: Too much mail data",  # DATA went over data_size_limit
    }
)
