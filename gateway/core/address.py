"""Email addresses as the gateway compares and accepts them (pure)."""

from __future__ import annotations

import re
from typing import Final

# A domain as RFC 5321 §4.1.2 allows it (LDH labels, A-labels for IDNs) or an address literal.
_DOMAIN: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"|\[[^\[\]\\\s]+\]"
)
# RFC 5321 §4.1.2: neither an atom nor a quoted string holds a control character
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def same_address(left: str, right: str) -> bool:
    """Whether two addresses name the same mailbox (compared without case, as senders write)."""
    return left.casefold() == right.casefold()


def is_mailbox(address: str) -> bool:
    """local@domain with a non-empty local part without control characters, and a domain RFC
    5321 allows."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and not _CONTROL.search(local) and _DOMAIN.fullmatch(domain))
