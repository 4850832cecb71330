"""Identifying the recipient before a decision: one-time codes, their limits, masking (pure).

A recipient proves to be the holder of the mobile number (or the mailbox) the sender named by
giving back a code the gateway sent there. The limits below bound guessing: a 6-digit code has a
one-in-a-million chance per try, at most 5 tries per code and 3 codes per hour per delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

Channel = Literal["sms", "email"]

CODE_DIGITS: Final = 6
CODE_VALIDITY: Final = timedelta(minutes=10)
MAX_TRIES: Final = 5  # wrong tries per code; the code is dead after that
MAX_CODES: Final = 3  # codes per delivery per CODE_WINDOW
CODE_WINDOW: Final = timedelta(hours=1)


def channel_for(mode: str, phone: str | None, *, sms_enabled: bool) -> Channel | None:
    """Where the code goes for this verification mode, or None when no code is asked.

    sms_or_email: SMS when a phone is known (and SMS can be sent), else email; email: always
    email; sms_required: always SMS (deposit refuses recipients without a phone); none: no code.
    """
    if mode == "none":
        return None
    if mode == "email":
        return "email"
    if mode == "sms_required":
        return "sms"
    return "sms" if phone and sms_enabled else "email"


def next_code_allowed(created: list[datetime], now: datetime) -> datetime | None:
    """None when a new code may be sent now, else the time from which one may be."""
    recent = sorted(at for at in created if now - at < CODE_WINDOW)
    if len(recent) < MAX_CODES:
        return None
    return recent[-MAX_CODES] + CODE_WINDOW


def is_code(text: str) -> bool:
    return len(text) == CODE_DIGITS and text.isascii() and text.isdigit()


def normalise_code(text: str) -> str:
    """What people type: spaces and dashes inside the code are ignored, and digits of another
    script are read as the digits they are (a phone's Arabic keyboard types ١٢٣ for 123)."""
    return "".join(
        str(int(ch)) if ch.isdecimal() and not ch.isascii() else ch
        for ch in text
        if ch not in " -\u00a0\t"
    )


def mask_phone(phone: str) -> str:
    """+212612345678 → +212 6•• ••• •78: enough for the recipient to recognise their number."""
    if len(phone) < 8:
        return "•" * len(phone)
    head, tail = phone[:5], phone[-2:]
    return f"{head[:-1]} {head[-1]}{'•' * (len(phone) - 7)}{tail}"


def mask_email(address: str) -> str:
    """bob.martin@example.ma → b•••••••n@example.ma."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "•" * len(address)
    if len(local) <= 2:
        return f"{local[:1]}•@{domain}"
    return f"{local[0]}{'•' * (len(local) - 2)}{local[-1]}@{domain}"


def mask(channel: Channel, destination: str) -> str:
    return mask_phone(destination) if channel == "sms" else mask_email(destination)


@dataclass(frozen=True)
class Identification:
    """How the recipient was identified before a decision; written into its evidence."""

    channel: Channel
    masked_destination: str
    checked_at: datetime  # aware UTC: when the right code was given

    def describe(self) -> str:
        where = "SMS to the mobile number" if self.channel == "sms" else "email to the address"
        return (
            f"one-time code sent by {where} {self.masked_destination}, "
            f"given back on the recipient's page at {_utc(self.checked_at)}"
        )

    def extensions(self) -> tuple[tuple[str, str], ...]:
        return (
            ("RecipientIdentification.Channel", self.channel),
            ("RecipientIdentification.Destination", self.masked_destination),
            ("RecipientIdentification.CodeCheckTime", _utc(self.checked_at)),
        )


def _utc(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")
