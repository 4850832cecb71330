"""Names from a sender shown to people: no control, bidi or invisible formatting characters.

A right-to-left override inside a file name (`invoice\u202efdp.exe`) makes a program look like
a PDF; such characters are removed wherever the gateway shows or offers a name.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Unicode categories removed: controls (Cc), formats (Cf: bidi embeddings, overrides and
# isolates, marks, zero-width characters, ...), line and paragraph separators (Zl, Zp).
_REMOVED: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def neutralise(text: str) -> str:
    """text without control, bidi-control or invisible formatting characters (NFC)."""
    return "".join(
        c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c) not in _REMOVED
    )
