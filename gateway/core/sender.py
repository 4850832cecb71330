"""Who sent a letter: the name the gateway identified, and the name the sender merely declared.

The identified sender is the account the gateway authenticated (SMTP AUTH, or an MX-address
deposit whose From: is a registered sender), named as the operator registered it with
`lre-gateway sender add --name`. The display name of the message's From: is the sender's own
statement: proofs may repeat it as such, never as the identified sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_NAME: Final = 200  # characters, as the letters.sender_declared_name column holds


@dataclass(frozen=True)
class Account:
    """A sender account: the only party that may deposit letters from its address."""

    id: str
    email: str
    name: str
    disabled: bool = False  # set by the operator: `lre-gateway sender disable`


def declared_name(display: str | None, registered: str) -> str | None:
    """The From: display name when it says something other than the registered name, else None.

    Runs of white space count as one space and case is ignored in the comparison.
    """
    declared = " ".join((display or "").split())[:MAX_NAME].strip()
    if not declared or declared.casefold() == " ".join(registered.split()).casefold():
        return None
    return declared
