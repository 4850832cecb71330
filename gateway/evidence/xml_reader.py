"""Strict, namespace-aware reading of evidence.xml elements, shared by both shapes (pure)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

SHA256_URI: Final = "http://www.w3.org/2001/04/xmlenc#sha256"


class Reader:
    """Access to the children of one element in the namespace `ns`; missing parts are errors.

    `encoding` names the attribute that marks a base64-encoded text (strings XML cannot carry).
    """

    def __init__(self, element: ET.Element | None, ns: str, encoding: str = "encoding") -> None:
        self._element = element
        self._ns = ns
        self._encoding = encoding

    @property
    def element(self) -> ET.Element | None:
        return self._element

    @property
    def tag(self) -> str:
        return "" if self._element is None else self._element.tag

    def _find(self, name: str) -> ET.Element | None:
        if self._element is None:
            return None
        return self._element.find(self._qualify(name))

    def _qualify(self, name: str) -> str:
        return name if name.startswith("{") else f"{{{self._ns}}}{name}"

    def child(self, name: str, ns: str | None = None) -> Reader:
        element = self._find(name)
        if element is None:
            raise ValueError(f"missing element {name}")
        return Reader(element, ns or self._ns, self._encoding)

    def optional_child(self, name: str, ns: str | None = None) -> Reader:
        return Reader(self._find(name), ns or self._ns, self._encoding)

    def children(self, name: str) -> Iterator[Reader]:
        if self._element is not None:
            for element in self._element.findall(self._qualify(name)):
                yield Reader(element, self._ns, self._encoding)

    def text(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ValueError(f"missing element {name}")
        return value

    def optional(self, name: str) -> str | None:
        element = self._find(name)
        return None if element is None else self.decode(element)

    def decode(self, element: ET.Element) -> str:
        """The text of `element`, base64-decoded when it is marked so."""
        text = element.text or ""
        if element.get(self._encoding) == "base64":
            return base64.b64decode(text, validate=True).decode("utf-8", "surrogatepass")
        return text

    def own_text(self) -> str:
        if self._element is None:
            raise ValueError("missing element")
        return self.decode(self._element)

    def digest(self, name: str) -> str:
        value = self.optional_digest(name)
        if value is None:
            raise ValueError(f"missing element {name}")
        return value

    def optional_digest(self, name: str) -> str | None:
        """A hex SHA-256 digest element with an Algorithm attribute."""
        element = self._find(name)
        if element is None:
            return None
        if element.get("Algorithm") != SHA256_URI:
            raise ValueError(f"{name} is not a SHA-256 digest")
        return element.text or ""


def parse_time(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not UTC ('Z')")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
