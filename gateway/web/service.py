"""What the web front needs from the rest of the gateway: injected, implemented in app wiring."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.core.evidence import Attachment
from gateway.core.letter import LetterView


class RecipientService(Protocol):
    async def open(self, token: str) -> LetterView:  # raises UnknownLink
        ...

    async def accept(
        self, token: str
    ) -> LetterView:  # raises UnknownLink, AlreadyDecided, DeadlineExpired
        ...

    async def refuse(self, token: str) -> LetterView:  # same
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
