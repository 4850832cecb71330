"""API tokens (pure): 256 random bits, shown once, kept only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "lre_"
SHOWN: Final = 12  # characters kept in clear to recognise a token in a list (lre_ + 8)


@dataclass(frozen=True)
class NewToken:
    token: str  # what the sender puts in `Authorization: Bearer ...`; never stored
    prefix: str
    hash: str


def new_token() -> NewToken:
    token = PREFIX + secrets.token_urlsafe(32)  # 256 bits
    return NewToken(token, token[:SHOWN], hash_token(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value.startswith(PREFIX) or len(value) > 200:
        return None
    return value
