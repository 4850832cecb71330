"""What the web front needs from the rest of the gateway: injected, implemented in app wiring."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.core.evidence import Attachment
from gateway.core.letter import LetterView
from gateway.services.identity import CodeStatus


class RecipientService(Protocol):
    async def open(self, token: str, session: str | None = None) -> LetterView:
        """Raises UnknownLink; the content only when session is the letter's live session."""
        ...

    async def accept(self, token: str, code: str | None = None) -> LetterView:
        """Raises UnknownLink, AlreadyDecided, DeadlineExpired, IdentityError (the code step)."""
        ...

    async def accept_opening(self, token: str, code: str | None = None) -> str:
        """Accept (as accept) and open a content session; returns the session token."""
        ...

    async def refuse(self, token: str, code: str | None = None) -> LetterView:  # same
        ...

    async def open_with_code(self, token: str, code: str | None = None) -> str:
        """A content session for an accepted letter, given a new code; no decision is made.

        Raises UnknownLink, NotReleased, IdentityError.
        """
        ...

    async def code_status(self, token: str) -> CodeStatus:
        """Whether a one-time code is asked, where it goes, and the usable one if any."""
        ...

    async def send_code(self, token: str, language: str) -> None:
        """Send a new one-time code; raises TooManyTries past the hourly limit."""
        ...

    async def original(self, token: str, session: str | None = None) -> bytes:
        """Exact .eml bytes to a live session; raises UnknownLink, NotReleased, SessionRequired.

        Records the release (and the first time ContentHandover) itself.
        """
        ...

    async def attachment(
        self, token: str, index: int, session: str | None = None
    ) -> tuple[Attachment, bytes]:
        """As original; KeyError/IndexError for a bad index."""
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
