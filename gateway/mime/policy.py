"""The email package's policies as the gateway uses them, without their per-field costs.

`HeaderRegistry.__getitem__` builds a new class with `type()` for every header field set or
read (~20-40 µs; the class depends on the field's name only), and `policy.default` parses a
field again each time it is read (a letter's From: ~70 µs, once by the letter's reading, once
by the phone numbers' …). `HeaderClasses` makes each class once; `ParsedFields` also keeps the
parsed fields of the last values read (a sender's From: is the same in every letter).
"""

from __future__ import annotations

from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from typing import Final

__all__ = ["READING", "HeaderClasses", "ParsedFields"]


class HeaderClasses(HeaderRegistry):
    """The stdlib's header registry, making each header's class once per field name."""

    MAX_NAMES: Final = 256  # never let the names of a received mail grow the memo

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = super().__getitem__(name)
            if len(self._made) < self.MAX_NAMES:
                self._made[key] = made
        return made


class ParsedFields(HeaderClasses):
    """`HeaderClasses` that also remembers the parsed field of each (name, value) read lately.

    A parsed field is immutable (a str with read-only attributes: its addresses, parse tree
    and defects), so the same one serves every message that holds that value."""

    MAX_FIELDS: Final = 512

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = super().__call__(name, value)
            if len(self._parsed) >= self.MAX_FIELDS:
                self._parsed.clear()
            self._parsed[key] = parsed
        return parsed


# what a received message is read with: policy.default, its fields parsed once per value
READING: Final = policy.default.clone(header_factory=ParsedFields())
