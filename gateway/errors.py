"""Errors of the gateway.

GatewayError
├── ConfigError         bad or unknown key at startup; the message names section.key
├── InstallationError   a file the gateway ships with (fonts, colour profile) is missing
├── SmtpProcessFailed   an SMTP process exited, or did not serve in time, as the gateway started
├── IllegalTransition   the core refused an event in this state (a bug or a race)
├── ContentRefused      a message's content was refused while reading it; .reason; nothing kept
│   ├── UnreadableMessage       not readable as mail: line endings, MIME structure, From:
│   ├── MessageBeyondLimit      beyond a [mime] limit; .limit, .header (None: the message)
│   └── RecipientHeaderRefused  an LRE-Recipient-Phone/-Language header; .recipient, .value
├── DepositRefused      the deposit service refused a letter; each door words it its own way
│   ├── AccountDisabled   the sender account was disabled since its login; nothing was kept
│   └── PhoneRequired     recipients are identified by SMS and one has no number; .recipient
├── BounceRefused       a mail to a bounce address was not taken; nothing was kept
│   ├── UnknownBounceAddress  no mail of ours has this VERP address
│   └── NotADsn               not a delivery status notification (RFC 3464)
├── RelayFailed         next hop refused or unreachable; .reply, .temporary
├── EvidenceError ── TimestampError, SignatureError, VerificationError
├── SmsFailed           the SMS provider refused or could not be reached; .temporary
└── RecipientError      what a recipient asked cannot be done; .status is the HTTP status
    ├── UnknownLink       no delivery has this link (404)
    ├── AlreadyDecided    the letter was already accepted, refused or expired (409)
    ├── DeadlineExpired   the acceptance deadline has passed (410)
    ├── NotReleased       the content is only released after acceptance (403)
    ├── SessionRequired   released content needs the session opened by a code (403)
    └── IdentityError     the one-time code step refused the request
        ├── CodeRequired    no code was asked for, or it was already used (403)
        ├── WrongCode       not the code that was sent; .tries_left (400)
        ├── CodeExpired     the code is older than its validity (400)
        └── TooManyTries    out of tries or of codes for now; .retry_at (429)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply: basic code, enhanced status code (RFC 3463) and a sentence for people."""

    code: int
    enhanced: str
    text: str

    def line(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration key is unknown or its value is invalid; the message names section.key."""


class InstallationError(GatewayError):
    """A file shipped inside the package is missing: the installation is damaged."""


class SmtpProcessFailed(GatewayError):
    """An SMTP process (`smtp.processes`) exited, or did not serve in time, at the start."""


class IllegalTransition(GatewayError):
    """The core refused an event in the delivery's current state."""

    def __init__(self, state: object, event: object) -> None:
        super().__init__(f"{type(event).__name__} is not allowed in state {state}")
        self.state = state
        self.event = event


class ContentReason(StrEnum):
    """Why a message's content was refused: one code per refusal; each door words it."""

    BARE_LINE_ENDING = "bare_line_ending"  # a bare CR, a bare LF or a NUL byte
    NO_FROM = "no_from"  # not exactly one From: holding valid addresses
    MALFORMED = "malformed"  # the MIME structure cannot be read
    RFC2231_BOUNDARY = "rfc2231_boundary"  # boundary*=, a form this gateway does not read
    # the [mime] limits, named by their setting
    MAX_HEADER_BLOCK = "max_header_block"
    MAX_HEADER_SIZE = "max_header_size"
    MAX_HEADER_TOKENS = "max_header_tokens"
    MAX_TOTAL_TOKENS = "max_total_tokens"
    MAX_PARAMETERS = "max_parameters"
    MAX_ADDRESSES = "max_addresses"
    MAX_PARTS = "max_parts"
    MAX_DEPTH = "max_depth"
    # the recipients' details a sender adds in headers
    BAD_PHONE_HEADER = "bad_phone_header"  # LRE-Recipient-Phone without address and number
    NOT_A_MOBILE = "not_a_mobile"  # a number that cannot receive an SMS
    PHONE_FOR_STRANGER = "phone_for_stranger"  # a number for someone not a recipient
    BAD_LANGUAGE_HEADER = "bad_language_header"  # LRE-Recipient-Language unreadable
    LANGUAGE_FOR_STRANGER = "language_for_stranger"  # languages for someone not a recipient


class ContentRefused(GatewayError):
    """A message's content was refused while reading it (gateway.mime); nothing was kept."""

    def __init__(self, reason: ContentReason, *facts: object) -> None:
        super().__init__(" ".join([reason.value, *(repr(fact) for fact in facts)]))
        self.reason = reason


class UnreadableMessage(ContentRefused):
    """The message cannot be read as mail (line endings, MIME structure, its From: header)."""

    def __init__(self, reason: ContentReason) -> None:
        super().__init__(reason)


class MessageBeyondLimit(ContentRefused):
    """The message goes beyond one of the [mime] limits (.reason names it, .limit its value).

    .header is the name of the header that went beyond, as written, or None for the message.
    """

    def __init__(self, reason: ContentReason, limit: int, header: str | None = None) -> None:
        super().__init__(reason, limit, *(() if header is None else (header,)))
        self.limit = limit
        self.header = header


class RecipientHeaderRefused(ContentRefused):
    """An LRE-Recipient-Phone or LRE-Recipient-Language header cannot be used.

    .recipient is the address it names (when it names one), .value what it gave (a number,
    or the whole header when it cannot be read).
    """

    def __init__(
        self, reason: ContentReason, *, recipient: str | None = None, value: str | None = None
    ) -> None:
        super().__init__(reason, *(fact for fact in (recipient, value) if fact is not None))
        self.recipient = recipient
        self.value = value


class DepositRefused(GatewayError):
    """The deposit service refused a letter; nothing was kept."""


class AccountDisabled(DepositRefused):
    """The sender account was disabled (or removed) by the operator since its login."""

    def __init__(self, email: str) -> None:
        super().__init__(f"the sender account {email} is disabled")
        self.email = email


class PhoneRequired(DepositRefused):
    """letters.recipient_verification = sms_required and the sender gave no number for one."""

    def __init__(self, recipient: str) -> None:
        super().__init__(f"no mobile number was given for {recipient}")
        self.recipient = recipient


class ReferenceTaken(GatewayError):
    """A new letter drew the reference of a letter kept already (a reference holds 40 random
    bits a day: at a million letters a day two of them meet about every other day); nothing of
    the new letter was kept, and the deposit draws another (services/deposit.py)."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"the letter reference {reference} is taken")
        self.reference = reference


class BounceRefused(GatewayError):
    """A mail sent to a bounce address (VERP) was not taken; nothing was kept."""


class UnknownBounceAddress(BounceRefused):
    """No outbound mail of the gateway has this return path."""


class NotADsn(BounceRefused):
    """Not a delivery status notification (RFC 3464), the only mail a bounce address takes."""


class RelayFailed(GatewayError):
    """The next hop refused the message or could not be reached."""

    def __init__(self, reply: SmtpReply) -> None:
        super().__init__(reply.line())
        self.reply = reply

    @property
    def temporary(self) -> bool:
        return self.reply.temporary


class EvidenceError(GatewayError):
    """Evidence could not be built, sealed or checked."""


class TimestampError(EvidenceError):
    """The time-stamping authority failed or answered something unusable."""


class SignatureError(EvidenceError):
    """A CMS signature could not be made."""


class VerificationError(EvidenceError):
    """A proof did not verify; the message says why in plain words, .reason in a code, .words
    the catalogue message of those words (a gateway.core.problems.Message, or None)."""

    def __init__(self, message: str, reason: str = "other", words: object = None) -> None:
        super().__init__(message)
        self.reason = reason  # a gateway.core.problems.Reason value (core imports errors)
        self.words = words


class RecipientError(GatewayError):
    """A recipient's request cannot be honoured; .status is the HTTP status to answer."""

    status = 400


class UnknownLink(RecipientError):
    status = 404


class AlreadyDecided(RecipientError):
    status = 409

    def __init__(self, state: str) -> None:
        super().__init__(f"the letter is already {state}")
        self.state = state


class DeadlineExpired(RecipientError):
    status = 410


class NotReleased(RecipientError):
    status = 403


class SmsFailed(GatewayError):
    """The SMS provider refused the message (permanent) or could not take it now (temporary)."""

    def __init__(self, reason: str, *, temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


class IdentityError(RecipientError):
    """The recipient has not (yet) proved their identity with a one-time code."""


class CodeRequired(IdentityError):
    status = 403


class WrongCode(IdentityError):
    status = 400

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"wrong code, {tries_left} tries left")
        self.tries_left = tries_left


class CodeExpired(IdentityError):
    status = 400


class TooManyTries(IdentityError):
    status = 429

    def __init__(self, retry_at: datetime | None) -> None:
        super().__init__(f"too many tries; a new code from {retry_at}")
        self.retry_at = retry_at  # None: a new code may be asked for at once


class SessionRequired(RecipientError):
    """Released content is handed only to the browser session that gave a one-time code."""

    status = 403
