"""Letters and deliveries: the registered item and its per-recipient life (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from gateway.core.evidence import Attachment

# what a letter reference may look like in a URL (LRE-20261201-7SMSKUHE, and the looser forms
# of older data): anything else is no letter, answered 404 before it reaches a query
REFERENCE_PATTERN: Final = "[A-Za-z0-9-]{1,64}"


class State(StrEnum):
    """A delivery's state; the lowercase value is what storage keeps."""

    DEPOSITED = "deposited"
    NOTIFIED = "notified"
    ACCEPTED = "accepted"
    HANDED_OVER = "handed_over"
    REFUSED = "refused"
    NEGLECTED = "neglected"
    UNDELIVERABLE = "undeliverable"

    @property
    def decided(self) -> bool:
        """True once the recipient's decision (or its absence) is final."""
        return self in DECIDED

    @property
    def released(self) -> bool:
        """True when the content may be shown to the recipient."""
        return self in (State.ACCEPTED, State.HANDED_OVER)


DECIDED = frozenset(
    {State.ACCEPTED, State.HANDED_OVER, State.REFUSED, State.NEGLECTED, State.UNDELIVERABLE}
)


@dataclass(frozen=True, kw_only=True)
class Letter:
    """One deposited message, as stored (without its encrypted bytes)."""

    id: str
    reference: str
    sender_account: str  # account id
    sender_address: str
    sender_name: str  # the account's registered name: who the gateway identified
    sender_declared_name: str | None = None  # the From: display name, when it differs
    sender_authentication: str
    sender_ip: str | None = None
    subject: str
    message_id: str | None
    message_size: int
    message_sha256: str
    attachments: tuple[Attachment, ...]
    deposited_at: datetime


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One recipient of a letter."""

    id: str
    letter_id: str
    recipient: str
    state: State
    deadline: datetime
    updated_at: datetime
    phone: str | None = None  # E.164 mobile number the sender gave, if any
    languages: tuple[str, ...] = ()  # the recipient's languages as the sender gave them, if any
    notified_at: datetime | None = None
    decided_at: datetime | None = None
    handed_over_at: datetime | None = None
    last_evidence_sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class LetterView:
    """What the recipient's page may show; content fields are set only once released."""

    reference: str
    recipient: str
    state: State
    deposited_at: datetime
    deadline: datetime
    decided_at: datetime | None
    sender_name: str | None  # None while the sender is not revealed
    sender_address: str | None
    subject: str | None
    sender_declared_name: str | None = None  # the From: display name, shown only as declared
    text: str | None = None  # the letter's text, only when released
    attachments: tuple[Attachment, ...] = ()  # only when released
    message_size: int = 0
    opened: bool = False  # released and asked by the content session that gave a code
