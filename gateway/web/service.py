"""What the web front needs from the rest of the gateway: injected, implemented in app wiring."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.core.evidence import Attachment
from gateway.core.letter import LetterView
from gateway.identity import CodeStatus


class RecipientService(Protocol):
    async def open(self, token: str) -> LetterView:  # raises UnknownLink
        ...

    async def accept(self, token: str, code: str | None = None) -> LetterView:
        """Raises UnknownLink, AlreadyDecided, DeadlineExpired, IdentityError (the code step)."""
        ...

    async def refuse(self, token: str, code: str | None = None) -> LetterView:  # same
        ...

    async def code_status(self, token: str) -> CodeStatus:
        """Whether a one-time code is asked, where it goes, and the usable one if any."""
        ...

    async def send_code(self, token: str, language: str) -> None:
        """Send a new one-time code; raises TooManyTries past the hourly limit."""
        ...

    async def original(self, token: str) -> bytes:
        """Exact .eml bytes; raises UnknownLink, NotReleased; records ContentHandover itself."""
        ...

    async def attachment(self, token: str, index: int) -> tuple[Attachment, bytes]:
        """Raises UnknownLink, NotReleased, KeyError/IndexError for a bad index."""
        ...


class OutboxView(Protocol):
    """Only in delivery.mode = outbox."""

    def list(self) -> list[Any]:
        """Entries with .name, .to, .subject, .date, .size (smtp_out.transport.OutboxEntry)."""
        ...

    def read(self, name: str) -> bytes:  # KeyError if unknown
        ...


class SmsOutboxView(Protocol):
    """Only with sms.provider = outbox."""

    def list(self) -> list[Any]:
        """Entries with .name, .to, .text, .date (sms.providers.SmsEntry), newest first."""
        ...
