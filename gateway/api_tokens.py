"""API tokens (pure): 256 random bits, shown once, kept only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from gateway.display import neutralise

PREFIX: Final = "lre_"
SHOWN: Final = 12  # characters kept in clear to recognise a token in a list (lre_ + 8)
MAX_LABEL: Final = 200  # characters of a token's label (api_tokens.label)


@dataclass(frozen=True)
class NewToken:
    token: str  # what the sender puts in `Authorization: Bearer ...`; never stored
    prefix: str
    hash: str


def new_token() -> NewToken:
    token = PREFIX + secrets.token_urlsafe(32)  # 256 bits
    return NewToken(token, token[:SHOWN], hash_token(token))


def token_label(text: str, default: str) -> str:
    """A token's label as a person gave it, as it is kept and shown: without control, bidi or
    invisible characters (a NUL, which PostgreSQL refuses in text, or a right-to-left override
    turning the list around), trimmed, at most MAX_LABEL characters; `default` when empty."""
    return neutralise(text).strip()[:MAX_LABEL] or default


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(PREFIX) or len(value) > 200:
        return None
    return value
