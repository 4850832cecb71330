"""A verifier's problem sentence → the catalogue key (verify.reason.*) that explains it to anyone.

The sentences come from gateway.evidence.verify and this package (plain English, with details);
the web shows the translated explanation and the sentence itself as the technical detail.
"""

from __future__ import annotations

from typing import Final

# first match wins: the order matters ("damaged" seals mention the timestamp, too)
_PATTERNS: Final = (
    ("not signed", "unsigned"),
    ("not a proof", "unknown_file"),
    ("not found", "missing"),
    ("modified", "modified"),
    ("altered", "modified"),
    ("signature is invalid", "modified"),
    ("made with another certificate", "modified"),
    ("damaged", "damaged"),
    ("cannot be read", "damaged"),
    ("not a readable", "damaged"),
    ("not valid at", "expired"),
    ("revoked", "untrusted"),
    ("trusted", "untrusted"),
    ("no certification authority", "untrusted"),
    ("timestamp", "timestamp"),
)
REASONS: Final = (*dict.fromkeys(code for _, code in _PATTERNS), "other")


def reason_key(problem: str) -> str:
    """verify.reason.<code> for one problem sentence."""
    lowered = problem.lower()
    code = next((code for pattern, code in _PATTERNS if pattern in lowered), "other")
    return f"verify.reason.{code}"
