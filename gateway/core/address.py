"""Email addresses as the gateway compares and accepts them (pure)."""

from __future__ import annotations

import re
from typing import Final

from gateway.core.text import has_control

# A domain as RFC 5321 §4.1.2 allows it (LDH labels, A-labels for IDNs) or an address literal.
_DOMAIN: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"|\[[^\[\]\\\s]+\]"
)


def same_address(left: str, right: str) -> bool:
    """Whether two addresses name the same mailbox (compared without case, as senders write)."""
    return left.casefold() == right.casefold()


def is_mailbox(address: str) -> bool:
    """local@domain with a non-empty local part without control characters, and a domain RFC
    5321 allows."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and not has_control(local) and _DOMAIN.fullmatch(domain))
