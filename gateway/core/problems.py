"""Why a proof did not verify: a reason code for anyone, beside the verifier's technical sentence.

Verifiers (gateway.evidence.verify, gateway.verification) say what went wrong with the details
(names, dates, the library's message): a `Message` (a catalogue key, verify.problem.*, and its
parameters) that gateway.evidence.report words in the reader's language, and its English wording
as the problem's own text, for the logs and the web's technical detail. Each problem also
carries one of the Reason codes, which the catalogue turns into a sentence for anyone
(verify.reason.<code>: "Le fichier a été modifié après avoir été scellé.").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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


@dataclass(frozen=True)
class Message:
    """A catalogue message and its parameters, not yet worded: a parameter may be a Message
    too (a role, "the seal"), worded in the same language; `n` counts (plural forms)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


class Problem(str):
    """One problem: the technical sentence (this str itself, English), its `reason` code and
    its `message`, to word it in another language (None: the sentence is all there is)."""

    reason: Reason
    message: Message | None

    def __new__(
        cls, text: str, reason: Reason = Reason.OTHER, message: Message | None = None
    ) -> Problem:
        problem = super().__new__(cls, text)
        problem.reason = reason
        problem.message = message
        return problem
