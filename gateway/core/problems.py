"""Why a proof did not verify: a reason code for anyone, beside the verifier's technical sentence.

Verifiers (gateway.evidence.verify, gateway.verification) say what went wrong in plain English
with the details (names, dates, the library's message) for the command line and the logs; each
problem also carries one of the Reason codes, which the catalogue turns into a sentence in the
reader's language (verify.reason.<code>: "Le fichier a été modifié après avoir été scellé.").
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """What a problem means to someone holding the proof."""

    UNSIGNED = "unsigned"  # the file carries no seal or signature
    UNKNOWN_FILE = "unknown_file"  # not a proof this gateway issues
    MISSING = "missing"  # a part of the proof (the .p7s, the XML) was not given
    MODIFIED = "modified"  # changed after sealing
    DAMAGED = "damaged"  # unreadable
    EXPIRED = "expired"  # a certificate was not valid at the time that matters
    UNTRUSTED = "untrusted"  # not sealed under this provider's trust anchors
    TIMESTAMP = "timestamp"  # the timestamp is missing or wrong
    OTHER = "other"


class Problem(str):
    """One problem: the technical sentence (this str itself) and its `reason` code."""

    reason: Reason

    def __new__(cls, text: str, reason: Reason = Reason.OTHER) -> Problem:
        problem = super().__new__(cls, text)
        problem.reason = reason
        return problem

    def about(self, text: str) -> Problem:
        """The same reason said with another sentence ("the embedded evidence.xml: …")."""
        return Problem(text, self.reason)
