"""The gateway's policies, one function each, called from every place that needs them (pure).

- Whether the recipient may be told who sent a letter (and its subject, which would tell).
- Where the recipient's personal link points.
- Which proofs state the acceptance deadline.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from gateway.core.evidence import EvidenceType as E

REVEAL_IN_NOTIFICATION: Final = "in_notification"  # letters.reveal_sender's other value
# is "after_acceptance", the default: the sender is named once the content is released.

LETTER_PREFIX: Final = "/l/"  # the recipient's pages live under it, one per delivery

# The deposit proof announces the deadline and the proof of negligence states the one that
# passed: there the deadline is the point of the proof.
DEADLINE_PROOFS: Final = frozenset({E.SubmissionAcceptance, E.AcceptanceRejectionExpiry})
# The PDF certificate also shows it on the decisions, so that one page proves the decision was
# taken in time; the proof mail's summary leaves it out there.
DEADLINE_CERTIFICATES: Final = DEADLINE_PROOFS | {E.ConsignmentAcceptance, E.ConsignmentRejection}


def sender_revealed(reveal_sender: str, *, released: bool = False) -> bool:
    """Whether the recipient may see the sender's name, address and the letter's subject.

    `reveal_sender` is the setting letters.reveal_sender: "in_notification" names the sender
    from the first notice on; otherwise only once the content is released (`released`: the
    letter was accepted). Notices (mail, SMS) are sent before any decision: they pass no state.
    """
    return reveal_sender == REVEAL_IN_NOTIFICATION or released


def letter_path(token: str, root: str = "") -> str:
    """The path of the recipient's page for `token`, under the site's path prefix `root`."""
    return f"{root}{LETTER_PREFIX}{quote(token, safe='')}"


def letter_url(public_url: str, token: str) -> str:
    """The recipient's personal link, as notification mails and SMS carry it."""
    return public_url.rstrip("/") + letter_path(token)


def shows_deadline(event: E, *, certificate: bool = False) -> bool:
    """Whether the proof of `event` states the acceptance deadline (mail, or PDF certificate)."""
    return event in (DEADLINE_CERTIFICATES if certificate else DEADLINE_PROOFS)
