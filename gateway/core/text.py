"""Text from outside (pure): what no name, address, reference or search may hold."""

from __future__ import annotations

import re
from typing import Final

# C0 controls and DEL: no address (RFC 5321 §4.1.2), reference or search term holds one, and
# PostgreSQL refuses a NUL in text (an error, not a row not found)
CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


# RFC 5322 §3.2.3: a dot-atom (a plain address's local part), as a regular expression
ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
DOT_ATOM: Final = rf"{ATEXT}(?:\.{ATEXT})*"


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None
